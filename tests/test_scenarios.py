"""What-if scenarios on a private copy of the demo: create, list, read, change (versions), delete, each audited;
every change checked (422 naming its index); a run compares today's coverage with the scenario's without
touching the live tables (byte-for-byte the same afterwards, and a concurrent reader never sees a scenario
station or closure); removing a station never raises coverage; a station added at a village brings that
village to about its walk; closures in a scenario close roads for that run only; the curves on one plot;
officers and commanders may not write scenarios."""

from __future__ import annotations

import json
import threading

import pandas as pd
import psycopg
import pytest

from data.ops import scenarios as ops
from geo.travel.network import local_today
from geo.travel.trips import attached, villages
from tests.test_site_selection import TRAVEL
from tests.test_travel_api import _user

LIVE_TABLES = ("station", "station_status_history", "road_closure", "road_edge", "data_version")
MINUTES = (15.0, 30.0, 60.0)


@pytest.fixture(scope="module")
def demo(cluster, demo_template):
    """A private copy of the demo (these tests write scenarios) with a planner, an admin and scoped others."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from data.settings import get_settings
    from tests.conftest import clone_database, drop_database

    url = clone_database(cluster, demo_template)
    with psycopg.connect(url, autocommit=True) as conn:
        sid, unit = conn.execute("SELECT id, unit_id FROM station WHERE code = 'CA-03127'").fetchone()
        who = {"planner": _user(conn, "planner", "planner", []), "admin": _user(conn, "admin2", "admin", []),
               "officer": _user(conn, "officer", "officer", [unit]),
               "commander": _user(conn, "commander", "commander", [unit])}
    client = TestClient(create_app(get_settings(), database_url=url))
    with client:
        yield {"url": url, "client": client, "who": who, "station": sid}
    drop_database(cluster, url.split("/")[-1].split("?")[0])


# A run writes its own result rows (scenario_village), whose data version moves for the tile cache: the
# live tables' versions must not.
LIVE_ROWS = {t: t for t in LIVE_TABLES} | {
    "data_version": "(SELECT * FROM data_version WHERE table_name <> 'scenario_village')"}


def _snapshot(url: str) -> dict[str, str]:
    """Every live table's rows, hashed in a fixed order (any change to any column shows)."""
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "  # noqa: S608
                                f"FROM {rows} x").fetchone()[0] for t, rows in LIVE_ROWS.items()}


def _far_village(url: str) -> dict:
    """A populous village far from today's stations on a two-way road (for the walk-leg test). The demo's
    villages stand on road nodes, so their walk leg is 0 s: the test then checks exactly that."""
    from geo.coverage.coverage import coverage

    with psycopg.connect(url) as conn:
        cov = coverage(conn, on=local_today(), minutes=MINUTES, **TRAVEL).villages
        two_way = conn.execute("SELECT id FROM road_edge WHERE cost_s >= 0 AND reverse_cost_s >= 0").fetchall()
        vil = attached(conn, villages(conn), "village_id", "out", **TRAVEL)
    ok = set(r[0] for r in two_way)
    cov = cov[cov["nearest_min"].between(45, 120) & (cov["population"] > 200)]
    cov = cov[cov["village_id"].map(vil["edge_id"]).isin(ok)]
    row = cov.sort_values("nearest_min").iloc[-1]
    return {"village_id": int(row["village_id"]), "lon": float(row["lon"]), "lat": float(row["lat"]),
            "today_min": float(row["nearest_min"]), "access_s": float(vil.loc[int(row["village_id"]), "access_s"])}


