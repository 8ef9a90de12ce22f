"""The province's approved key-area designations for 2025, as historical records (origin 'historical', not
made by sitmap's rules): as many communes "key and complex" for security and order, drug key areas and
"safe" as the reports say (dienbien.yaml police.key_areas: 15, 32 and 90 % of the 45 units).

The reports give the numbers, not the communes, so which communes hold each designation is generated: a
deterministic ranking of the generated incidents of the months before the decision, stated in ``basis``
with the statistics it saw. The figures must be met exactly, and some key-and-complex communes must be among
the safe ones (as in the province, where a commune can be both); a data file whose numbers cannot be met
stops the load.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from data import vocab
from data.demo.gen_util import as_date

COMMUNE_KINDS = vocab.kinds_sql("u.kind", vocab.COMMUNE_LEVEL_KINDS)
SOURCE = ("the province's reports of 2025 (data/demo/dienbien.yaml police.key_areas): {kc} of the {n} communes "
          "key and complex for security and order, {drug} drug key areas, {share:.0%} of localities meeting the "
          "safe standard")
DECISION = ("The province's 2025 decision as reported ({kc} key and complex, {drug} drug key areas, {safe} safe of "
            "{n}); the communes named are generated: the report does not list them")


def reported_counts(kc: dict, units: int) -> dict[str, int]:
    """How many communes hold each designation by the reports; refuses numbers the units cannot meet."""
    counts = {"key_complex": int(kc["key_complex_communes"]), "drug_key": int(kc["drug_key_areas"]),
              "safe_standard": math.ceil(float(kc["safe_share"]) * units)}
    for kind, n in counts.items():
        if not 0 < n <= units:
            raise ValueError(f"police.key_areas asks for {n} {kind} communes of {units}: the demo cannot meet it")
    return counts


def load_key_areas(conn: psycopg.Connection, cfg: dict, until: datetime) -> dict[str, int]:
    kc = cfg["police"]["key_areas"]
    tz = ZoneInfo(cfg.get("province", {}).get("timezone", "Asia/Ho_Chi_Minh"))
    decided: date = min(as_date(kc["decided"]), until.astimezone(tz).date())
    to = datetime.combine(decided, time(0, 0), tz)
    since = to - timedelta(days=round(30.44 * int(kc["basis_months"])))
    stats = conn.execute(
        f"""
        SELECT u.id, u.code, u.name, COALESCE(u.population, 0),
               count(i.id) FILTER (WHERE i.category = ANY(%(key)s)),
               count(i.id) FILTER (WHERE i.category = 'drugs'),
               count(i.id)
          FROM admin_unit u LEFT JOIN incident i ON i.unit_id = u.id AND i.occurred_at >= %(since)s
                                                  AND i.occurred_at < %(to)s
         WHERE u.era = '2025' AND {COMMUNE_KINDS}
         GROUP BY u.id ORDER BY u.code
        """, {"key": list(kc["key_complex_categories"]), "since": since, "to": to}).fetchall()  # noqa: S608 (vocabulary constants)
    counts = reported_counts(kc, len(stats))
    window = [since.date().isoformat(), decided.isoformat()]

    def rate(n: int, pop: int) -> float:
        return round(1000.0 * n / pop, 3) if pop else 0.0

    # The ranking that picks the generated communes: a stand-in for the province's unpublished list.
    choices = {
        "key_complex": (sorted(stats, key=lambda s: (-rate(s[4], s[3]), s[1])),
                        "the communes with the most incidents of the key categories per 1,000 people", 4),
        "drug_key": (sorted(stats, key=lambda s: (-s[5], -rate(s[5], s[3]), s[1])),
                     "the communes with the most drug incidents", 5),
        "safe_standard": (sorted(stats, key=lambda s: (rate(s[6], s[3]), s[1])),
                          "the communes with the fewest incidents of any kind per 1,000 people", 6),
    }
    chosen = {kind: ranked[:counts[kind]] for kind, (ranked, _, _) in choices.items()}
    both = {s[0] for s in chosen["key_complex"]} & {s[0] for s in chosen["safe_standard"]}
    if not both:
        raise ValueError(f"police.key_areas: none of the {counts['key_complex']} key-and-complex communes is among "
                         f"the {counts['safe_standard']} safe ones; the reports have some communes that are both")
    figures = {"n": len(stats), "kc": counts["key_complex"], "drug": counts["drug_key"],
               "safe": counts["safe_standard"], "share": float(kc["safe_share"])}
    reported = {"key_complex_communes": counts["key_complex"], "drug_key_areas": counts["drug_key"],
                "safe_share": float(kc["safe_share"]), "safe_standard_communes": counts["safe_standard"],
                "of_units": len(stats), "decided": decided.isoformat()}
    decided_at = datetime.combine(decided, time(9, 0), tz)
    for kind, (_, choice, col) in choices.items():
        n = counts[kind]
        for rank, s in enumerate(chosen[kind], start=1):
            basis = {"rule": f"not a sitmap rule: the province's 2025 decision as reported ({n} of {len(stats)} "
                             f"{kind}); the communes are generated, picked as the top {n} by {choice} in the "
                             f"{kc['basis_months']} months before the decision",
                     "source": SOURCE.format(**figures), "reported": reported, "communes_generated": True,
                     "incidents_generated": True, "window": window, "rank": rank, "incidents": s[col],
                     "population": s[3], "rate_per_1000": rate(s[col], s[3]), "of_units": len(stats)}
            if kind == "key_complex":
                basis["categories"] = list(kc["key_complex_categories"])
            conn.execute(
                "INSERT INTO designation (kind, unit_id, status, origin, basis, valid_from, decided_at, "
                "decision_reason, note, is_generated, geom) SELECT %s, id, 'approved', 'historical', %s::jsonb, %s, "
                "%s, %s, %s, true, ST_Multi(geom) FROM admin_unit WHERE id = %s",
                [kind, json.dumps(basis, ensure_ascii=False), decided, decided_at, DECISION.format(**figures), s[2],
                 s[0]])
    return {f"designations_{kind}": len(rows) for kind, rows in chosen.items()} | {
        "designations_key_complex_and_safe": len(both)}
