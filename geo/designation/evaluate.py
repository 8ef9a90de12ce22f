"""Evaluate key-area rules on per-commune statistics, and compare the result with earlier designations.

Pure: a pandas frame in (one row per 2025 commune: ``unit_id``, ``code``, ``name`` and one column per
statistic), outcomes out, each with the value every condition saw, its threshold and whether it held. A
missing value (NaN/None) leaves its condition *not evaluated*, with the reason, and the rule then makes no
proposal unless another condition already fails. A quantile threshold is computed over the communes that have
a value, with linear interpolation (numpy's default), and compared with the rule's operator: ties at the
threshold are treated alike.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.designation.rules import Condition, Rule, RuleSet

PROPOSED, NOT_MET, NOT_EVALUATED = "proposed", "not_met", "not_evaluated"
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne}
_KEYS = ("unit_id", "code", "name")


def plain(value: Any, digits: int = 6) -> Any:
    """A JSON value: numpy scalars unwrapped, floats rounded, NaN as None."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = round(float(value), digits)
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    return value


@dataclass(frozen=True)
class ConditionResult:
    condition: Condition
    value: Any
    threshold: Any
    passed: bool | None  # None: not evaluated
    reason: str | None = None  # why it was not evaluated

    def as_json(self) -> dict[str, Any]:
        c = self.condition
        return {"statistic": c.statistic, "op": c.op, "value": plain(self.value), "threshold": plain(self.threshold),
                "quantile": None if c.quantile is None else str(c.quantile),
                "passed": self.passed, "evaluated": self.passed is not None, "reason": self.reason}

    def describe(self) -> str:
        """One line a reader can check: ``serious_or_worse_incidents = 43 >= 50: failed``."""
        c = self.condition
        if self.passed is None:
            return f"{c.statistic}: not evaluated: {self.reason}"
        q = f" (the {c.quantile} quantile)" if c.quantile is not None else ""
        return (f"{c.statistic} = {_show(self.value)} {c.op} {_show(self.threshold)}{q}: "
                f"{'passed' if self.passed else 'failed'}")


@dataclass(frozen=True)
class Outcome:
    """One rule on one commune: proposed (every condition held), not_met (one failed), not_evaluated."""

    rule: Rule
    unit_id: int
    code: str
    name: str
    status: str
    conditions: tuple[ConditionResult, ...]
    values: dict[str, Any] = field(default_factory=dict)  # every statistic of the commune

    def why(self) -> str:
        return "; ".join(r.describe() for r in self.conditions)


def thresholds(frame: pd.DataFrame, rules: RuleSet) -> dict[tuple[str, int], float | None]:
    """The computed threshold of every quantile condition, by (rule id, condition index); None when no commune
    has a value of the statistic."""
    out: dict[tuple[str, int], float | None] = {}
    for rule in rules.rules:
        for i, c in enumerate(rule.conditions):
            if c.quantile is not None:
                values = pd.to_numeric(frame[c.statistic], errors="coerce").dropna().to_numpy(float)
                out[(rule.id, i)] = float(np.quantile(values, float(c.quantile))) if len(values) else None
    return out


def evaluate(frame: pd.DataFrame, rules: RuleSet, missing: Mapping[str, str] | None = None) -> list[Outcome]:
    """Every rule on every row of ``frame``. ``missing`` gives, per statistic missing for every commune, the
    reason (e.g. no hot-spot run), shown instead of the statistic's per-commune ``when_missing``."""
    missing = missing or {}
    needed = {c.statistic for r in rules.rules for c in r.conditions}
    absent = sorted(needed - set(frame.columns)) + [k for k in _KEYS if k not in frame.columns]
    if absent:
        raise ValueError(f"the statistics frame lacks the column(s) {', '.join(absent)}")
    limits = thresholds(frame, rules)
    stat_columns = [c for c in frame.columns if c not in _KEYS]
    out: list[Outcome] = []
    for row in frame.to_dict("records"):
        values = {k: plain(row[k]) for k in stat_columns}
        for rule in rules.rules:
            results = tuple(_check(c, row[c.statistic], limits.get((rule.id, i)), rules, missing)
                            for i, c in enumerate(rule.conditions))
            passed = [r.passed for r in results]
            status = NOT_MET if False in passed else NOT_EVALUATED if None in passed else PROPOSED
            out.append(Outcome(rule, int(row["unit_id"]), str(row["code"]), str(row["name"]), status, results,
                               values))
    return out


