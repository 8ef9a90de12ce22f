"""The travel analyses over HTTP (api/routers/travel.py) on a copy of the demo and on tiny hand-made graphs:
the route's figures are geo/travel.route's, isochrones contain their station, CSV/GeoJSON carry the node
ids and the generated-roads note, roles and commune scope follow ``analysis.run``, and bad input is a 4xx
problem naming the parameter (off-road with its distance, unreachable with its reason, no roads 409)."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from api.app import create_app
from data.ops.signin import hash_password, token_hash
from data.settings import get_settings
from geo.travel.routes import route
from tests.conftest import clone_database, drop_database
from tests.test_travel_routes import NODES, build_tiny_graph

STATION = "CA-03127"  # a demo commune station (tests/test_travel_cli.py uses it too)
OFF_ROAD = "103.5,20.0"  # far south of the province: no road within the snapping distance


def _user(conn: psycopg.Connection, name: str, role: str, units: list[int]) -> dict[str, str]:
    uid = conn.execute("INSERT INTO app_user (username, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
                       (name, hash_password("not used"), role)).fetchone()[0]
    for unit in units:
        conn.execute("INSERT INTO app_user_unit (user_id, unit_id) VALUES (%s, %s)", (uid, unit))
    token = f"travel-api-{name}"
    conn.execute("INSERT INTO app_session (token_hash, user_id, kind, expires_at) "
                 "VALUES (%s, %s, 'bearer', now() + interval '1 day')", (token_hash(token), uid))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def demo(cluster, demo_template):
    """A private copy of the demo with a planner, an officer and a commander scoped to STATION's commune."""
    url = clone_database(cluster, demo_template)
    with psycopg.connect(url, autocommit=True) as conn:
        sid, unit, code = conn.execute("SELECT s.id, s.unit_id, u.code FROM station s JOIN admin_unit u "
                                       "ON u.id = s.unit_id WHERE s.code = %s", [STATION]).fetchone()
        other_sid, other_code = conn.execute(
            "SELECT s.id, u.code FROM station s JOIN admin_unit u ON u.id = s.unit_id WHERE s.kind = "
            "'commune_police' AND u.era = '2025' AND s.unit_id <> %s ORDER BY s.id LIMIT 1", [unit]).fetchone()
        who = {"planner": _user(conn, "planner", "planner", []), "officer": _user(conn, "officer", "officer", [unit]),
               "commander": _user(conn, "commander", "commander", [unit])}
    client = TestClient(create_app(get_settings(), database_url=url))
    with client:
        yield {"url": url, "client": client, "who": who, "station": sid, "commune": code,
               "other_station": other_sid, "other_commune": other_code}
    drop_database(cluster, url.split("/")[-1].split("?")[0])


def _villages(url: str, n: int = 2) -> list[tuple[float, float]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM settlement ORDER BY id "
                                               "LIMIT %s", [n]).fetchall()]


