"""How a designation's ``basis`` (jsonb: the statistics a rule or a planner saw) is read for people: one
normalised form for the API and the map's commune popup (``normalise``) and one short summary for the
key-areas layer (``summary_sql``), both from the keys declared here.

The keys read, in the order they are looked for (a basis may hold any subset; unknown keys are kept out of
the statistics only when they are not numbers):

- ``rule_text`` or a text ``rule`` or ``description``: what the rule says, in words (``rule_text_vi`` in
  Vietnamese beside it);
- ``window`` or ``period``: ``[from, to]`` or ``{"from"|"start", "to"|"end"}`` (ISO dates);
- ``hotspot_run_id`` (or ``hotspot_run``: an id or ``{"id": ...}``), null when no hot-spot run existed;
- ``incidents_generated``: whether the incidents counted were generated (the demo's are);
- statistics, either ``criteria`` (or ``checks``): a list of ``{name|statistic, value, threshold, op,
  met|passed, quantile, reason}`` (data/ops/designation_rules.py writes these, with ``definitions`` of each
  statistic in words),
  or ``values: {name: number}`` beside ``thresholds: {name: number | {"op", "value"}}``, or else every
  top-level number or boolean of the basis (the demo's historical rows: incidents, population, rank, ...).

Floor 2 (geo): imports nothing of sitmap; layers (the key-areas summary) and data.ops (the workflow) read it.
"""

from __future__ import annotations

from typing import Any

TEXT_KEYS = ("rule_text", "rule", "description")
WINDOW_KEYS = ("window", "period")
RUN_KEYS = ("hotspot_run_id", "hotspot_run")
LIST_KEYS = ("criteria", "checks")
# Keys that are never statistics themselves.
RESERVED = frozenset({*TEXT_KEYS, *WINDOW_KEYS, *RUN_KEYS, *LIST_KEYS, "values", "thresholds",
                      "incidents_generated", "notes", "note", "categories", "rule_text_vi", "definitions"})


def _window(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, list | tuple) and len(raw) == 2:
        return {"from": raw[0], "to": raw[1]}
    if isinstance(raw, dict):
        start, end = raw.get("from", raw.get("start")), raw.get("to", raw.get("end"))
        if start is not None or end is not None:
            return {"from": start, "to": end}
    return None


def _threshold(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, dict):
        return raw.get("value", raw.get("threshold")), raw.get("op")
    return raw, None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def statistics(basis: dict[str, Any]) -> list[dict[str, Any]]:
    """The statistics of a basis as ``[{name, value, threshold, op, met}]`` (absent parts None)."""
    for key in LIST_KEYS:
        if isinstance(basis.get(key), list):
            out = []
            for c in basis[key]:
                if not isinstance(c, dict):
                    continue
                threshold, op = _threshold(c.get("threshold"))
                out.append({"name": str(c.get("name", c.get("statistic", "?"))), "value": c.get("value"),
                            "threshold": threshold, "op": c.get("op", op),
                            "met": c.get("met", c.get("passed")), "quantile": c.get("quantile"),
                            "reason": c.get("reason")})
            return out
    values = basis.get("values")
    thresholds = basis.get("thresholds") if isinstance(basis.get("thresholds"), dict) else {}
    if not isinstance(values, dict):
        values = {k: v for k, v in basis.items() if k not in RESERVED and (_number(v) or isinstance(v, bool))}
    out = []
    for name in sorted(values):
        threshold, op = _threshold(thresholds.get(name))
        out.append({"name": name, "value": values[name], "threshold": threshold, "op": op, "met": None,
                    "quantile": None, "reason": None})
    return out


