"""Road closures: written, audited and sent live like any write; every travel analysis respects those in force
at the time it asks about (and hypothetical ones), and reopening restores the figures exactly.

The graph (on the ops world: commune A west of 103.2, B east; a station in each on the main road at lat 21.5):
a main road 1 - 2 (station A) - 3 - 6 (station B), and a valley road 3 - 4 - 5 whose only way out is the edge
3 - 4; village "Bản Thung" lies at node 5, village "Bản Đường" on the main road.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from geo.travel.access import access_table
from geo.travel.network import Closures, local_today
from geo.travel.response import response_times
from geo.travel.routes import Unreachable, route

NODES = {1: (103.05, 21.5), 2: (103.1, 21.5), 3: (103.15, 21.5), 4: (103.15, 21.53), 5: (103.15, 21.56),
         6: (103.3, 21.5)}
EDGES = {1: (1, 2), 2: (2, 3), 3: (3, 4), 4: (4, 5), 5: (3, 6)}
VALLEY_EDGE = 3
ON_VALLEY_EDGE = (103.15, 21.515)  # the middle of edge 3 - 4
VALLEY = (103.15, 21.56)
TRAVEL = {"max_snap_m": 1000.0, "walk_kmh": 4.0}
FIGURES = ["village_node", "nearest_station_id", "nearest_station_s", "nearest_station_m", "own_station_s",
           "own_station_m", "reason"]


@pytest.fixture
def roads(world):
    with psycopg.connect(world.url, autocommit=True) as conn:
        for eid, (a, b) in EDGES.items():
            conn.execute(
                "INSERT INTO road_edge (id, source, target, road_class, length_m, cost_s, reverse_cost_s, "
                "is_generated, geom) SELECT %s, %s, %s, 'commune', ST_Length(g::geography), "
                "ST_Length(g::geography) / 8.3, ST_Length(g::geography) / 8.3, false, g "
                "FROM (SELECT ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4326) g) z",
                [eid, a, b, *NODES[a], *NODES[b]])
        for name, (x, y) in (("Bản Thung", VALLEY), ("Bản Đường", (103.12, 21.5))):
            conn.execute("INSERT INTO settlement (name, name_ascii, kind, population, unit_id, geom) VALUES "
                         "(%s, 'ban', 'ban', 100, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                         [name, world.unit_a, x, y])
    return world


def access(url: str, **kw) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        return pd.DataFrame(access_table(conn, on=kw.pop("on", local_today()), **TRAVEL, **kw)
                            ).set_index("village")[FIGURES]


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def rows(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_a_closure_on_the_only_road_out_makes_the_valley_unreachable_and_reopening_restores_it(roads, make_client):
    world = roads
    api = make_client(world.url)
    before = access(world.url)
    assert np.isfinite(before.loc["Bản Thung", "nearest_station_s"]) and before.loc["Bản Thung", "reason"] == ""

    r = api.post("/closures", json={"reason": "landslide", "geometry": point(*ON_VALLEY_EDGE), "note": "QL12 km 3"},
                 headers=world.headers("planner"))
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["closes_edges"] == [VALLEY_EDGE] and c["in_force"] and c["unit_code"] == "T001" and c["version"] == 1

    during = access(world.url)
    cut = during.loc["Bản Thung"]
    assert np.isnan(cut["nearest_station_s"]) and np.isnan(cut["own_station_s"])
    assert "no road path to any station" in cut["reason"] and "no road path to its own station" in cut["reason"]
    # The village on the main road keeps its figures.
    pd.testing.assert_series_equal(during.loc["Bản Đường"], before.loc["Bản Đường"], check_exact=True)
    with psycopg.connect(world.url) as conn:
        with pytest.raises(Unreachable) as refused:
            route(conn, VALLEY, NODES[2], **TRAVEL)
        assert refused.value.reason == "closed"

    stale = api.post(f"/closures/{c['id']}/reopen", json={"version": 7}, headers=world.headers("planner"))
    assert stale.status_code == 409 and stale.headers["content-type"].startswith("application/problem+json")
    r = api.post(f"/closures/{c['id']}/reopen", json={"version": 1}, headers=world.headers("commander"))
    assert r.status_code == 200, r.text
    assert r.json()["reopened_at"] is not None and not r.json()["in_force"] and r.json()["version"] == 2
    assert api.post(f"/closures/{c['id']}/reopen", json={"version": 2},
                    headers=world.headers("planner")).status_code == 409  # reopened already

    after = access(world.url)
    pd.testing.assert_frame_equal(after, before, check_exact=True)  # the same floats, not nearly
    # While it was in force (asked about that time), the valley was cut off.
    during_then = datetime.fromisoformat(c["starts_at"]) + timedelta(microseconds=1)
    with psycopg.connect(world.url) as conn:
        then = access_table(conn, on=local_today(), **TRAVEL, closures=Closures(at=during_then))
    assert np.isnan(then.set_index("village").loc["Bản Thung", "nearest_station_s"])


def test_a_future_closure_does_not_affect_now_and_a_hypothetical_one_touches_no_data(roads, make_client):
    world = roads
    api = make_client(world.url)
    before = access(world.url)
    soon = datetime.now(UTC) + timedelta(hours=1)
    r = api.post("/closures", json={"reason": "works", "geometry": point(*ON_VALLEY_EDGE),
                                    "starts_at": soon.isoformat()}, headers=world.headers("admin"))
    assert r.status_code == 201 and not r.json()["in_force"]
    pd.testing.assert_frame_equal(access(world.url), before, check_exact=True)
    # Tomorrow's analysis (its noon) sees it; so does a question about a time after it starts.
    assert np.isnan(access(world.url, on=local_today() + timedelta(days=1)).loc["Bản Thung", "nearest_station_s"])
    later = access(world.url, closures=Closures(at=soon + timedelta(minutes=1)))
    assert np.isnan(later.loc["Bản Thung", "nearest_station_s"])

    # A what-if closure (WKT or GeoJSON) is respected without being stored.
    count = rows(world.url, "SELECT count(*) FROM road_closure")[0][0]
    for extra in ("POINT(103.15 21.515)", point(*ON_VALLEY_EDGE)):
        what_if = access(world.url, closures=Closures(extra=(extra,)))
        assert np.isnan(what_if.loc["Bản Thung", "nearest_station_s"])
        assert what_if.loc["Bản Đường", "nearest_station_s"] == before.loc["Bản Đường", "nearest_station_s"]
    assert rows(world.url, "SELECT count(*) FROM road_closure")[0][0] == count


def test_responses_use_the_roads_of_each_incidents_own_time(roads):
    world = roads
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("INSERT INTO road_closure (reason, starts_at, ends_at, geom) VALUES ('flood', "
                     "'2025-08-10T00:00:00+07', '2025-08-20T00:00:00+07', ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                     ON_VALLEY_EDGE)
        for at in ("2025-08-15T10:00:00+07", "2025-08-25T10:00:00+07"):
            conn.execute("INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES (%s, 'theft', "
                         "'less_serious', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                         [uuid.uuid4(), at, *VALLEY])
        t = response_times(conn, since=datetime(2025, 8, 1, tzinfo=UTC), until=datetime(2025, 9, 1, tzinfo=UTC),
                           **TRAVEL)
    during, after = t.sort_values("occurred_at")[["response_s", "reason"]].itertuples(index=False)
    assert np.isnan(during.response_s) and during.reason == "no road path from the station"
    assert np.isfinite(after.response_s) and after.reason == ""
    assert t.attrs["closure_networks"] == 2


def test_idempotent_retry_edits_refusals_audit_live_event_and_layer(roads, make_client):
    world = roads
    api = make_client(world.url, data_version_ttl_s=0.0)
    body = {"reason": "landslide", "geometry": {"type": "LineString", "coordinates": [[103.15, 21.51],
                                                                                       [103.15, 21.52]]},
            "client_id": str(uuid.uuid4())}
    first = api.post("/closures", json=body, headers=world.headers("commander_a"))
    again = api.post("/closures", json=body, headers=world.headers("commander_a"))
    assert (first.status_code, again.status_code) == (201, 200)
    cid = first.json()["id"]
    assert again.json()["id"] == cid
    assert rows(world.url, "SELECT count(*) FROM road_closure WHERE client_id = %s", [body["client_id"]]) == [(1,)]
    other = api.post("/closures", json={**body, "reason": "flood"}, headers=world.headers("commander_a"))
    assert other.status_code == 409

    # Roles and communes (data/permissions.py closure.manage): officers never, commander_a only in A.
    refused = api.post("/closures", json={**body, "client_id": None}, headers=world.headers("officer_a"))
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    in_b = api.post("/closures", json={"reason": "flood", "geometry": point(103.3, 21.5)},
                    headers=world.headers("commander_a"))
    assert in_b.status_code == 403 and "outside your communes" in in_b.json()["detail"]
    # Far from every road: 422 saying how far.
    far = api.post("/closures", json={"reason": "flood", "geometry": point(103.1, 21.45)},
                   headers=world.headers("admin"))
    assert far.status_code == 422 and far.json()["distance_m"] > 5000 and "m from the nearest road" in far.json()[
        "detail"]
    for bad in ({"reason": "meteor", "geometry": point(*ON_VALLEY_EDGE)},
                {"reason": "flood", "geometry": {"type": "Polygon", "coordinates": []}},
                {"reason": "flood", "geometry": point(*ON_VALLEY_EDGE), "starts_at": "2026-01-02T00:00:00+07:00",
                 "ends_at": "2026-01-01T00:00:00+07:00"}):
        r = api.post("/closures", json=bad, headers=world.headers("admin"))
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert rows(world.url, "SELECT count(*) FROM road_closure") == [(1,)]

    # Edit when it ends: stale version 409, an end before the start 422, then done.
    assert api.patch(f"/closures/{cid}", json={"version": 3, "ends_at": None},
                     headers=world.headers("planner")).status_code == 409
    assert api.patch(f"/closures/{cid}", json={"version": 1, "ends_at": "2025-01-01T00:00:00+07:00"},
                     headers=world.headers("planner")).status_code == 422
    ends = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    r = api.patch(f"/closures/{cid}", json={"version": 1, "ends_at": ends.isoformat()},
                  headers=world.headers("planner"))
    assert r.status_code == 200 and datetime.fromisoformat(r.json()["ends_at"]) == ends and r.json()["version"] == 2

    audits = rows(world.url, "SELECT action, username FROM audit_log WHERE target = %s ORDER BY id", [f"closure:{cid}"])
    assert audits == [("closure.create", "commander_a"), ("closure.edit", "planner")]
    events = rows(world.url, "SELECT kind, unit_id, payload FROM event WHERE layer = 'road-closures' ORDER BY id")
    assert [(k, u, p["step"]) for k, u, p in events] == [("closure", world.unit_a, "create"),
                                                         ("closure", world.unit_a, "edit")]
    assert events[0][2]["feature"]["id"] == cid and events[0][2]["feature"]["properties"]["reason"] == "landslide"
    assert "created_by_name" not in events[0][2]["feature"]["properties"]  # the public Feature

    # The layer: in force now by default, who recorded it only for roles with personal details.
    feats = api.get("/collections/road-closures/items", headers=world.headers("commander")).json()["features"]
    assert [f["id"] for f in feats] == [cid]
    assert feats[0]["properties"]["in_force"] is True and feats[0]["properties"]["created_by_name"] == "commander_a"
    assert feats[0]["geometry"]["type"] == "LineString"
    planner = api.get("/collections/road-closures/items", headers=world.headers("planner")).json()["features"]
    assert "created_by_name" not in planner[0]["properties"]
    listed = api.get("/closures", params={"in_force_at": datetime.now(UTC).isoformat()},
                     headers=world.headers("officer_a")).json()
    assert [c["id"] for c in listed["items"]] == [cid] and listed["items"][0]["created_by"] == "commander_a"
    assert api.get("/closures", params={"in_force_at": (ends + timedelta(hours=1)).isoformat()},
                   headers=world.headers("admin")).json()["count"] == 0

    assert api.post(f"/closures/{cid}/reopen", json={"version": 2}, headers=world.headers("admin")).status_code == 200
    assert api.get("/collections/road-closures/items", headers=world.headers("commander")).json()["features"] == []
    assert rows(world.url, "SELECT payload->>'step' FROM event WHERE layer = 'road-closures' ORDER BY id DESC "
                           "LIMIT 1") == [("reopen",)]
    assert api.get(f"/closures/{cid}", headers=world.headers("planner")).json()["reopened_by"] is None  # redacted


def test_open_maps_receive_the_closure_on_the_live_stream(roads, start_server):
    import httpx

    from tests.opsworld import SSE

    world = roads
    base = start_server(world.url)
    stream = SSE(base, world.headers("commander_a"), params={"layers": "road-closures"})
    try:
        assert stream.status == 200
        r = httpx.post(f"{base}/closures", json={"reason": "landslide", "geometry": point(*ON_VALLEY_EDGE)},
                       headers=world.headers("planner"), timeout=30)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        got = stream.wait_for(lambda ms: any(m.get("event") == "closure" for m in ms), timeout=15)
        mine = [m for m in got if m.get("event") == "closure"]
        assert mine and mine[0]["data"]["feature"]["id"] == cid and mine[0]["data"]["step"] == "create"
        assert mine[0]["data"]["feature"]["geometry"] == point(*ON_VALLEY_EDGE)
    finally:
        stream.close()