def _check(c: Condition, value: Any, computed: float | None, rules: RuleSet,
           missing: Mapping[str, str]) -> ConditionResult:
    threshold = computed if c.quantile is not None else c.value
    if _is_missing(value):
        spec = rules.statistics.get(c.statistic)
        return ConditionResult(c, None, threshold, None,
                               missing.get(c.statistic) or (spec.when_missing if spec else "no value"))
    if threshold is None:
        return ConditionResult(c, value, None, None, missing.get(c.statistic) or "no commune has a value to rank")
    if isinstance(c.value, bool):
        value = bool(value)
    return ConditionResult(c, value, threshold, bool(_COMPARE[c.op](value, threshold)))


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value))


def _show(value: Any) -> str:
    v = plain(value, 3)
    return str(v).lower() if isinstance(v, bool) else f"{v:,}" if isinstance(v, int | float) else str(v)


# --- comparison with designations decided elsewhere (the province's historical ones) ------------------------

@dataclass(frozen=True)
class Difference:
    """A commune and kind where the rules and the earlier designations disagree (or the rules cannot say)."""

    unit_id: int
    code: str
    name: str
    kind: str
    designated: bool  # the earlier designation holds the commune for this kind
    verdict: str  # the rules of the kind on this commune: proposed | not_met | not_evaluated | no_rule
    outcomes: tuple[Outcome, ...]

    def reasons(self) -> list[str]:
        if not self.outcomes:
            return [f"no rule proposes {self.kind}"]
        return [f"{o.rule.id} {o.status.replace('_', ' ')}: {o.why()}" for o in self.outcomes]

    def as_json(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "code": self.code, "name": self.name, "kind": self.kind,
                "designated": self.designated, "rules": self.verdict, "reasons": self.reasons()}


def verdict(outcomes: Iterable[Outcome]) -> str:
    """What the rules of one kind say about one commune: any rule proposing wins, then any not evaluated."""
    statuses = {o.status for o in outcomes}
    if not statuses:
        return "no_rule"
    return PROPOSED if PROPOSED in statuses else NOT_EVALUATED if NOT_EVALUATED in statuses else NOT_MET


def compare(outcomes: Iterable[Outcome], designated: Mapping[str, set[int]], units: pd.DataFrame
            ) -> tuple[list[Difference], dict[str, dict[str, int]]]:
    """Where the rules' verdict differs from ``designated`` (kind -> unit ids), unit by unit, and per kind the
    counts: designated, proposed, both, designated only, proposed only, designated but not evaluated."""
    by: dict[tuple[int, str], list[Outcome]] = {}
    for o in outcomes:
        by.setdefault((o.unit_id, o.rule.kind), []).append(o)
    kinds = sorted({k for _, k in by} | set(designated))
    diffs: list[Difference] = []
    summary: dict[str, dict[str, int]] = {}
    for kind in kinds:
        s = dict.fromkeys(("designated", "proposed", "both", "designated_only", "proposed_only",
                           "designated_not_evaluated"), 0)
        for row in units.sort_values("code").itertuples():
            uid = int(row.unit_id)
            found = tuple(by.get((uid, kind), ()))
            v, held = verdict(found), uid in designated.get(kind, set())
            s["designated"] += held
            s["proposed"] += v == PROPOSED
            s["both"] += held and v == PROPOSED
            s["designated_only"] += held and v != PROPOSED
            s["proposed_only"] += v == PROPOSED and not held
            s["designated_not_evaluated"] += held and v == NOT_EVALUATED
            if held != (v == PROPOSED):
                diffs.append(Difference(uid, str(row.code), str(row.name), kind, held, v, found))
        summary[kind] = s
    diffs.sort(key=lambda d: (d.code, d.kind))
    return diffs, summary
