"""Key-area rules (geo/designation, data/ops/designation_rules.py, `sitmap analyze designations`) and the demo's
historical 2025 designations (data/demo/key_areas.py).

The evaluator is checked against answers computed by hand on small frames; the rule loader against bad files;
the command end to end on a private demo copy (proposals with their statistics, a re-run writing nothing, a
changed datum updating the basis, the hot-spot share of the latest drug run, the difference report), and one
statistic is recomputed with another query (incidents by geometry instead of the stored commune)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from data.ops.designation_rules import STATISTICS, load
from geo.designation.evaluate import NOT_EVALUATED, NOT_MET, PROPOSED, compare, evaluate, thresholds
from geo.designation.rules import RULES_FILE, RuleError, Statistic, load_rules, parse_rules

STATS = {"x": Statistic("x", "a number", when_missing="x was not counted here"),
         "y": Statistic("y", "another number"),
         "flag": Statistic("flag", "yes or no", boolean=True)}


def frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"unit_id": range(1, n + 1), "code": [f"{i:05d}" for i in range(1, n + 1)],
                         "name": [f"Xã {i}" for i in range(1, n + 1)], **columns})


def ruleset(*conditions: dict, kind: str = "drug_key", rid: str = "r") -> object:
    return parse_rules({"window_months": 12, "rules": [{"id": rid, "kind": kind, "text": "t",
                                                         "all": list(conditions)}]}, STATS)


def by_unit(outcomes) -> dict[int, object]:
    return {o.unit_id: o for o in outcomes}


# --- the pure evaluator -------------------------------------------------------------------------------------

def test_top_third_with_ties_by_hand():
    # Sorted 1 2 3 3 3 4: the 2/3 quantile sits at position (6-1)*2/3 = 3.33, between two 3s, so it is 3;
    # with >= all three tied 3s and the 4 pass: four of six, not two, because ties are treated alike.
    rules = ruleset({"statistic": "x", "op": ">=", "quantile": "2/3"})
    f = frame(x=[3, 1, 4, 3, 2, 3])
    assert thresholds(f, rules) == {("r", 0): 3.0}
    out = by_unit(evaluate(f, rules))
    assert {u for u, o in out.items() if o.status == PROPOSED} == {1, 3, 4, 6}
    assert out[2].status == NOT_MET and out[2].conditions[0].threshold == 3.0
    # Without ties: 1..6 -> position 3.33 between 4 and 5 -> 4.333; exactly the top third (5, 6) passes.
    f = frame(x=[1, 2, 3, 4, 5, 6])
    assert thresholds(f, rules)[("r", 0)] == pytest.approx(4 + 1 / 3)
    assert [o.unit_id for o in evaluate(f, rules) if o.status == PROPOSED] == [5, 6]


def test_quantile_ignores_missing_values_and_missing_is_not_evaluated():
    rules = ruleset({"statistic": "x", "op": ">", "quantile": 0.5}, {"statistic": "y", "op": ">=", "value": 10})
    f = frame(x=[1.0, math.nan, 3.0, 5.0], y=[20, 20, 20, 5])
    # Median of 1, 3, 5 (the NaN left out) is 3.
    assert thresholds(f, rules)[("r", 0)] == 3.0
    out = by_unit(evaluate(f, rules))
    assert out[1].status == NOT_MET  # 1 > 3 fails
    assert out[2].status == NOT_EVALUATED
    assert out[2].conditions[0].passed is None and out[2].conditions[0].reason == "x was not counted here"
    assert out[2].conditions[1].passed is True
    assert out[3].status == NOT_MET  # 3 > 3 fails (strict)
    assert out[4].status == NOT_MET and out[4].conditions[0].passed and not out[4].conditions[1].passed
    # A missing value where another condition already fails: not met, the missing one still said.
    f = frame(x=[math.nan], y=[1])
    o = evaluate(f, rules)[0]
    assert o.status == NOT_MET and o.conditions[0].passed is None


def test_statistic_missing_everywhere_gives_the_stated_reason():
    rules = ruleset({"statistic": "x", "op": ">=", "quantile": "2/3"}, {"statistic": "y", "op": ">=", "value": 0.2})
    f = frame(x=[1, 2, 3], y=[math.nan] * 3)
    out = evaluate(f, rules, missing={"y": "no hot-spot run for drugs — run `sitmap analyze hotspots`"})
    assert [o.status for o in out] == [NOT_MET, NOT_MET, NOT_EVALUATED]
    assert out[2].conditions[1].reason.startswith("no hot-spot run for drugs")
    assert "not evaluated: no hot-spot run" in out[2].why()
    # A quantile over a statistic nobody has: no threshold, not evaluated.
    rules = ruleset({"statistic": "x", "op": ">=", "quantile": "1/2"})
    o = evaluate(frame(x=[math.nan, math.nan]), rules, missing={"x": "nothing counted"})[0]
    assert o.status == NOT_EVALUATED and o.conditions[0].reason == "nothing counted"


@pytest.mark.parametrize(("op", "expected"), [(">=", [False, True, True]), (">", [False, False, True]),
                                              ("<=", [True, True, False]), ("<", [True, False, False]),
                                              ("==", [False, True, False]), ("!=", [True, False, True])])
def test_each_operator_against_a_fixed_value(op, expected):
    rules = ruleset({"statistic": "x", "op": op, "value": 5})
    out = evaluate(frame(x=[4, 5, 6]), rules)
    assert [o.status == PROPOSED for o in out] == expected
    assert [o.conditions[0].passed for o in out] == expected


def test_boolean_statistic_and_the_description():
    rules = ruleset({"statistic": "flag", "op": "==", "value": True}, {"statistic": "x", "op": ">=", "value": 50})
    out = evaluate(frame(flag=[True, False, True], x=[60, 60, 43]), rules)
    assert [o.status for o in out] == [PROPOSED, NOT_MET, NOT_MET]
    assert out[2].why() == "flag = true == true: passed; x = 43 >= 50: failed"
    rules = ruleset({"statistic": "flag", "op": "!=", "value": True})
    assert [o.status for o in evaluate(frame(flag=[True, False]), rules)] == [NOT_MET, PROPOSED]


def test_compare_names_units_and_reasons():
    rules = ruleset({"statistic": "x", "op": ">=", "value": 5}, kind="key_complex")
    f = frame(x=[9, 1, 7])
    diffs, summary = compare(evaluate(f, rules), {"key_complex": {2, 3}, "safe_standard": {1}}, f)
    got = {(d.code, d.kind): d for d in diffs}
    # Unit 1 proposed but not designated; unit 2 designated but the rule fails; unit 3 agrees.
    assert set(got) == {("00001", "key_complex"), ("00002", "key_complex"), ("00001", "safe_standard")}
    assert got[("00002", "key_complex")].reasons() == ["r not met: x = 1 >= 5: failed"]
    assert got[("00001", "safe_standard")].verdict == "no_rule"
    assert summary["key_complex"] == {"designated": 2, "proposed": 2, "both": 1, "designated_only": 1,
                                      "proposed_only": 1, "designated_not_evaluated": 0}


# --- the rule file ------------------------------------------------------------------------------------------

def test_the_shipped_rules_load():
    rs = load()
    assert rs.window_months == 12 and rs.source == str(RULES_FILE) and len(rs.sha256) == 64
    assert {r.kind: r.id for r in rs.rules} == {"drug_key": "drug_key_rate_hotspots",
                                               "key_complex": "key_complex_border_serious",
                                               "safe_standard": "safe_standard_quiet_patrolled"}
    drug = rs.rules[0]
    assert [(c.statistic, c.op, str(c.quantile) if c.quantile else c.value) for c in drug.conditions] == [
        ("drug_incidents_per_1000", ">=", "2/3"), ("drug_hotspot_share", ">=", 0.2)]


GOOD = {"id": "border_serious", "kind": "key_complex", "text": {"en": "x", "vi": "y"},
        "all": [{"statistic": "on_border", "op": "==", "value": True}]}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"all": [{"statistic": "drug_rate", "op": ">=", "value": 1}]}, "all[0].statistic", "not a statistic"),
    ({"all": [{"statistic": "incidents", "op": "=>", "value": 1}]}, "all[0].op", "must be one of"),
    ({"all": [{"statistic": "incidents", "op": ">=", "value": 1, "quantile": 0.5}]}, "all[0]", "exactly one"),
    ({"all": [{"statistic": "incidents", "op": ">=", "quantile": 1.5}]}, "all[0].quantile", "between 0 and 1"),
    ({"all": [{"statistic": "incidents", "op": ">=", "value": "many"}]}, "all[0].value", "must be a number"),
    ({"all": [{"statistic": "on_border", "op": ">=", "value": 1}]}, "all[0].value", "yes/no"),
    ({"all": [{"statistic": "incidents", "op": ">=", "value": 1, "thresold": 2}]}, "all[0]", "thresold"),
    ({"kind": "hot_area"}, "kind", "must be one of key_complex"),
    ({"all": []}, "all", "non-empty"),
    ({"text": {"vi": "chỉ tiếng Việt"}}, "text", "en required"),
])
def test_a_bad_rule_is_refused_naming_rule_and_field(tmp_path: Path, change, field, says):
    path = tmp_path / "rules.yaml"
    path.write_text(json.dumps({"window_months": 12, "rules": [GOOD, {**GOOD, "id": "second", **change}]}),
                    encoding="utf-8")  # JSON is YAML
    with pytest.raises(RuleError) as err:
        load_rules(STATISTICS, path)
    msg = str(err.value)
    assert str(path) in msg and "rule 'second' (#2)" in msg and f"field {field!r}" in msg and says in msg, msg


def test_a_bad_file_is_refused(tmp_path: Path):
    dup = tmp_path / "dup.yaml"
    dup.write_text(json.dumps({"window_months": 12, "rules": [GOOD, GOOD]}), encoding="utf-8")
    with pytest.raises(RuleError, match=r"rule 'border_serious' \(#2\), field 'id': is used by an earlier rule"):
        load_rules(STATISTICS, dup)
    months = tmp_path / "months.yaml"
    months.write_text("window_months: twelve\nrules: []\n", encoding="utf-8")
    with pytest.raises(RuleError, match="field 'window_months'"):
        load_rules(STATISTICS, months)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RuleError, match="not UTF-8 YAML"):
        load_rules(STATISTICS, broken)
    with pytest.raises(RuleError, match="cannot be read"):
        load_rules(STATISTICS, tmp_path / "absent.yaml")


# --- the demo's historical designations ---------------------------------------------------------------------

def test_seeds_are_the_reported_figures_as_historical_records(demo_db):
    with psycopg.connect(demo_db) as conn:
        counts = dict(conn.execute(
            "SELECT kind, count(DISTINCT unit_id) FROM designation WHERE status = 'approved' AND origin = 'historical' "
            "AND rule IS NULL AND is_generated GROUP BY kind").fetchall())
        assert counts == {"key_complex": 15, "drug_key": 32, "safe_standard": 41}
        # Besides them the demo holds only what the rules propose at the end of its load (never approved).
        assert conn.execute("SELECT count(*) FROM designation WHERE origin <> 'historical' AND NOT "
                            "(origin = 'rule' AND status = 'proposed')").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM designation WHERE status = 'approved' AND origin <> "
                            "'historical'").fetchone()[0] == 0
        both = conn.execute("SELECT count(*) FROM designation k JOIN designation s ON s.unit_id = k.unit_id "
                            "WHERE k.kind = 'key_complex' AND s.kind = 'safe_standard' AND k.origin = 'historical' "
                            "AND s.origin = 'historical'").fetchone()[0]
        assert both > 0
        b, reason = conn.execute("SELECT basis, decision_reason FROM designation WHERE kind = 'drug_key' "
                                 "LIMIT 1").fetchone()
        assert b["communes_generated"] is True and b["incidents_generated"] is True
        assert "as reported" in b["rule"] and "not a sitmap rule" in b["rule"]
        assert b["reported"] == {"key_complex_communes": 15, "drug_key_areas": 32, "safe_share": 0.9,
                                 "safe_standard_communes": 41, "of_units": 45, "decided": "2025-09-30"}
        assert "police.key_areas" in b["source"]
        assert "communes named are generated" in reason and "the report does not list them" in reason


def test_seed_numbers_that_cannot_be_met_stop_the_load(demo_db_rw):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from data.demo.key_areas import load_key_areas, reported_counts
    from data.demo.loader import read_config

    kc = read_config()["police"]["key_areas"]
    assert reported_counts(kc, 45) == {"key_complex": 15, "drug_key": 32, "safe_standard": 41}
    with pytest.raises(ValueError, match="asks for 46 drug_key communes of 45"):
        reported_counts({**kc, "drug_key_areas": 46}, 45)
    # One key-and-complex commune (the worst) and one safe commune (the quietest) cannot be the same.
    cfg = read_config()
    cfg["police"]["key_areas"] = {**kc, "key_complex_communes": 1, "safe_share": 0.02}
    with psycopg.connect(demo_db_rw) as conn, pytest.raises(ValueError, match="none of the 1 key-and-complex"):
        load_key_areas(conn, cfg, datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))


# --- `sitmap analyze designations` end to end -----------------------------------------------------------------

def sitmap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "analyze", "designations", *args],
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300)


def proposals(conn: psycopg.Connection) -> dict[tuple[str, str], tuple]:
    rows = conn.execute("SELECT u.code, d.rule, d.id, d.version, d.basis, d.kind, d.is_generated, "
                        "ST_Equals(d.geom, ST_Multi(u.geom)) FROM designation d JOIN admin_unit u ON u.id = d.unit_id "
                        "WHERE d.status = 'proposed' AND d.origin = 'rule'").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def audits(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT user_id, username, target, detail FROM audit_log WHERE action = 'designation.propose' "
                        "ORDER BY id").fetchall()


def drop_drug_runs(url: str) -> None:
    """Start without any drug hot-spot run and before any rule pass, whatever the demo load stored (its
    finishing step runs the rules once)."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM hotspot_run WHERE category = 'drugs'")
        before_rules(conn)