def _problem(r, status: int, parameter: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    if parameter is not None:
        assert body.get("parameter") == parameter or parameter in body["detail"], body
    return body


def test_route_answers_geo_travel_route_figures_with_the_note(demo):
    a, b = _villages(demo["url"], 40)[::39]
    r = demo["client"].get("/travel/route", params={"from": f"{a[0]},{a[1]}", "to": f"{b[0]},{b[1]}"},
                           headers=demo["who"]["planner"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    settings = get_settings()
    with psycopg.connect(demo["url"]) as conn:
        want = route(conn, a, b, max_snap_m=settings.travel_snap_max_m, walk_kmh=settings.travel_walk_kmh)
    p = doc["properties"]
    assert p["time_s"] == pytest.approx(want.travel_s, abs=1e-6) and p["minutes"] == pytest.approx(want.travel_s / 60)
    assert p["road_m"] == pytest.approx(want.road_m) and p["walk_m"] == pytest.approx(want.walk_m)
    assert p["straight_m"] == pytest.approx(want.straight_m) and p["ratio"] == pytest.approx(want.ratio)
    assert p["edges"] == list(want.edges) and doc["geometry"]["type"] == "LineString"
    assert doc["geometry"]["coordinates"][0] == pytest.approx(list(a))
    assert p["roads_generated"] is True and "generated" in p["note"] and doc["metadata"]["analysis"] == "route"


def test_route_refuses_off_road_malformed_and_outside_the_scope(demo):
    c, who = demo["client"], demo["who"]
    a = _villages(demo["url"], 1)[0]
    far = _problem(c.get("/travel/route", params={"from": OFF_ROAD, "to": f"{a[0]},{a[1]}"}, headers=who["planner"]),
                   422, "from")
    assert far["max_snap_m"] == get_settings().travel_snap_max_m and far["distance_m"] > far["max_snap_m"]
    assert f"{far['distance_m']:,.0f} m from the nearest open road" in far["detail"]
    for bad in ("abc", "103.0", "103.0,21.0,5", "nan,21", "21.3,103.0", "inf,1"):
        _problem(c.get("/travel/route", params={"from": bad, "to": "103.0,21.4"}, headers=who["planner"]), 400, "from")
    _problem(c.get("/travel/route", params={"from": "103.0,21.4"}, headers=who["planner"]), 400)
    assert c.get("/travel/route", params={"from": OFF_ROAD, "to": OFF_ROAD}, headers=who["officer"]
                 ).json()["type"].endswith("/forbidden-role")
    # The commune-scoped commander: the origin lies outside its communes.
    with psycopg.connect(demo["url"]) as conn:
        x, y = conn.execute("SELECT ST_X(s.geom), ST_Y(s.geom) FROM settlement s JOIN admin_unit u ON u.id = s.unit_id "
                            "WHERE u.code = %s LIMIT 1", [demo["other_commune"]]).fetchone()
    out = _problem(c.get("/travel/route", params={"from": f"{x},{y}", "to": f"{x},{y}"}, headers=who["commander"]),
                   403)
    assert "outside your communes" in out["detail"]


def test_isochrones_of_a_station_contain_it_and_refuse_bad_limits(demo):
    c, who = demo["client"], demo["who"]
    r = c.get("/travel/isochrones", params={"station": demo["station"], "minutes": "20,10"}, headers=who["commander"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [f["properties"]["minutes"] for f in doc["features"]] == [10, 20]
    assert doc["roads_generated"] is True and "generated" in doc["metadata"]["note"]
    with psycopg.connect(demo["url"]) as conn:
        lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM station WHERE id = %s",
                                [demo["station"]]).fetchone()
    inner, outer = (shape(f["geometry"]) for f in doc["features"])
    assert inner.contains(Point(lon, lat)) and outer.contains(inner.buffer(-1e-9))
    assert shape(c.get("/travel/isochrones", params={"at": f"{lon},{lat}", "minutes": "10"}, headers=who["planner"]
                       ).json()["features"][0]["geometry"]).contains(Point(lon, lat))
    for minutes in ("0", "-5", "241", "1,2,3,4,5,6,7", "ten", "nan"):
        _problem(c.get("/travel/isochrones", params={"station": demo["station"], "minutes": minutes},
                       headers=who["planner"]), 400, "minutes")
    _problem(c.get("/travel/isochrones", params={"station": 99_999_999}, headers=who["planner"]), 400, "station")
    _problem(c.get("/travel/isochrones", headers=who["planner"]), 400, "station")
    _problem(c.get("/travel/isochrones", params={"at": OFF_ROAD}, headers=who["planner"]), 422, "at")
    _problem(c.get("/travel/isochrones", params={"station": demo["other_station"]}, headers=who["commander"]), 403)
    _problem(c.get("/travel/isochrones", params={"station": demo["station"]}, headers=who["officer"]), 403)


def test_access_for_a_scoped_commander_is_its_communes_and_csv_has_the_node_ids(demo):
    c, who = demo["client"], demo["who"]
    mine = c.get("/analyses/access", headers=who["commander"])
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["count"] > 0 and {r["commune_code"] for r in body["rows"]} == {demo["commune"]}
    assert body["roads_generated"] is True and "generated" in body["note"]
    assert body["summaries"]["province"] is None  # a scoped caller sees no figure of other communes
    assert [s["commune_code"] for s in body["summaries"]["communes"]] == [demo["commune"]]
    assert body["summaries"]["selection"]["villages"] == body["count"]
    assert {"village_node", "nearest_station_node", "own_station_node"} <= set(body["rows"][0])
    _problem(c.get("/analyses/access", params={"commune": demo["other_commune"]}, headers=who["commander"]), 403)
    _problem(c.get("/analyses/access", params={"commune": "NOPE"}, headers=who["planner"]), 400, "commune")
    _problem(c.get("/analyses/access", params={"f": "xml"}, headers=who["planner"]), 400, "f")
    _problem(c.get("/analyses/access", headers=who["officer"]), 403)

    whole = c.get("/analyses/access", params={"f": "csv"}, headers=who["planner"])
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/csv")
    lines = whole.text.splitlines()
    assert lines[0] == "# analysis: access" and lines[1] == "# roads_generated: True" and "generated" in lines[2]
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in lines if not x.startswith("#")))))
    assert len(rows) == 1500 and {"village_node", "nearest_station_node", "nearest_station_s",
                                  "own_station_node"} <= set(rows[0])
    assert sum(r["commune_code"] == demo["commune"] for r in rows) == body["count"]
    geo = c.get("/analyses/access", params={"f": "geojson", "commune": demo["commune"]}, headers=who["planner"])
    doc = geo.json()
    assert geo.headers["content-type"].startswith("application/geo+json") and doc["metadata"]["roads_generated"]
    assert len(doc["features"]) == body["count"] and doc["features"][0]["geometry"]["type"] == "Point"


