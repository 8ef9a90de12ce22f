"""Key-area designations of the demo (approved, generated): the reported numbers of "key and complex"
communes and drug key areas, and the share of "safe" localities, chosen by a stated rule from the
generated incidents of the preceding months. The rule and the statistics it saw go into ``basis``."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from data import vocab
from data.demo.gen_util import as_date

COMMUNE_KINDS = vocab.kinds_sql("u.kind", vocab.COMMUNE_LEVEL_KINDS)


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
    window = [since.date().isoformat(), decided.isoformat()]

    def rate(n: int, pop: int) -> float:
        return round(1000.0 * n / pop, 3) if pop else 0.0

    rules = [
        ("key_complex", int(kc["key_complex_communes"]),
         sorted(stats, key=lambda s: (-rate(s[4], s[3]), s[1])),
         "the communes with the most incidents of the key categories per 1,000 people", 4),
        ("drug_key", int(kc["drug_key_areas"]),
         sorted(stats, key=lambda s: (-s[5], -rate(s[5], s[3]), s[1])),
         "the communes with the most drug incidents", 5),
        ("safe_standard", math.ceil(float(kc["safe_share"]) * len(stats)),
         sorted(stats, key=lambda s: (rate(s[6], s[3]), s[1])),
         "the communes with the fewest incidents of any kind per 1,000 people", 6),
    ]
    decided_at = datetime.combine(decided, time(9, 0), tz)
    counts = {}
    for kind, n, ranked, rule, col in rules:
        for rank, s in enumerate(ranked[:n], start=1):
            basis = {"rule": f"top {n}: {rule} in the {kc['basis_months']} months before the decision",
                     "window": window, "rank": rank, "incidents": s[col], "population": s[3],
                     "rate_per_1000": rate(s[col], s[3]), "of_units": len(stats)}
            if kind == "key_complex":
                basis["categories"] = list(kc["key_complex_categories"])
            conn.execute(
                "INSERT INTO designation (kind, unit_id, status, basis, valid_from, decided_at, note, is_generated, "
                "geom) SELECT %s, id, 'approved', %s::jsonb, %s, %s, %s, true, ST_Multi(geom) FROM admin_unit "
                "WHERE id = %s", [kind, json.dumps(basis), decided, decided_at, s[2], s[0]])
        counts[f"designations_{kind}"] = min(n, len(ranked))
    return counts