def test_create_list_read_change_delete_with_versions_and_audit(demo):
    c, h = demo["client"], demo["who"]["planner"]
    body = {"name": "Trạm mới ở Mường Nhé", "description": "thử",
            "changes": [{"op": "set_status", "station_id": demo["station"], "hq_status": "shared"}]}
    r = c.post("/scenarios", json=body, headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.headers["location"] == f"/scenarios/{sid}" and r.json()["version"] == 1
    assert r.json()["changes"] == body["changes"]
    listed = c.get("/scenarios", headers=h).json()
    assert sid in [s["id"] for s in listed["items"]] and "last_result" not in listed["items"][0]
    assert c.get(f"/scenarios/{sid}", headers=h).json()["name"] == body["name"]
    r = c.patch(f"/scenarios/{sid}", json={"version": 1, "name": "B"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["description"] == "thử"
    r = c.patch(f"/scenarios/{sid}", json={"version": 1, "name": "C"}, headers=h)
    assert r.status_code == 409 and r.json()["current_version"] == 2
    r = c.put(f"/scenarios/{sid}", json={"version": 2, "name": "D", "changes": []}, headers=h)
    assert r.status_code == 200 and r.json()["description"] is None and r.json()["changes"] == []
    assert c.delete(f"/scenarios/{sid}", headers=h).status_code == 204
    assert c.get(f"/scenarios/{sid}", headers=h).status_code == 404
    assert c.delete(f"/scenarios/{sid}", headers=h).status_code == 404
    with psycopg.connect(demo["url"]) as conn:
        acts = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE target = %s ORDER BY id",
                                           [f"scenario:{sid}"]).fetchall()]
    assert acts == ["scenario.create", "scenario.update", "scenario.update", "scenario.delete"]


@pytest.mark.parametrize(("changes", "index", "words"), [
    ([{"op": "set_status", "station_id": 0, "hq_status": "shared"}], 0, "station_id"),
    ([{"op": "add_station", "lon": 103.0, "lat": 21.4}, {"op": "remove_station", "station_id": 999999}], 1,
     "no station 999999"),
    ([{"op": "set_status", "station_id": "STATION", "hq_status": "palace"}], 0, "palace"),
    ([{"op": "add_station", "lon": 105.8, "lat": 21.0}], 0, "outside the province"),
    ([{"op": "add_closure", "geometry": {"type": "LineString", "coordinates": [[103.0, 21.4], [106.0, 21.0]]}}], 0,
     "outside the province"),
    ([{"op": "move_station", "station_id": "STATION"}], 0, "needs lat, lon"),
    ([{"op": "demolish"}], 0, "op must be one of"),
    ([{"op": "remove_station", "station_id": "STATION"}, {"op": "set_status", "station_id": "STATION",
                                                            "hq_status": "shared"}], 1, "removed by an earlier"),
])
def test_every_change_is_checked_and_the_refusal_names_its_index(demo, changes, index, words):
    changes = [{k: (demo["station"] if v == "STATION" else v) for k, v in ch.items()} for ch in changes]
    before = _count(demo["url"])
    r = demo["client"].post("/scenarios", json={"name": "x", "changes": changes}, headers=demo["who"]["planner"])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"].startswith(f"changes[{index}]: ") and words in r.json()["detail"]
    assert _count(demo["url"]) == before  # nothing half-written


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM scenario").fetchone()[0]


def test_removing_a_station_lowers_coverage_and_leaves_the_live_data_alone(demo):
    c, h = demo["client"], demo["who"]["planner"]
    before = _snapshot(demo["url"])
    sid = c.post("/scenarios", json={"name": "no CA-03127", "changes": [
        {"op": "remove_station", "station_id": demo["station"]}]}, headers=h).json()["id"]
    seen: list[dict[str, str]] = []
    done = threading.Event()

    def reader() -> None:  # a concurrent reader polls the live tables while the run computes
        while not done.is_set():
            seen.append(_snapshot(demo["url"]))

    t = threading.Thread(target=reader)
    t.start()
    try:
        r = c.post(f"/scenarios/{sid}/run", headers=h)
    finally:
        done.set()
        t.join(timeout=60)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert seen and all(s == before for s in seen)
    assert _snapshot(demo["url"]) == before
    assert doc["scenario"]["stations"] == doc["today"]["stations"] - 1
    for row in doc["table"]:
        assert row["scenario_population"] <= row["today_population"]
    assert any(row["change_population"] < 0 for row in doc["table"])
    for com in doc["communes"]:
        assert all(com[f"change_within_{m:g}"] <= 0 for m in MINUTES)
    assert doc["roads_generated"] is True and "generated" in doc["note"]
    stored = c.get(f"/scenarios/{sid}", headers=h).json()
    assert stored["last_result"]["table"] == doc["table"] and stored["last_run_at"]
    svg = c.get(f"/scenarios/{sid}/curve.svg", params={"lang": "en"}, headers=h)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "no CA-03127" in svg.text and "Today" in svg.text and "generated" in svg.text
    with psycopg.connect(demo["url"]) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'scenario.run' AND target = %s",
                            [f"scenario:{sid}"]).fetchone()[0] == 1


def _stored_villages(url: str, sid: int) -> dict[int, tuple]:
    with psycopg.connect(url) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT settlement_id, today_min, scenario_min, change_band, reason FROM scenario_village "
            "WHERE scenario_id = %s", [sid])}


