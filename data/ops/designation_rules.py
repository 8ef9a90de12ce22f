"""Key-area rules on the current data: the per-commune statistics the rules may name (computed here and
nowhere else), their evaluation (geo/designation), the proposals they write, and how those differ from the
approved historical designations.

The window is the ``window_months`` of the rule file before its end: the newest incident (or now, with no
incidents; or a given instant). Proposals are ``designation`` rows with status 'proposed' and origin 'rule',
one open proposal per commune, kind and rule (the partial unique index ux_designation_open_rule_proposal): a
re-run on unchanged data finds its proposal and writes nothing; on changed data it replaces the basis and
bumps the version. A proposal a commander already approved or rejected on the same statistics is not made
again. Each proposal written gets an audit row (action designation.propose, by "sitmap analyze").
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg

from data import vocab
from data.ops import audit
from geo.designation.evaluate import NOT_EVALUATED, PROPOSED, Difference, Outcome, compare, evaluate, plain, thresholds
from geo.designation.rules import RuleSet, Statistic, load_rules
from geo.travel.response import TZ

ACTOR = "sitmap analyze"
ACTION = "designation.propose"
HOT_CLASSES = ("hot_95", "hot_99")
assert set(HOT_CLASSES) <= set(vocab.codes(vocab.HOTSPOT_CLASSES))
_SEVERITIES = vocab.codes(vocab.INCIDENT_SEVERITIES)
SERIOUS_OR_WORSE = tuple(_SEVERITIES[_SEVERITIES.index("serious"):])
VERY_SERIOUS_OR_WORSE = tuple(_SEVERITIES[_SEVERITIES.index("very_serious"):])
# The run the drug hot-spot share reads: the latest Gi* run over hex cells for the drugs category alone.
HOTSPOT_RUN = {"analysis": "gi_star", "cells": "hex", "category": "drugs"}
NO_HOTSPOT_RUN = "no hot-spot run for drugs — run `sitmap analyze hotspots`"
COMMUNES = vocab.kinds_sql("u.kind", vocab.COMMUNE_LEVEL_KINDS)

STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("population", "residents (admin_unit.population)", "people",
              when_missing="the commune has no population figure"),
    Statistic("on_border", "the commune lies on the national border (admin_unit.border_countries not empty)",
              boolean=True),
    Statistic("incidents", "incidents of any category in the window", "incidents"),
    Statistic("drug_incidents", "incidents of category drugs in the window", "incidents"),
    Statistic("drug_incidents_per_1000", "drug incidents in the window per 1,000 residents", "per 1,000 residents",
              when_missing="the commune has no population figure", inputs=("drug_incidents", "population")),
    Statistic("serious_or_worse_incidents", f"incidents of severity {', '.join(SERIOUS_OR_WORSE)} in the window",
              "incidents"),
    Statistic("very_serious_or_worse_incidents",
              f"incidents of severity {', '.join(VERY_SERIOUS_OR_WORSE)} in the window", "incidents"),
    Statistic("hex_cells", "hex cells of the latest drug hot-spot run whose commune is this one", "cells",
              when_missing=NO_HOTSPOT_RUN),
    Statistic("drug_hotspot_cells", f"of those, the cells classed {' or '.join(HOT_CLASSES)}", "cells",
              when_missing=NO_HOTSPOT_RUN),
    Statistic("drug_hotspot_share", "drug_hotspot_cells / hex_cells", "share",
              when_missing="no hex cell of the hot-spot run lies in the commune",
              inputs=("hex_cells", "drug_hotspot_cells")),
    Statistic("patrol_points", "patrol points of the commune", "points"),
    Statistic("patrol_points_overdue",
              "patrol points not visited on time at the end of the window, by their schedules or visit interval "
              "(sitmap_patrol_due, the one definition of overdue, at the window's end instead of now)", "points",
              when_missing="the commune has no patrol point", inputs=("patrol_points",)),
)}
# The statistics read from the hot-spot run: a rule naming one records the run; the others do not, so a new
# hot-spot run leaves their proposals (and versions) alone.
HOTSPOT_STATISTICS = frozenset({"hex_cells", "drug_hotspot_cells", "drug_hotspot_share"})

STATS_SQL = f"""
WITH u AS (
  SELECT u.id, u.code, u.name, u.population, COALESCE(cardinality(u.border_countries), 0) > 0 AS on_border
    FROM admin_unit u WHERE u.era = '2025' AND {COMMUNES}
), i AS (
  SELECT unit_id, count(*) AS incidents, count(*) FILTER (WHERE category = 'drugs') AS drug_incidents,
         count(*) FILTER (WHERE severity = ANY(%(serious)s)) AS serious_or_worse_incidents,
         count(*) FILTER (WHERE severity = ANY(%(very_serious)s)) AS very_serious_or_worse_incidents
    FROM incident WHERE occurred_at >= %(start)s AND occurred_at <= %(end)s AND unit_id IS NOT NULL
   GROUP BY unit_id
), h AS (
  SELECT unit_id, count(*) AS hex_cells, count(*) FILTER (WHERE "class" = ANY(%(hot)s)) AS drug_hotspot_cells
    FROM hotspot_cell WHERE run_id = %(run)s AND unit_id IS NOT NULL GROUP BY unit_id
), p AS (
  -- Overdue is sitmap_patrol_due's (migration 0021: the point's schedules in force, named shifts or every N
  -- hours, else its visit interval), taken at the end of the window; a point is overdue if any rhythm is.
  SELECT d.unit_id, count(DISTINCT d.patrol_point_id) AS patrol_points,
         count(DISTINCT d.patrol_point_id) FILTER (WHERE d.overdue) AS patrol_points_overdue
    FROM sitmap_patrol_due(%(end)s) d
   GROUP BY d.unit_id
)
SELECT u.id AS unit_id, u.code, u.name, u.population, u.on_border,
       COALESCE(i.incidents, 0) AS incidents, COALESCE(i.drug_incidents, 0) AS drug_incidents,
       COALESCE(i.serious_or_worse_incidents, 0) AS serious_or_worse_incidents,
       COALESCE(i.very_serious_or_worse_incidents, 0) AS very_serious_or_worse_incidents,
       h.hex_cells, h.drug_hotspot_cells, COALESCE(p.patrol_points, 0) AS patrol_points, p.patrol_points_overdue
  FROM u LEFT JOIN i ON i.unit_id = u.id LEFT JOIN h ON h.unit_id = u.id LEFT JOIN p ON p.unit_id = u.id
 ORDER BY u.code