def test_savings_and_responses_carry_their_summaries(demo):
    c, who = demo["client"], demo["who"]
    r = c.get("/analyses/savings", headers=who["planner"])
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["count"] == 1500 and s["roads_generated"] is True
    assert {"before_min", "july_min", "change_total_min", "person_hours_total"} <= set(s["summaries"]["province"])
    assert s["summaries"]["farther_after_july"] == s["summaries"]["farther_after_july_province"]
    assert s["summaries"]["farther_after_july"]["villages_total"] > 0
    scoped = c.get("/analyses/savings", params={"f": "csv"}, headers=who["commander"])
    assert scoped.status_code == 200 and "# roads_generated: True" in scoped.text
    assert "village_node" in scoped.text.splitlines()[[x.startswith("#") for x in scoped.text.splitlines()]
                                                       .index(False)]
    resp = c.get("/analyses/responses", params={"since": "2025-07-01", "until": "2025-10-01"},
                 headers=who["commander"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {r["commune_code"] for r in body["rows"]} <= {demo["commune"]}
    assert all(m["commune_code"] == demo["commune"] and "p90_min" in m for m in body["summaries"]["communes_months"])
    _problem(c.get("/analyses/responses", params={"since": "2025-07-01", "until": "2025-06-01"},
                   headers=who["planner"]), 400, "since")
    _problem(c.get("/analyses/responses", params={"since": "yesterday"}, headers=who["planner"]), 400)


def test_unreachable_pairs_give_their_reason_and_no_roads_is_409(world, make_client):
    client = make_client(world.url)
    admin = world.headers("admin")
    empty = _problem(client.get("/travel/route", params={"from": "103.0,21.4", "to": "103.01,21.4"}, headers=admin),
                     409)
    assert "import roads" in empty["detail"]
    _problem(client.get("/analyses/access", headers=admin), 409)
    build_tiny_graph(world.url)

    def trip(a: int, b: int):
        return client.get("/travel/route", params={"from": "{},{}".format(*NODES[a]), "to": "{},{}".format(*NODES[b])},
                          headers=admin)

    assert trip(1, 3).json()["properties"]["time_s"] == pytest.approx(150.0)
    assert _problem(trip(1, 6), 422)["reason"] == "disconnected"
    assert _problem(trip(8, 1), 422)["reason"] == "one_way"


def test_an_analysis_runs_off_the_event_loop_and_a_full_worker_answers_503(demo):
    """One slot: while a province-wide access table is computed the worker still answers other requests,
    and a second analysis that finds no free slot within the wait is 503 with Retry-After."""
    import threading
    import time

    settings = get_settings().model_copy(update={"travel_max_concurrent": 1, "travel_queue_wait_s": 0.2})
    with TestClient(create_app(settings, database_url=demo["url"])) as client:
        runner = client.app.state.services.analyses
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=client.get("/analyses/access",
                                                                           headers=demo["who"]["planner"])))
        worker.start()
        deadline = time.monotonic() + 30
        while runner._queue.borrowed_tokens == 0 and "r" not in first:
            assert time.monotonic() < deadline, "the analysis never started"
            time.sleep(0.01)  # polling for the condition, not synchronising by a fixed wait
        assert client.get("/health").status_code == 200
        busy = client.get("/analyses/savings", headers=demo["who"]["planner"])
        still_running = runner._queue.borrowed_tokens == 1
        worker.join(timeout=120)
        assert still_running, "the first analysis ended too soon for this check"
        body = _problem(busy, 503)
        assert busy.headers["Retry-After"] and "already running" in body["detail"]
        assert first["r"].status_code == 200 and first["r"].json()["count"] == 1500