def test_a_run_stores_the_villages_it_changes_for_the_layer_and_replaces_them_on_the_next(demo):
    c, h = demo["client"], demo["who"]["planner"]
    changes = [{"op": "remove_station", "station_id": demo["station"]}]
    sid = c.post("/scenarios", json={"name": "without CA-03127", "changes": changes}, headers=h).json()["id"]
    doc = c.post(f"/scenarios/{sid}/run", headers=h).json()
    stored = _stored_villages(demo["url"], sid)
    # Independently: the two coverage frames of the same changes, compared village by village here.
    with psycopg.connect(demo["url"]) as conn:
        _, today, scen = ops.compute(conn, ops.check_shape(changes), on=local_today(), minutes=MINUTES, **TRAVEL)
    t = today.villages.set_index("village_id")["nearest_min"]
    s = scen.villages.set_index("village_id")["nearest_min"]
    expect = {int(v) for v in t.index if (pd.isna(t[v]) != pd.isna(s[v]))
              or (not pd.isna(t[v]) and abs(s[v] - t[v]) >= 1)}
    assert expect and set(stored) == expect
    assert doc["villages_changed"]["villages"] == len(expect)
    for tm, sm, band, reason in stored.values():
        if sm is not None:
            assert sm >= tm + 1 and band in ("longer_1", "longer_10") and reason == ""  # removing only lengthens
        else:
            assert tm is not None and band is None and reason == "unreachable in the scenario"
    page = c.get("/collections/scenario-villages/items", params={"scenario_id": sid, "limit": 1000}, headers=h)
    assert page.status_code == 200, page.text
    feats = page.json()["features"]
    assert {f["properties"]["settlement_id"] for f in feats} == expect
    assert all(f["properties"]["roads_generated"] is True for f in feats)
    assert c.get("/collections/scenario-villages/items", headers=demo["who"]["officer"]).status_code in (403, 404)
    c.post(f"/scenarios/{sid}/run", headers=h)
    assert _stored_villages(demo["url"], sid) == stored  # replaced, not added to
    assert c.delete(f"/scenarios/{sid}", headers=h).status_code == 204
    assert _stored_villages(demo["url"], sid) == {}


def test_a_station_added_at_a_village_brings_it_to_its_walk_leg(demo):
    v = _far_village(demo["url"])
    changes = ops.check_shape([{"op": "add_station", "lon": v["lon"], "lat": v["lat"], "name": "new"}])
    with psycopg.connect(demo["url"]) as conn:
        doc, today, scen = ops.compute(conn, changes, on=local_today(), minutes=MINUTES, **TRAVEL)
    t = today.villages.set_index("village_id").loc[v["village_id"]]
    s = scen.villages.set_index("village_id").loc[v["village_id"]]
    assert t["nearest_min"] == pytest.approx(v["today_min"])
    # Walk to the road and back (and the bit of road to the node), nothing more: the same point both ways.
    assert s["nearest_min"] * 60 == pytest.approx(2 * v["access_s"], abs=1e-6)
    assert s["nearest_min"] < t["nearest_min"] - 30
    assert s["nearest_station_id"] == -1
    assert doc["scenario"]["stations"] == doc["today"]["stations"] + 1
    for row in doc["table"]:
        assert row["scenario_population"] >= row["today_population"]


def test_a_closure_in_a_scenario_closes_roads_for_that_run_only(demo):
    c, h = demo["client"], demo["who"]["planner"]
    with psycopg.connect(demo["url"]) as conn:
        # The road at the station's own door: closing it must cost that station's villages time.
        x, y = conn.execute("SELECT ST_X(ST_ClosestPoint(e.geom, s.geom)), ST_Y(ST_ClosestPoint(e.geom, s.geom)) "
                            "FROM station s, LATERAL (SELECT geom FROM road_edge ORDER BY geom <-> s.geom LIMIT 1) e "
                            "WHERE s.id = %s", [demo["station"]]).fetchone()
    before = _snapshot(demo["url"])
    body = {"name": "landslide", "changes": [{"op": "add_closure", "reason": "landslide",
                                              "geometry": {"type": "Point", "coordinates": [x, y]}}]}
    sid = c.post("/scenarios", json=body, headers=h).json()["id"]
    doc = c.post(f"/scenarios/{sid}/run", headers=h).json()
    assert doc["scenario"]["closed_edges"] > doc["today"]["closed_edges"]
    assert doc["scenario"]["nearest_min_weighted_mean"] > doc["today"]["nearest_min_weighted_mean"]
    for row in doc["table"]:
        assert row["scenario_population"] <= row["today_population"]
    assert _snapshot(demo["url"]) == before
    # Today's side is today's coverage: the same with an empty scenario.
    empty = c.post("/scenarios", json={"name": "empty", "changes": []}, headers=h).json()["id"]
    same = c.post(f"/scenarios/{empty}/run", headers=h).json()
    assert same["table"] == [{**r, "scenario_population": r["today_population"], "change_population": 0,
                              "scenario_share": r["today_share"]} for r in same["table"]]
    assert same["today"] == doc["today"]