"""  # noqa: S608 (vocabulary constants only; values are bound)


@dataclass
class Evidence:
    """The per-commune statistics and what they were computed over."""

    frame: pd.DataFrame
    window_start: datetime
    window_end: datetime
    window_end_is: str  # "newest incident" | "now (no incidents)" | "given"
    months: int
    hotspot_run: dict[str, Any] | None
    missing: dict[str, str]
    incidents_in_window: int
    generated_in_window: int

    @property
    def incidents_generated(self) -> bool:
        return self.generated_in_window > 0

    def window_json(self) -> dict[str, Any]:
        return {"start": self.window_start.isoformat(), "end": self.window_end.isoformat(), "months": self.months,
                "end_is": self.window_end_is}


def gather(conn: psycopg.Connection, months: int, until: datetime | None = None) -> Evidence:
    """Every statistic of STATISTICS for every 2025 commune, over the ``months`` before the window's end."""
    if until is not None:
        end, end_is = until, "given"
    else:
        newest = conn.execute("SELECT max(occurred_at) FROM incident").fetchone()[0]
        end, end_is = (newest, "newest incident") if newest else (
            conn.execute("SELECT now()").fetchone()[0], "now (no incidents)")
    start = conn.execute("SELECT %s::timestamptz - make_interval(months => %s)", [end, months]).fetchone()[0]
    run = conn.execute(
        "SELECT id, created_at, period_start, period_end, incidents_generated, incident_count FROM hotspot_run "
        "WHERE analysis = %(analysis)s AND cells = %(cells)s AND category = %(category)s "
        "ORDER BY created_at DESC, id DESC LIMIT 1", HOTSPOT_RUN).fetchone()
    hotspot_run = None if run is None else dict(zip(
        ("id", "created_at", "period_start", "period_end", "incidents_generated", "incident_count"), run,
        strict=True))
    cur = conn.execute(STATS_SQL, {"serious": list(SERIOUS_OR_WORSE), "very_serious": list(VERY_SERIOUS_OR_WORSE),
                                   "start": start, "end": end, "hot": list(HOT_CLASSES),
                                   "run": hotspot_run["id"] if hotspot_run else None})
    frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    frame = frame.astype({"population": "float", "hex_cells": "float", "drug_hotspot_cells": "float",
                          "patrol_points_overdue": "float", "on_border": "bool"})
    pop = frame["population"].where(frame["population"] > 0)
    frame["drug_incidents_per_1000"] = 1000.0 * frame["drug_incidents"] / pop
    frame["drug_hotspot_share"] = frame["drug_hotspot_cells"] / frame["hex_cells"].where(frame["hex_cells"] > 0)
    missing: dict[str, str] = {}
    if hotspot_run is None:
        missing.update(dict.fromkeys(("hex_cells", "drug_hotspot_cells", "drug_hotspot_share"), NO_HOTSPOT_RUN))
    counted = conn.execute("SELECT count(*), count(*) FILTER (WHERE is_generated) FROM incident "
                           "WHERE occurred_at >= %s AND occurred_at <= %s", [start, end]).fetchone()
    unknown = set(frame.columns) - set(STATISTICS) - {"unit_id", "code", "name"}
    assert not unknown and set(STATISTICS) <= set(frame.columns), "STATISTICS and STATS_SQL disagree"
    return Evidence(frame, start, end, end_is, months, hotspot_run, missing, counted[0], counted[1])