def normalise(basis: dict[str, Any] | None) -> dict[str, Any]:
    """What the popup and the API show of a basis."""
    basis = basis if isinstance(basis, dict) else {}
    text = next((basis[k] for k in TEXT_KEYS if isinstance(basis.get(k), str)), None)
    window = next((w for w in (_window(basis.get(k)) for k in WINDOW_KEYS) if w), None)
    run_stated = any(k in basis for k in RUN_KEYS)
    run = next((basis[k] for k in RUN_KEYS if k in basis), None)
    if isinstance(run, dict):
        run = run.get("id")
    generated = basis.get("incidents_generated")
    notes = basis.get("notes", basis.get("note"))
    definitions = basis.get("definitions") if isinstance(basis.get("definitions"), dict) else {}
    vi = basis.get("rule_text_vi")
    return {"rule_text": text, "rule_text_vi": vi if isinstance(vi, str) else None, "window": window,
            "hotspot_run_id": run, "hotspot_run_stated": run_stated,
            "incidents_generated": generated if isinstance(generated, bool) else None,
            "categories": basis.get("categories") if isinstance(basis.get("categories"), list) else None,
            "statistics": statistics(basis),
            "definitions": {k: v for k, v in definitions.items() if isinstance(v, str)},
            "notes": [notes] if isinstance(notes, str) else [n for n in notes or [] if isinstance(n, str)]}


def summary_sql(col: str = "basis") -> str:
    """SQL of a one-line summary of the basis column ``col`` (trusted name): the statistics with their
    thresholds, the window, the hot-spot run, whether the incidents were generated. NULL for an empty basis."""
    stats_list = f"""(SELECT string_agg(coalesce(c->>'name', c->>'statistic', '?') || ' '
                                 || coalesce(c->>'value', '?')
                                 || coalesce(' (' || coalesce(c->>'op', '') || ' ' || (c->>'threshold') || ')', '')
                                 || CASE coalesce(c->'met', c->'passed') WHEN 'true'::jsonb THEN ': met'
                                    WHEN 'false'::jsonb THEN ': not met' ELSE '' END,
                                 ', ')
                        FROM jsonb_array_elements(coalesce({col}->'criteria', {col}->'checks')) c
                       WHERE jsonb_typeof(c) = 'object')"""  # noqa: S608 (trusted column name)
    reserved = ", ".join(f"'{k}'" for k in sorted(RESERVED))
    stats_map = f"""(SELECT string_agg(e.key || ' ' || (e.value #>> '{{}}') || coalesce(
                                 ' (' || coalesce({col}->'thresholds'->e.key->>'op', '≥') || ' '
                                 || coalesce({col}->'thresholds'->e.key->>'value',
                                             {col}->'thresholds'->>e.key) || ')', ''), ', ' ORDER BY e.key)
                       FROM jsonb_each(CASE WHEN jsonb_typeof({col}->'values') = 'object' THEN {col}->'values'
                                            ELSE {col} END) e
                      WHERE jsonb_typeof(e.value) IN ('number', 'boolean')
                        AND (jsonb_typeof({col}->'values') = 'object' OR e.key NOT IN ({reserved})))"""  # noqa: S608
    window = f"""CASE WHEN jsonb_typeof({col}->'window') = 'array'
                      THEN 'window ' || ({col}->'window'->>0) || '–' || ({col}->'window'->>1)
                      WHEN jsonb_typeof({col}->'window') = 'object'
                      THEN 'window ' || coalesce({col}->'window'->>'from', {col}->'window'->>'start', '')
                           || '–' || coalesce({col}->'window'->>'to', {col}->'window'->>'end', '') END"""
    run = f"""CASE WHEN {col} ? 'hotspot_run_id' OR {col} ? 'hotspot_run' THEN
                   coalesce('hot-spot run ' || coalesce({col}->>'hotspot_run_id', {col}->'hotspot_run'->>'id',
                                                       CASE WHEN jsonb_typeof({col}->'hotspot_run') = 'number'
                                                            THEN {col}->>'hotspot_run' END),
                            'no hot-spot run') END"""
    generated = f"CASE WHEN {col}->'incidents_generated' = 'true'::jsonb THEN 'incidents generated' END"
    return (f"nullif(concat_ws('; ', CASE WHEN jsonb_typeof(coalesce({col}->'criteria', {col}->'checks')) = 'array' "
            f"THEN {stats_list} ELSE {stats_map} END, {window}, {run}, {generated}), '')")