def test_a_run_rechecks_the_changes_on_the_current_data(demo):
    c, h = demo["client"], demo["who"]["planner"]
    with psycopg.connect(demo["url"], autocommit=True) as conn:
        other = conn.execute("SELECT id FROM station WHERE id <> %s AND (valid_to IS NULL OR valid_to >= "
                             "current_date) AND (valid_from IS NULL OR valid_from <= current_date) ORDER BY id DESC "
                             "LIMIT 1", [demo["station"]]).fetchone()[0]
        sid = c.post("/scenarios", json={"name": "x", "changes": [
            {"op": "add_station", "lon": 103.0, "lat": 21.4}, {"op": "remove_station", "station_id": other}]},
            headers=h).json()["id"]
        conn.execute("UPDATE station SET valid_to = current_date - 1 WHERE id = %s", [other])
    r = c.post(f"/scenarios/{sid}/run", headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("changes[1]: ")
    assert c.get(f"/scenarios/{sid}", headers=h).json()["last_result"] is None
    assert c.post("/scenarios/999999/run", headers=h).status_code == 404
    assert c.get("/scenarios/999999/curve.svg", headers=h).status_code == 404


def test_only_planners_and_admins_write_scenarios(demo):
    c, who = demo["client"], demo["who"]
    sid = c.post("/scenarios", json={"name": "admin's", "changes": []}, headers=who["admin"]).json()["id"]
    for role in ("officer", "commander"):
        h = who[role]
        for method, path, body in (("POST", "/scenarios", {"name": "x", "changes": []}),
                                   ("PATCH", f"/scenarios/{sid}", {"version": 1, "name": "y"}),
                                   ("PUT", f"/scenarios/{sid}", {"version": 1, "name": "y", "changes": []}),
                                   ("DELETE", f"/scenarios/{sid}", None), ("POST", f"/scenarios/{sid}/run", None)):
            r = c.request(method, path, json=body, headers=h)
            assert r.status_code == 403, (role, method, path, r.text)
            assert "planner" in r.json()["detail"]
    assert c.post("/scenarios", json={"name": "x", "changes": []}).status_code == 401
    assert c.get(f"/scenarios/{sid}", headers=who["admin"]).json()["version"] == 1


def test_apply_changes_a_copy_only():
    import pandas as pd

    st = pd.DataFrame({"station_id": [1, 2], "station_code": ["A", "B"], "station": ["a", "b"],
                       "kind": ["commune_police"] * 2, "unit_id": [10, 20], "lon": [103.0, 103.1],
                       "lat": [21.0, 21.1], "hq_status": ["independent", "planned"]})
    keep = st.copy()
    out = ops.apply(st, ops.check_shape([
        {"op": "move_station", "station_id": 1, "lon": 103.5, "lat": 21.5},
        {"op": "set_status", "station_id": 2, "hq_status": "shared"},
        {"op": "add_station", "lon": 103.2, "lat": 21.2, "hq_status": "planned"},
        {"op": "remove_station", "station_id": 2}]))
    pd.testing.assert_frame_equal(st, keep)
    assert out["station_id"].tolist() == [1, -1]
    assert out.loc[0, ["lon", "lat"]].tolist() == [103.5, 21.5] and out.loc[1, "hq_status"] == "planned"
    assert pd.isna(out.loc[1, "unit_id"])


def test_the_cli_compares_a_what_if_with_today_and_changes_nothing(demo, tmp_path):
    """`sitmap analyze scenario FILE`: removing the busiest station lowers (never raises) coverage; the
    villages' minutes with the change go to the file; the live tables are untouched; a bad file exits 2."""
    from tests.test_travel_cli import sitmap

    url = demo["url"]
    with psycopg.connect(url) as conn:
        sid = conn.execute("SELECT id FROM station WHERE code = 'CA-03127'").fetchone()[0]
        before = conn.execute("SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM station s").fetchone()[0]
    changes = tmp_path / "what-if.json"
    changes.write_text(json.dumps([{"op": "remove_station", "station_id": sid}]), encoding="utf-8")
    out = tmp_path / "villages.csv"
    run = sitmap(url, "analyze", "scenario", str(changes), "--minutes", "30,60", "--output", str(out))
    assert run.returncode == 0, run.stderr
    changes_by_limit = [int(line.rsplit("change ", 1)[1].replace(",", "")) for line in run.stdout.splitlines()
                        if line.endswith(tuple("0123456789")) and "change " in line]
    assert len(changes_by_limit) == 2 and all(c <= 0 for c in changes_by_limit) and min(changes_by_limit) < 0
    rows = [line for line in out.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    header = rows[0].split(",")
    assert "scenario_nearest_min" in header and "change_min" in header and len(rows) > 1000
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM station s").fetchone()[0] == before
    bad = sitmap(url, "analyze", "scenario", str(tmp_path / "absent.json"))
    assert bad.returncode == 2 and "not a readable JSON file" in bad.stderr