GENERATED_NOTE = ("computed on generated incidents (the demo's), not a finding: the statistics, thresholds and "
                  "proposals show how the rules work, not where the province's problems are")


def basis(outcome: Outcome, ev: Evidence) -> dict[str, Any]:
    """Everything a proposal rests on, for a reader to check: the rule, each condition with its value,
    threshold and result, the statistics it named and those they are computed from, the window, the hot-spot
    run (for a rule on hot spots), whether the incidents are generated. Nothing else: a change elsewhere
    (another statistic, a hot-spot run a rule does not read) leaves the basis, and so the proposal, alone."""
    r = outcome.rule
    run = ev.hotspot_run
    named = sorted({c.statistic for c in r.conditions})
    shown = sorted({*named, *(i for n in named for i in STATISTICS[n].inputs)})
    hotspots = {} if HOTSPOT_STATISTICS.isdisjoint(shown) else {
        "hotspot_run_id": run["id"] if run else None,
        "hotspot_run": None if run is None else {k: plain(v.isoformat() if isinstance(v, datetime) else v)
                                                 for k, v in run.items()}}
    return {
        "rule": r.id, "kind": r.kind, "rule_text": r.text_en, "rule_text_vi": r.text_vi,
        "rule_definition": r.as_json(),
        # "criteria": the name geo/designation/basis.py (the popup, the key-areas layer) reads the conditions by.
        "criteria": [c.as_json() for c in outcome.conditions],
        "statistics": {n: outcome.values.get(n) for n in shown},
        "definitions": {n: STATISTICS[n].description for n in shown},
        "window": ev.window_json(),
        **hotspots,
        "incidents_generated": ev.incidents_generated,
        **({"note": GENERATED_NOTE} if ev.incidents_generated else {}),
    }