def before_rules(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM audit_log WHERE action = 'designation.propose' AND username = 'sitmap analyze'")
    conn.execute("DELETE FROM designation WHERE origin = 'rule'")


def test_cli_writes_proposals_once_and_updates_a_changed_basis(demo_db_rw, tmp_path: Path):
    drop_drug_runs(demo_db_rw)
    out = tmp_path / "report.json"
    first = sitmap(demo_db_rw, "--output", str(out))
    assert first.returncode == 0, first.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "no hot-spot run for drugs — run `sitmap analyze hotspots`" in first.stdout
    assert "rule drug_key_rate_hotspots (drug_key): 0 proposed" in first.stdout
    assert "generated incidents" in first.stdout and report["incidents_generated"] is True
    with psycopg.connect(demo_db_rw) as conn:
        got = proposals(conn)
        border = {r[0] for r in conn.execute(
            "SELECT code FROM admin_unit WHERE era = '2025' AND cardinality(border_countries) > 0").fetchall()}
        written_audits = audits(conn)
    # Only the border rule can propose without a hot-spot run; the safe rule finds no commune on the demo.
    assert got and {rule for _, rule in got} == {"key_complex_border_serious"}
    assert report["per_rule"]["key_complex_border_serious"]["proposed"] == len(got)
    assert {code for code, _ in got} <= border
    for _id, version, basis, kind, generated, same_geom in got.values():
        assert version == 1 and kind == "key_complex" and generated is True and same_geom is True
        assert basis["rule"] == "key_complex_border_serious" and basis["incidents_generated"] is True
        # The border rule reads no hot-spot statistic: its basis names no run (a new run leaves it alone).
        assert "hotspot_run_id" not in basis and basis["window"]["months"] == 12
        assert set(basis["statistics"]) == {"on_border", "serious_or_worse_incidents"}
        assert basis["window"]["end_is"] == "newest incident" and "Commune on the national border" in basis["rule_text"]
        crit = {c["statistic"]: c for c in basis["criteria"]}
        assert crit["on_border"]["value"] is True and crit["on_border"]["passed"] is True
        assert crit["serious_or_worse_incidents"]["threshold"] == 50
        assert crit["serious_or_worse_incidents"]["value"] >= 50 and crit["serious_or_worse_incidents"]["passed"]
        assert basis["statistics"]["serious_or_worse_incidents"] == crit["serious_or_worse_incidents"]["value"]
    assert len(written_audits) == len(got)
    assert {a[2] for a in written_audits} == {f"designation:{v[0]}" for v in got.values()}
    assert all(a[0] is None and a[1] == "sitmap analyze" and a[3]["change"] == "created" for a in written_audits)

    # Independent check: serious-or-worse incidents of one proposed commune, counted by the incident's point in
    # the commune's polygon (not the stored unit_id) and the severity rank (not the code list).
    code = sorted(got)[0][0]
    basis = got[sorted(got)[0]][2]
    with psycopg.connect(demo_db_rw) as conn:
        n = conn.execute("SELECT count(*) FROM incident i JOIN admin_unit u ON ST_Intersects(u.geom, i.geom) "
                         "WHERE u.era = '2025' AND u.code = %s AND i.severity_rank >= 3 AND i.occurred_at "
                         "BETWEEN %s AND %s", [code, basis["window"]["start"], basis["window"]["end"]]).fetchone()[0]
    assert n == basis["statistics"]["serious_or_worse_incidents"]

    # Unchanged data: nothing written, no audit row.
    second = sitmap(demo_db_rw)
    assert second.returncode == 0, second.stderr
    assert f"0 new, 0 with a changed basis (version bumped), {len(got)} unchanged" in second.stdout
    with psycopg.connect(demo_db_rw) as conn:
        assert proposals(conn) == got and len(audits(conn)) == len(got)

    # One more serious incident inside the window in one proposed commune: only its basis changes.
    with psycopg.connect(demo_db_rw) as conn:
        conn.execute(
            "INSERT INTO incident (id, category, severity, occurred_at, is_generated, geom) SELECT %s, "
            "'weapons_explosives', 'serious', %s::timestamptz - interval '3 days', false, ST_PointOnSurface(geom) "
            "FROM admin_unit WHERE era = '2025' AND code = %s", [uuid.uuid4(), basis["window"]["end"], code])
    third = sitmap(demo_db_rw)
    assert third.returncode == 0, third.stderr
    assert f"0 new, 1 with a changed basis (version bumped), {len(got) - 1} unchanged" in third.stdout
    with psycopg.connect(demo_db_rw) as conn:
        after = proposals(conn)
        last = audits(conn)[-1]
    assert set(after) == set(got)
    changed = {k for k in after if after[k][1] != got[k][1]}
    assert changed == {(code, "key_complex_border_serious")}
    new = after[(code, "key_complex_border_serious")]
    assert new[0] == got[(code, "key_complex_border_serious")][0] and new[1] == 2
    assert new[2]["statistics"]["serious_or_worse_incidents"] == n + 1
    assert last[2] == f"designation:{new[0]}" and last[3]["change"] == "updated" and last[3]["version"] == 2

    # A commander rejects that proposal: the same statistics do not propose it again.
    with psycopg.connect(demo_db_rw) as conn:
        conn.execute("UPDATE designation SET status = 'rejected', decision_reason = 'test' WHERE id = %s", [new[0]])
    fourth = sitmap(demo_db_rw)
    assert fourth.returncode == 0, fourth.stderr
    assert (f"0 new, 0 with a changed basis (version bumped), {len(got) - 1} unchanged, 1 already decided"
            in fourth.stdout)
    # Another commune falls below the threshold: its open proposal stays, reported as no longer supported.
    weakest = min((k for k in got if k[0] != code),
                  key=lambda k: got[k][2]["statistics"]["serious_or_worse_incidents"])
    with psycopg.connect(demo_db_rw) as conn:
        conn.execute("UPDATE incident SET severity = 'less_serious' WHERE id IN (SELECT i.id FROM incident i "
                     "JOIN admin_unit u ON u.id = i.unit_id WHERE u.era = '2025' AND u.code = %s "
                     "AND i.severity = 'serious' AND i.occurred_at BETWEEN %s AND %s)",
                     [weakest[0], basis["window"]["start"], basis["window"]["end"]])
        total = conn.execute("SELECT count(*) FROM designation").fetchone()[0]
    fifth = sitmap(demo_db_rw)
    assert fifth.returncode == 0, fifth.stderr
    assert "open rule proposals the rules no longer support (1; left for a commander to reject): " \
           f"{weakest[0]} key_complex (key_complex_border_serious)" in fifth.stdout
    with psycopg.connect(demo_db_rw) as conn:
        assert conn.execute("SELECT count(*) FROM designation").fetchone()[0] == total
        assert proposals(conn)[weakest][1] == 1


def add_drug_run(conn: psycopg.Connection, created: str, classes: dict[str, list[str]]) -> int:
    """A Gi* hex run for drugs as the hot-spot runner stores one: cells whose commune the trigger sets."""
    rid = conn.execute("INSERT INTO hotspot_run (method, cell_size_m, category, categories, analysis, cells, "
                       "created_at, period_end, incidents_generated) VALUES ('gi_star', 2000, 'drugs', "
                       "'{drugs}', 'gi_star', 'hex', %s, %s, true) RETURNING id",
                       [created, created]).fetchone()[0]
    for code, cells in classes.items():
        for i, cls in enumerate(cells):
            conn.execute(
                "INSERT INTO hotspot_cell (run_id, cell, count, \"class\", geom) SELECT %s, %s, 1, %s, "
                "ST_Multi(ST_Expand(ST_PointOnSurface(geom), 0.0005)) FROM admin_unit "
                "WHERE era = '2025' AND code = %s", [rid, f"{code}-{i}", cls, code])
    return rid


def test_drug_rule_uses_the_latest_hotspot_run(demo_db_rw):
    """A drug hot-spot run (written as the hot-spot runner would: cells whose commune the trigger sets) makes
    the drug rule evaluable; the share is read from the latest run only."""
    drop_drug_runs(demo_db_rw)
    with psycopg.connect(demo_db_rw) as conn:
        stats = pd.DataFrame(json.loads(sitmap(demo_db_rw, "--json", "--dry-run").stdout)["statistics"])
        top = stats.sort_values("drug_incidents_per_1000", ascending=False)["code"].tolist()
        hot, cool = top[0], top[1]  # both in the top third by drug rate

        def add_run(created: str, classes: dict[str, list[str]]) -> int:
            return add_drug_run(conn, created, classes)


        # An older run that would make both communes hot, then the latest: 2 of 5 hot (40 %) and 1 of 10 (10 %).
        add_run("2026-10-01", {hot: ["hot_99"] * 5, cool: ["hot_99"] * 10})
        latest = add_run("2026-10-20", {hot: ["hot_99", "hot_95", "hot_90", "not_significant", "cold_95"],
                                        cool: ["hot_95"] + ["not_significant"] * 9})
        # Another category's newer run is not the drugs run.
        conn.execute("INSERT INTO hotspot_run (method, cell_size_m, category, categories, analysis, cells, created_at) "
                     "VALUES ('gi_star', 2000, 'drugs,theft', '{drugs,theft}', 'gi_star', 'hex', '2026-10-30')")
    run = sitmap(demo_db_rw, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["hotspot_run_id"] == latest
    rows = {s["code"]: s for s in report["statistics"]}
    assert (rows[hot]["hex_cells"], rows[hot]["drug_hotspot_cells"], rows[hot]["drug_hotspot_share"]) == (5, 2, 0.4)
    assert (rows[cool]["hex_cells"], rows[cool]["drug_hotspot_cells"], rows[cool]["drug_hotspot_share"]) == (10, 1, 0.1)
    drug = [p for p in report["proposals"] if p["rule"] == "drug_key_rate_hotspots"]
    assert [p["code"] for p in drug] == [hot]
    with psycopg.connect(demo_db_rw) as conn:
        basis = conn.execute("SELECT d.basis FROM designation d JOIN admin_unit u ON u.id = d.unit_id "
                             "WHERE d.rule = 'drug_key_rate_hotspots' AND u.code = %s", [hot]).fetchone()[0]
        # Independent check of the rate: drug incidents by point in polygon over the basis's window, per 1,000.
        n, pop = conn.execute(
            "SELECT count(i.id), min(u.population) FROM admin_unit u LEFT JOIN incident i ON ST_Intersects(u.geom, "
            "i.geom) AND i.category = 'drugs' AND i.occurred_at BETWEEN %s AND %s WHERE u.era = '2025' AND u.code = %s",
            [basis["window"]["start"], basis["window"]["end"], hot]).fetchone()
    assert basis["hotspot_run_id"] == latest and basis["hotspot_run"]["id"] == latest
    crit = {c["statistic"]: c for c in basis["criteria"]}
    assert crit["drug_hotspot_share"] == {"statistic": "drug_hotspot_share", "op": ">=", "value": 0.4,
                                          "threshold": 0.2, "quantile": None, "passed": True, "evaluated": True,
                                          "reason": None}
    assert crit["drug_incidents_per_1000"]["value"] == pytest.approx(1000 * n / pop, abs=1e-6)
    assert crit["drug_incidents_per_1000"]["quantile"] == "2/3"
    # The 2/3 quantile of the 45 rates, computed here with the pandas default.
    assert crit["drug_incidents_per_1000"]["threshold"] == pytest.approx(
        stats["drug_incidents_per_1000"].quantile(2 / 3), abs=1e-6)
    assert basis["statistics"] == {"drug_incidents_per_1000": crit["drug_incidents_per_1000"]["value"],
                                   "drug_incidents": n, "population": pop, "drug_hotspot_share": 0.4,
                                   "hex_cells": 5, "drug_hotspot_cells": 2}
    # A commune of the top third without any cell of the run: not evaluated, with the reason.
    other = next(c for c in top[2:15] if c not in (hot, cool))
    diff = next(d for d in report["differences"] if d["code"] == other and d["kind"] == "drug_key")
    assert diff["rules"] == "not_evaluated"
    assert ("drug_hotspot_share: not evaluated: no hex cell of the hot-spot run lies in the commune"
            in diff["reasons"][0])

    # A newer run with the same cells: the drug proposal records the new run (version 2); the border rule's
    # proposals, which read no hot spots, stay as they were.
    with psycopg.connect(demo_db_rw) as conn:
        before = proposals(conn)
        newer = add_drug_run(conn, "2026-10-25", {hot: ["hot_99", "hot_95", "hot_90", "not_significant",
                                                        "cold_95"], cool: ["hot_95"] + ["not_significant"] * 9})
    again = sitmap(demo_db_rw)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(demo_db_rw) as conn:
        after = proposals(conn)
    assert set(after) == set(before)
    assert {k for k in after if after[k][1] != before[k][1]} == {(hot, "drug_key_rate_hotspots")}
    assert after[(hot, "drug_key_rate_hotspots")][2]["hotspot_run_id"] == newer


def test_difference_report_names_units_and_reasons(demo_db_rw):
    with psycopg.connect(demo_db_rw) as conn:
        before_rules(conn)
    run = sitmap(demo_db_rw, "--json", "--dry-run")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["written"] and report["dry_run"] is True
    with psycopg.connect(demo_db_rw) as conn:
        # A dry run writes nothing.
        assert conn.execute("SELECT count(*) FROM designation WHERE origin = 'rule'").fetchone()[0] == 0
        held = {(k, c) for k, c in conn.execute(
            "SELECT d.kind, u.code FROM designation d JOIN admin_unit u ON u.id = d.unit_id "
            "WHERE d.origin = 'historical' AND d.status = 'approved'").fetchall()}
        inland = {r[0] for r in conn.execute("SELECT code FROM admin_unit WHERE era = '2025' "
                                             "AND COALESCE(cardinality(border_countries), 0) = 0").fetchall()}
    assert report["comparison"]["key_complex"]["designated"] == 15
    assert report["comparison"]["drug_key"]["designated"] == 32
    assert report["comparison"]["safe_standard"]["designated"] == 41
    proposed = {(p["kind"], p["code"]) for p in report["proposals"]}
    diffs = {(d["kind"], d["code"]): d for d in report["differences"]}
    # Exactly the units where the historical decision and the rules disagree.
    assert set(diffs) == (held - proposed) | (proposed - held)
    for (kind, code), d in diffs.items():
        assert d["designated"] == ((kind, code) in held) and d["name"].startswith(("Xã", "Phường"))
    # An inland key-and-complex commune is a difference because it is not on the border.
    inland_kc = sorted(c for k, c in held if k == "key_complex" and c in inland)
    assert inland_kc
    d = diffs[("key_complex", inland_kc[0])]
    assert d["rules"] == "not_met" and "on_border = false == true: failed" in d["reasons"][0]
    # The text report says the same, unit by unit.
    text = sitmap(demo_db_rw, "--dry-run").stdout
    name = d["name"]
    block = text.split(f"{inland_kc[0]} {name}\n", 1)[1]
    assert block.startswith("  ") and "key_complex: designated, rules not met" in block.split("\n0")[0]
    assert "unit by unit:" in text and "would write" in text


def test_no_communes_is_a_clear_message(empty_db):
    run = sitmap(empty_db)
    assert run.returncode == 2
    assert "the database has no 2025 communes" in run.stderr and "sitmap demo load" in run.stderr
