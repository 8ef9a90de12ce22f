"""One GeoJSON feature builder (layers/geojson.py): a written row's Feature is the same whether it is read from a
feature page, from the live event its write emitted or from the write response, and personal properties never
reach the public Feature."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from layers import registry
from tests.opsworld import IN_A, incident_body

# An odd position: nine decimals, so any rounding of the coordinates shows.
ODD = (IN_A[0] + 0.012345678, IN_A[1] - 0.009876543)


def _events(url: str, kind: str) -> list[dict]:
    with psycopg.connect(url) as c:
        return [r[0] for r in c.execute("SELECT payload FROM event WHERE kind = %s ORDER BY id", (kind,))]


def _page_feature(client, layer: str, fid, headers) -> dict:
    r = client.get(f"/collections/{layer}/items/{fid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _db_point(url: str, table: str, key: str, fid) -> list[float]:
    """The stored point, rounded independently of any builder to the declared 7 digits."""
    with psycopg.connect(url) as c:
        x, y = c.execute(f"SELECT ST_X(geom), ST_Y(geom) FROM {table} WHERE {key} = %s", (fid,)).fetchone()  # noqa: S608
    return [round(x, 7), round(y, 7)]


def _public(layer_id: str) -> set[str]:
    return {p.name for p in registry.get(layer_id).properties if not p.personal}


def test_an_incident_reads_the_same_from_page_event_and_response(client, world):
    body = incident_body(ODD, severity="very_serious", reporter_name="Lò Văn A")
    created = client.post("/incidents", json=body, headers=world.headers("officer_a"))
    assert created.status_code == 201
    iid = body["id"]
    assert client.patch(f"/incidents/{iid}", json={"version": 1, "assignee": "officer_a"},
                        headers=world.headers("commander_a")).status_code == 200
    stored = _db_point(world.url, "incident", "id", iid)
    # The write response's coordinates, at the declared precision, are the stored point.
    assert [round(created.json()["lon"], 7), round(created.json()["lat"], 7)] == stored

    on_create = _events(world.url, "incident_created")[0]["feature"]  # built inside the INSERT statement
    alert = _events(world.url, "alert")[0]["feature"]
    on_update = _events(world.url, "incident_updated")[0]["feature"]  # built from the table after the UPDATE
    page = _page_feature(client, "incidents", iid, world.headers("planner"))  # a role without personal details
    full = _page_feature(client, "incidents", iid, world.headers("commander_a"))

    for f in (on_create, alert, on_update, page, full):
        assert f["type"] == "Feature" and f["id"] == iid
        assert f["geometry"] == {"type": "Point", "coordinates": stored}
    assert set(page["properties"]) == set(on_create["properties"]) == _public("incidents")
    # Public properties: what the live stream carries is what a feature page shows (status moved on update).
    assert on_create == alert
    assert {**on_create["properties"], "status": "assigned"} == on_update["properties"] == page["properties"]
    # Personal properties are shown to those allowed them on the page, and never carried by the stream.
    assert full["properties"]["reporter_name"] == "Lò Văn A" and full["properties"]["description"]
    for f in (on_create, on_update, page):
        assert "reporter_name" not in f["properties"] and "description" not in f["properties"]
    assert {k: v for k, v in full["properties"].items() if k in page["properties"]} == page["properties"]


def test_check_in_and_station_events_carry_the_layers_features(client, world):
    visit = {"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1], "accuracy_m": 5}
    assert client.post(f"/patrol-points/{world.point_a}/visits", json=visit,
                       headers=world.headers("officer_a")).status_code == 201
    assert client.put(f"/stations/{world.station_a}/status", json={"hq_status": "independent"},
                      headers=world.headers("commander_a")).status_code == 200
    for kind, layer, table, fid in (("patrol_visit", "patrol-points", "patrol_point", world.point_a),
                                    ("station_status", "stations", "station", world.station_a)):
        event = _events(world.url, kind)[0]["feature"]
        page = _page_feature(client, layer, fid, world.headers("commander_a"))
        assert event["geometry"] == {"type": "Point", "coordinates": _db_point(world.url, table, "id", fid)}
        assert set(event["properties"]) == _public(layer)
        if layer == "patrol-points":  # the page is read later: "overdue" is computed at request time
            assert event["properties"]["last_visit_at"] is not None and event["properties"]["overdue"] is False
        assert event == {k: v for k, v in page.items() if k != "links"}  # the page adds its links


def test_the_briefing_draws_the_features_of_the_layers(demo_db):
    from data.ops import briefing

    with psycopg.connect(demo_db) as conn:
        b = briefing.collect(conn, "muong cha", datetime(2026, 11, 1, 12, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
        assert b.layers["incidents"]["features"], "the demo commune has recent incidents"
        for key, table in (("incidents", "incident"), ("villages", "settlement"), ("stations", "station"),
                           ("patrol_points", "patrol_point")):
            feats = b.layers[key]["features"]
            assert feats, key
            for f in feats[:20]:
                assert f["geometry"]["coordinates"] == _db_point(demo_db, table, "id", f["id"]), key
    layer_of = {"incidents": "incidents", "villages": "villages", "stations": "stations",
                "patrol_points": "patrol-points", "unit": "communes"}
    for key, layer in layer_of.items():
        for f in b.layers[key]["features"]:
            assert set(f["properties"]) <= _public(layer), key
    # What the page's legend and popups read is there.
    assert {"category", "severity", "occurred_at"} <= set(b.layers["incidents"]["features"][0]["properties"])
    assert {"name", "hq_status"} <= set(b.layers["stations"]["features"][0]["properties"])


def test_the_public_builder_names_every_public_property_and_no_personal_one():
    from layers import geojson

    personal = 0
    for layer in registry.all_layers():
        built = geojson.public_feature_of(layer.id, "r")
        for p in layer.properties:
            assert (f"'{p.name}'" in built) is (not p.personal), (layer.id, p.name)
            personal += p.personal
    assert personal >= 2  # the incidents' description and reporter