@dataclass
class DesignationReport:
    rules: RuleSet
    evidence: Evidence
    outcomes: list[Outcome]
    differences: list[Difference]
    summary: dict[str, dict[str, int]]
    as_of: str
    written: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    decided_already: list[dict[str, Any]] = field(default_factory=list)
    unsupported: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def per_rule(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for rule in self.rules.rules:
            c = Counter(o.status for o in self.outcomes if o.rule.id == rule.id)
            out[rule.id] = {s: c.get(s, 0) for s in (PROPOSED, "not_met", NOT_EVALUATED)}
        return out

    def as_json(self) -> dict[str, Any]:
        ev = self.evidence
        return {
            "rules_file": self.rules.source, "rules_sha256": self.rules.sha256, "communes": len(ev.frame),
            "window": ev.window_json(), "hotspot_run_id": ev.hotspot_run["id"] if ev.hotspot_run else None,
            "missing": ev.missing, "incidents_in_window": ev.incidents_in_window,
            "incidents_generated": ev.incidents_generated,
            **({"note": GENERATED_NOTE} if ev.incidents_generated else {}),
            "per_rule": self.per_rule(), "dry_run": self.dry_run,
            "written": self.written, "unchanged": self.unchanged, "decided_already": self.decided_already,
            "open_proposals_unsupported": self.unsupported,
            "proposals": [{"rule": o.rule.id, "kind": o.rule.kind, "unit_id": o.unit_id, "code": o.code,
                           "name": o.name, "conditions": [c.as_json() for c in o.conditions]}
                          for o in self.outcomes if o.status == PROPOSED],
            "statistics": [{k: plain(v) for k, v in row.items()} for row in ev.frame.to_dict("records")],
            "thresholds": {f"{rid}[{i}]": plain(t) for (rid, i), t in thresholds(ev.frame, self.rules).items()},
            "historical_in_force_on": self.as_of, "comparison": self.summary,
            "differences": [d.as_json() for d in self.differences],
        }

    def lines(self) -> list[str]:
        ev, out = self.evidence, []
        out.append(f"rules: {self.rules.source} ({len(self.rules.rules)} rules) on {len(ev.frame)} communes; window "
                   f"{ev.window_start:%Y-%m-%d %H:%M} to {ev.window_end:%Y-%m-%d %H:%M %Z} ({ev.months} months to the "
                   f"{ev.window_end_is}), {ev.incidents_in_window:,} incidents")
        run = ev.hotspot_run
        out.append(f"drug hot spots: hot-spot run {run['id']} ({run['created_at']:%Y-%m-%d %H:%M})" if run else
                   f"drug hot spots: {NO_HOTSPOT_RUN}; the conditions on them are not evaluated and no proposal is "
                   "made where they decide")
        for rid, c in self.per_rule().items():
            rule = next(r for r in self.rules.rules if r.id == rid)
            tail = ""
            if c[NOT_EVALUATED]:
                reasons = sorted({r.reason for o in self.outcomes if o.rule.id == rid and o.status == NOT_EVALUATED
                                  for r in o.conditions if r.passed is None})
                tail = f" (no proposal made: {'; '.join(reasons)})"
            out.append(f"rule {rid} ({rule.kind}): {c[PROPOSED]} proposed, {c['not_met']} not met, "
                       f"{c[NOT_EVALUATED]} not evaluated{tail}")
        created = sum(w["change"] == "created" for w in self.written)
        verb = "would write" if self.dry_run else "written"
        out.append(f"proposals {verb}: {created} new, {len(self.written) - created} with a changed basis (version "
                   f"bumped), {self.unchanged} unchanged, {len(self.decided_already)} already decided on the same "
                   "statistics")
        if self.unsupported:
            out.append(f"open rule proposals the rules no longer support ({len(self.unsupported)}; left for a "
                       "commander to reject): " + ", ".join(f"{u['code']} {u['kind']} ({u['rule']})"
                                                           for u in self.unsupported))
        out.append(f"compared with the approved historical designations in force on {self.as_of}:")
        for kind, s in self.summary.items():
            out.append(f"  {kind}: {s['designated']} designated, {s['proposed']} proposed by the rules, {s['both']} "
                       f"both, {s['designated_only']} designated only ({s['designated_not_evaluated']} of them not "
                       f"evaluated), {s['proposed_only']} proposed only")
        if self.differences:
            out.append("unit by unit:")
        last = None
        for d in self.differences:
            if d.unit_id != last:
                out.append(f"{d.code} {d.name}")
                last = d.unit_id
            held = "designated" if d.designated else "not designated"
            out.append(f"  {d.kind}: {held}, rules {d.verdict.replace('_', ' ')}")
            out.extend(f"    {r}" for r in d.reasons())
        if ev.incidents_generated:
            out.append(f"note: {GENERATED_NOTE}")
        return out


def historical(conn: psycopg.Connection, day) -> dict[str, set[int]]:
    """The approved historical designations in force on ``day``, by kind."""
    rows = conn.execute(
        "SELECT kind, array_agg(DISTINCT unit_id) FROM designation WHERE status = 'approved' AND origin = 'historical' "
        "AND unit_id IS NOT NULL AND (valid_from IS NULL OR valid_from <= %(d)s) "
        "AND (valid_to IS NULL OR valid_to >= %(d)s) GROUP BY kind", {"d": day}).fetchall()
    return {k: set(ids) for k, ids in rows}


class NoCommunes(LookupError):
    pass


def run(conn: psycopg.Connection, rules: RuleSet | None = None, *, until: datetime | None = None,
        dry_run: bool = False) -> DesignationReport:
    """Evaluate the rules on the current data, write the proposals (one transaction) unless ``dry_run``, and
    compare with the historical designations."""
    rules = rules or load_rules(STATISTICS)
    with conn.transaction():
        ev = gather(conn, rules.window_months, until)
        if ev.frame.empty:
            raise NoCommunes("the database has no 2025 communes: load them with `sitmap demo load` or "
                             "`sitmap import communes FILE`")
        outcomes = evaluate(ev.frame, rules, ev.missing)
        day = ev.window_end.astimezone(ZoneInfo(TZ)).date()
        diffs, summary = compare(outcomes, historical(conn, day), ev.frame[["unit_id", "code", "name"]])
        report = DesignationReport(rules, ev, outcomes, diffs, summary, day.isoformat(), dry_run=dry_run)
        _write(conn, report)  # in a dry run it only reads
    return report


def _write(conn: psycopg.Connection, report: DesignationReport) -> None:
    ev = report.evidence
    supported: set[tuple[int, str, str]] = set()
    for o in report.outcomes:
        if o.status != PROPOSED:
            continue
        supported.add((o.unit_id, o.rule.kind, o.rule.id))
        body = basis(o, ev)
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        key = {"u": o.unit_id, "k": o.rule.kind, "r": o.rule.id, "b": text}
        open_row = conn.execute(
            "SELECT id, version, basis = %(b)s::jsonb FROM designation WHERE status = 'proposed' AND unit_id = %(u)s "
            "AND kind = %(k)s AND rule = %(r)s FOR UPDATE", key).fetchone()
        entry = {"unit_id": o.unit_id, "code": o.code, "name": o.name, "kind": o.rule.kind, "rule": o.rule.id}
        if open_row is not None and open_row[2]:
            report.unchanged += 1
            continue
        if open_row is None:
            decided = conn.execute(
                "SELECT id, status FROM designation WHERE origin = 'rule' AND unit_id = %(u)s AND kind = %(k)s "
                "AND rule = %(r)s AND status IN ('approved', 'rejected') AND basis = %(b)s::jsonb "
                "ORDER BY updated_at DESC, id DESC LIMIT 1", key).fetchone()
            if decided is not None:
                report.decided_already.append({**entry, "id": decided[0], "status": decided[1]})
                continue
        if report.dry_run:
            report.written.append({**entry, "change": "created" if open_row is None else "updated"})
            continue
        if open_row is None:
            row = conn.execute(
                "INSERT INTO designation (kind, unit_id, status, origin, rule, basis, is_generated, note, geom) "
                "SELECT %(k)s, u.id, 'proposed', 'rule', %(r)s, %(b)s::jsonb, %(g)s, %(note)s, ST_Multi(u.geom) "
                "FROM admin_unit u WHERE u.id = %(u)s "
                "ON CONFLICT (unit_id, kind, rule) WHERE status = 'proposed' AND rule IS NOT NULL DO NOTHING "
                "RETURNING id, version", {**key, "g": ev.incidents_generated, "note": o.name}).fetchone()
            if row is None:  # a concurrent run wrote the same proposal first: it is that run's to report
                report.unchanged += 1
                continue
            change = "created"
        else:
            row = conn.execute(
                "UPDATE designation SET basis = %(b)s::jsonb, is_generated = %(g)s, version = version + 1, "
                "updated_at = now() WHERE id = %(id)s RETURNING id, version",
                {**key, "g": ev.incidents_generated, "id": open_row[0]}).fetchone()
            change = "updated"
        done = {**entry, "id": row[0], "version": row[1], "change": change}
        report.written.append(done)
        conn.execute(audit.INSERT_SQL, (None, ACTOR, ACTION, f"designation:{row[0]}", None, json.dumps(
            {"rule": o.rule.id, "kind": o.rule.kind, "unit": o.code, "change": change, "version": row[1],
             "incidents_generated": ev.incidents_generated}, ensure_ascii=False)))
    stale = conn.execute("SELECT d.id, d.unit_id, u.code, u.name, d.kind, d.rule FROM designation d "
                         "JOIN admin_unit u ON u.id = d.unit_id WHERE d.status = 'proposed' AND d.origin = 'rule' "
                         "ORDER BY u.code, d.kind, d.rule").fetchall()
    report.unsupported = [{"id": i, "unit_id": uid, "code": code, "name": name, "kind": kind, "rule": rule}
                          for i, uid, code, name, kind, rule in stale if (uid, kind, rule) not in supported]


def load(path: Path | str | None = None) -> RuleSet:
    """The rule file (default geo/designation/rules.yaml) checked against STATISTICS."""
    return load_rules(STATISTICS, path)
