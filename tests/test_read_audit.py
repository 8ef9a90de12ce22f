"""Every read that returns personal details writes one audit row per request, whatever the route or format;
refused writes are audited too. Counted in the real audit_log table."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest

from tests.opsworld import IN_B, incident_body
from tests.test_layers_support import COMMANDER, PLANNER, layers_template, role, seeded_db  # noqa: F401


def audit_rows(url: str, since: int, action: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT u.username, a.target, a.detail FROM audit_log a JOIN app_user u ON u.id = a.user_id "
                         "WHERE a.id > %s AND a.action = %s ORDER BY a.id", (since, action)).fetchall()


def last_id(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]


@pytest.fixture
def reads(make_client, seeded_db):  # noqa: F811
    return make_client(seeded_db, data_version_ttl_s=0.0), seeded_db


def test_a_page_of_incidents_is_one_audit_row_naming_its_ids_and_query(reads):
    api, url = reads
    start = last_id(url)
    body = api.get("/collections/incidents/items?limit=25&severity=serious", headers=COMMANDER).json()
    assert body["features"] and body["features"][0]["properties"]["description"]
    rows = audit_rows(url, start, "layer.read_personal")
    assert len(rows) == 1
    username, target, detail = rows[0]
    assert username.startswith("layers-test-commander")
    assert target == f"incidents:{len(body['features'])}"
    assert detail["ids"] == [f["id"] for f in body["features"]] and detail["count"] == len(body["features"])
    assert detail["query"] == {"limit": "25", "severity": "serious"} and detail["layer"] == "incidents"


def test_csv_and_single_features_are_audited_too(reads):
    api, url = reads
    start = last_id(url)
    text = api.get("/collections/incidents/items?f=csv&limit=7", headers=COMMANDER).text
    ids = [r["id"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))]
    rows = audit_rows(url, start, "layer.read_personal")
    assert len(rows) == 1 and len(ids) == 7
    assert rows[0][2]["ids"] == ids and rows[0][2]["format"] == "csv"
    with psycopg.connect(url) as c:
        fid = c.execute("SELECT id::text FROM incident WHERE unit_id = 3 LIMIT 1").fetchone()[0]
    start = last_id(url)
    assert api.get(f"/collections/incidents/items/{fid}", headers=role("officer", [3, 5])).status_code == 200
    rows = audit_rows(url, start, "layer.read_personal")
    assert [(r[1], r[2]["ids"]) for r in rows] == [(f"incidents:{fid}", [fid])]


def test_reads_without_personal_details_leave_no_row(reads):
    api, url = reads
    start = last_id(url)
    assert api.get("/collections/incidents/items?limit=5", headers=PLANNER).status_code == 200  # redacted
    assert api.get("/collections/communes/items?limit=5", headers=COMMANDER).status_code == 200  # none declared
    assert api.get("/collections/incidents/items?limit=5&number=-1", headers=COMMANDER).json()["features"] == []
    assert api.get("/collections/incidents/tiles/WebMercatorQuad/8/200/113", headers=COMMANDER).status_code in (
        200, 204)  # tiles never carry descriptions nor reporters
    assert audit_rows(url, start, "layer.read_personal") == []


def test_refused_writes_are_audited(client, world):
    start = last_id(world.url)
    planner = client.post("/incidents", json=incident_body(), headers=world.headers("planner"))
    assert planner.status_code == 403
    outside = client.post("/incidents", json=incident_body(IN_B), headers=world.headers("officer_a"))
    assert outside.status_code == 403
    body = incident_body()
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    other = client.post("/incidents", json={**body, "severity": "serious"}, headers=world.headers("officer_a"))
    assert other.status_code == 409
    rows = audit_rows(world.url, start, "refused")
    assert [(r[0], r[1], r[2]["status"]) for r in rows] == [
        ("planner", "POST /incidents", 403), ("officer_a", "POST /incidents", 403),
        ("officer_a", "POST /incidents", 409)]
    assert "officer" in rows[0][2]["detail"]  # the refusal says which roles may


def _rows_since(url: str, since: int) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT user_id, username, action, target, remote_addr, detail FROM audit_log "
                         "WHERE id > %s AND action <> 'refused' ORDER BY id", (since,)).fetchall()


def test_each_writer_writes_its_audit_row(client, world):
    """The rows of every operation that audits itself, field by field (one writer in data/ops/audit.py)."""
    h, uid = world.headers, world.user_ids
    start = last_id(world.url)
    body = incident_body()
    iid = body["id"]
    assert client.post("/incidents", json=body, headers=h("officer_a")).status_code == 201
    assert client.post("/incidents", json=body, headers=h("officer_a")).status_code == 200  # a retry: no row
    assert client.patch(f"/incidents/{iid}", json={"version": 1, "assignee": "officer_a", "description": "x"},
                        headers=h("commander_a")).status_code == 200
    assert client.get(f"/incidents/{iid}", headers=h("commander_a")).status_code == 200
    assert client.get(f"/incidents/{iid}", headers=h("planner")).status_code == 200  # redacted: no row
    second = incident_body(severity="serious")
    assert client.post("/incidents", json=second, headers=h("officer_a")).status_code == 201
    listed = client.get("/incidents", headers=h("commander")).json()["items"]
    visit = str(__import__("uuid").uuid4())
    assert client.post(f"/patrol-points/{world.point_a}/visits", json={"id": visit, "lon": 103.1, "lat": 21.5},
                       headers=h("officer_a")).status_code == 201
    assert client.put(f"/stations/{world.station_a}/status", json={"hq_status": "independent", "note": "n"},
                      headers=h("commander_a")).status_code == 200
    rows = _rows_since(world.url, start)
    addr = rows[0][4]
    assert addr
    assert rows == [
        (uid["officer_a"], "officer_a", "incident.create", f"incident:{iid}", addr,
         {"unit_id": world.unit_a, "category": "theft", "severity": "less_serious"}),
        (uid["commander_a"], "commander_a", "incident.update", f"incident:{iid}", addr,
         {"assignee": "officer_a", "description": "(changed)"}),
        (uid["commander_a"], "commander_a", "incident.read_personal", f"incident:{iid}", addr, {"ids": [iid]}),
        (uid["officer_a"], "officer_a", "incident.create", f"incident:{second['id']}", addr,
         {"unit_id": world.unit_a, "category": "theft", "severity": "serious"}),
        (uid["commander"], "commander", "incident.read_personal", f"incidents:{len(listed)}", addr,
         {"ids": [x["id"] for x in listed]}),
        (uid["officer_a"], "officer_a", "patrol.visit", f"patrol_point:{world.point_a}", addr,
         {"visit": visit, "accepted": True, "distance_m": 0.0}),
        (uid["commander_a"], "commander_a", "station.status", f"station:{world.station_a}", addr,
         {"from": "shared", "to": "independent", "note": "n"}),
    ]
