"""The key-area rule file (rules.yaml) read into typed rules.

A rule names a designation kind and a list of conditions that must all hold; a condition is a statistic, an
operator and either a fixed ``value`` or a ``quantile`` of the statistic over the province's communes (the
threshold is then computed on the data: ``quantile: 2/3`` with ``>=`` is "in the top third"). Which
statistics exist is not decided here: the caller passes the ones it computes (data/ops/designation_rules.py
declares them), and a rule naming any other is refused. A bad file fails loudly, naming the rule and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from data import vocab

RULES_FILE = Path(__file__).with_name("rules.yaml")

# Operators a condition may use; the comparisons evaluate.py applies.
OPERATORS = (">=", ">", "<=", "<", "==", "!=")
_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_TOP_KEYS = {"window_months", "rules"}
_RULE_KEYS = {"id", "kind", "text", "all"}
_CONDITION_KEYS = {"statistic", "op", "value", "quantile"}


class RuleError(ValueError):
    """The rule file is not valid: the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Statistic:
    """A per-commune statistic a rule may name: what it is, its unit, whether it is yes/no, and what a
    missing value means for one commune (a statistic missing for all of them says why itself)."""

    name: str
    description: str
    unit: str = ""
    boolean: bool = False
    when_missing: str = "no value for this commune"
    inputs: tuple[str, ...] = ()  # the statistics it is computed from, shown beside it


@dataclass(frozen=True)
class Condition:
    statistic: str
    op: str
    value: float | bool | None = None
    quantile: Fraction | None = None

    def threshold_text(self) -> str:
        """How the rule file states the threshold ("20 %" is stated as 0.2, a quantile as q=2/3)."""
        if self.quantile is not None:
            return f"the {self.quantile} quantile of the communes"
        return str(self.value).lower() if isinstance(self.value, bool) else f"{self.value:g}"

    def as_json(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "op": self.op, "value": self.value,
                "quantile": None if self.quantile is None else str(self.quantile)}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    text_en: str
    text_vi: str | None
    conditions: tuple[Condition, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": {"en": self.text_en, "vi": self.text_vi},
                "all": [c.as_json() for c in self.conditions]}


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, with the statistics they were checked against and the file's digest (kept in
    every proposal's basis, so a proposal says which version of the rules made it)."""

    window_months: int
    rules: tuple[Rule, ...]
    statistics: Mapping[str, Statistic]
    source: str
    sha256: str


def load_rules(statistics: Mapping[str, Statistic], path: Path | str | None = None) -> RuleSet:
    """Read and check the rule file (default: this package's rules.yaml) against the known ``statistics``."""
    path = Path(path) if path is not None else RULES_FILE
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"rules file {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleError(f"rules file {path}: not UTF-8 YAML: {exc}") from exc
    return parse_rules(doc, statistics, source=str(path), sha256=hashlib.sha256(raw).hexdigest())


def parse_rules(doc: Any, statistics: Mapping[str, Statistic], *, source: str = "<rules>",
                sha256: str = "") -> RuleSet:
    """Check a parsed rule document; every refusal is a RuleError naming the rule and the field."""

    def fail(where: str, message: str) -> RuleError:
        return RuleError(f"rules file {source}: {where}: {message}")

    if not isinstance(doc, dict):
        raise fail("top level", "must be a mapping with 'window_months' and 'rules'")
    _no_unknown(doc, _TOP_KEYS, lambda m: fail("top level", m))
    months = doc.get("window_months")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise fail("field 'window_months'", f"must be a whole number of months from 1 to 120, not {months!r}")
    items = doc.get("rules")
    if not isinstance(items, list) or not items:
        raise fail("field 'rules'", "must be a non-empty list of rules")
    kinds = vocab.codes(vocab.DESIGNATION_KINDS)
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        label = f"rule #{n}"
        if not isinstance(item, dict):
            raise fail(label, "must be a mapping with id, kind, text and all")
        rid = item.get("id")
        if not isinstance(rid, str) or not _ID.fullmatch(rid):
            raise fail(f"{label}, field 'id'", f"must be a lower-case name like drug_key_rate, not {rid!r}")
        label = f"rule {rid!r} (#{n})"

        def at(field: str, message: str, label: str = label) -> RuleError:
            return fail(f"{label}, field {field!r}", message)

        _no_unknown(item, _RULE_KEYS, lambda m, label=label: fail(label, m))
        if rid in seen:
            raise at("id", "is used by an earlier rule; each rule needs its own id")
        seen.add(rid)
        kind = item.get("kind")
        if kind not in kinds:
            raise at("kind", f"must be one of {', '.join(kinds)}, not {kind!r}")
        text = item.get("text")
        if isinstance(text, str):
            text = {"en": text}
        if not isinstance(text, dict) or not isinstance(text.get("en"), str) or not text["en"].strip() \
                or set(text) - {"en", "vi"} or not isinstance(text.get("vi", ""), str):
            raise at("text", "must be the rule in words: a string, or {en: ..., vi: ...} with en required")
        conds = item.get("all")
        if not isinstance(conds, list) or not conds:
            raise at("all", "must be a non-empty list of conditions that must all hold")
        parsed = tuple(_condition(c, f"all[{i}]", statistics, at) for i, c in enumerate(conds))
        rules.append(Rule(rid, kind, text["en"].strip(), (text.get("vi") or "").strip() or None, parsed))
    return RuleSet(months, tuple(rules), statistics, source, sha256)


def _condition(item: Any, field: str, statistics: Mapping[str, Statistic], at) -> Condition:
    if not isinstance(item, dict):
        raise at(field, "must be a mapping {statistic, op, value | quantile}")
    _no_unknown(item, _CONDITION_KEYS, lambda m: at(field, m))
    name = item.get("statistic")
    if name not in statistics:
        raise at(f"{field}.statistic", f"{name!r} is not a statistic sitmap computes; known: "
                                       f"{', '.join(sorted(statistics))}")
    stat = statistics[name]
    op = item.get("op")
    if op not in OPERATORS:
        raise at(f"{field}.op", f"must be one of {' '.join(OPERATORS)}, not {op!r}")
    has_value, has_q = "value" in item, "quantile" in item
    if has_value == has_q:
        raise at(field, "needs exactly one of 'value' (a fixed threshold) or 'quantile' (e.g. 2/3 for the top "
                        "third)")
    if stat.boolean:
        if has_q or not isinstance(item["value"], bool) or op not in ("==", "!="):
            raise at(f"{field}.value", f"{name} is yes/no: compare it with == or != to true or false")
        return Condition(name, op, value=item["value"])
    if has_value:
        value = item["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise at(f"{field}.value", f"must be a number for {name}, not {value!r}")
        return Condition(name, op, value=float(value))
    q = _fraction(item["quantile"])
    if q is None or not 0 < q < 1:
        raise at(f"{field}.quantile", f"must be a number or fraction strictly between 0 and 1 (e.g. 2/3), "
                                      f"not {item['quantile']!r}")
    if op in ("==", "!="):
        raise at(f"{field}.op", "a quantile threshold needs an ordering operator (>=, >, <=, <)")
    return Condition(name, op, quantile=q)


def _fraction(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    try:
        return Fraction(str(value).strip()).limit_denominator(10_000)
    except (ValueError, ZeroDivisionError):
        return None


def _no_unknown(item: dict, allowed: set[str], fail) -> None:
    unknown = sorted(str(k) for k in set(item) - allowed)
    if unknown:
        raise fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
