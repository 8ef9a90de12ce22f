"""Incidents, patrol check-ins and station status against the real PostGIS: idempotency under concurrent
retries, batch sync, validation that says what to fix, the workflow, history, audit, durable commits."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
import pytest

from tests.opsworld import IN_A, IN_B, incident_body


def _count(url: str, sql: str, *args) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()[0]


def test_commits_are_durable_before_acknowledgement(world):
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"


def test_concurrent_retries_of_one_uuid_store_one_row_and_one_event(world, start_server):
    base = start_server(world.url, workers=2)
    body = incident_body(severity="less_serious")

    async def hammer() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(*[
                http.post(f"{base}/incidents", json=body, headers=world.headers("officer_a")) for _ in range(24)])

    responses = asyncio.run(hammer())
    assert sorted(r.status_code for r in responses) == [200] * 23 + [201]
    # Every retry is told the one incident number people will quote.
    assert {r.json()["number"] for r in responses} == {
        _count(world.url, "SELECT number FROM incident WHERE id = %s", body["id"])}
    assert _count(world.url, "SELECT count(*) FROM incident WHERE id = %s", body["id"]) == 1
    assert _count(world.url, "SELECT count(*) FROM event WHERE payload->'feature'->>'id' = %s", body["id"]) == 1
    assert _count(world.url, "SELECT count(*) FROM incident_history WHERE incident_id = %s", body["id"]) == 1
    # The same id with another body is a conflict, not a retry.
    r = httpx.post(f"{base}/incidents", json={**body, "category": "drugs"}, headers=world.headers("officer_a"))
    assert r.status_code == 409 and "different body" in r.json()["detail"]


def test_batch_with_good_and_bad_items(world, client):
    good = [incident_body(), incident_body(severity="serious")]
    retry = dict(good[0])
    bad = [
        {**incident_body(), "category": "cattle"},
        {**incident_body(), "occurred_at": "2999-01-01T00:00:00+07:00"},
        {"id": "not-a-uuid"},
        incident_body(IN_B),  # outside officer_a's communes
        {**incident_body(), "description": "x" * 5000},
    ]
    r = client.post("/incidents/batch", json={"items": [*good, *bad, retry]}, headers=world.headers("officer_a"))
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 422, 422, 422, 403, 422, 200]
    assert "drugs" in results[2]["problem"]["detail"]
    assert "future" in results[3]["problem"]["detail"]
    assert results[4]["problem"]["errors"][0]["field"] == "id"
    assert "at most 4000 characters" in results[6]["problem"]["detail"]
    assert _count(world.url, "SELECT count(*) FROM incident") == 2
    assert _count(world.url, "SELECT count(*) FROM event WHERE kind = 'alert'") == 1
    too_many = {"items": [incident_body() for _ in range(501)]}
    r = client.post("/incidents/batch", json=too_many, headers=world.headers("officer_a"))
    assert r.status_code == 422 and "500" in r.json()["detail"]


@pytest.mark.parametrize("over, expect", [
    ({"lon": 104.5, "lat": 21.5}, "km outside"),
    ({"lon": 21.5, "lat": 103.1}, "swapped"),
    ({"lon": 21.5, "lat": 80.0}, "km outside"),
    ({"category": "cattle"}, "valid values: drugs"),
    ({"severity": "huge"}, "administrative"),
    ({"occurred_at": "2999-01-01T00:00:00+07:00"}, "future"),
    ({"occurred_at": "2025-01-01T00:00:00"}, "offset"),
    ({"description": "y" * 4001}, "at most 4000 characters"),
])
def test_validation_says_what_to_fix(world, client, over, expect):
    r = client.post("/incidents", json=incident_body(**over), headers=world.headers("officer_a"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert expect in r.json()["detail"]


def test_swapped_coordinates_inside_range_are_named(world, client):
    # Both orders are valid numbers here; only the swapped one lies in the province.
    r = client.post("/incidents", json=incident_body((21.5, 103.1)), headers=world.headers("officer_a"))
    assert "swapped" in r.json()["detail"]
    r = client.post("/incidents", json=incident_body((104.0, 21.5)), headers=world.headers("officer_a"))
    assert r.json()["distance_km"] == pytest.approx(62.1, abs=0.5)


def test_workflow_versions_history_and_audit(world, client):
    body = incident_body()
    iid = body["id"]
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    h = world.headers
    # The officer cannot assign; the commander can, once: the second try with the old version is stale.
    assert client.patch(f"/incidents/{iid}", json={"version": 1, "assignee": "officer_a"},
                        headers=h("officer_a")).status_code == 403
    r = client.patch(f"/incidents/{iid}", json={"version": 1, "assignee": "officer_a"}, headers=h("commander_a"))
    assert r.status_code == 200 and r.json()["status"] == "assigned" and r.json()["version"] == 2
    stale = client.patch(f"/incidents/{iid}", json={"version": 1, "status": "transferred"}, headers=h("commander"))
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    # An officer of another commune cannot be assigned; the assignee works it through.
    r = client.patch(f"/incidents/{iid}", json={"version": 2, "assignee": "officer_b"}, headers=h("commander"))
    assert r.status_code == 422
    skip = client.patch(f"/incidents/{iid}", json={"version": 2, "status": "closed"}, headers=h("officer_a"))
    assert skip.status_code == 409 and "in_progress" in skip.json()["detail"]
    assert client.patch(f"/incidents/{iid}", json={"version": 2, "status": "in_progress"},
                        headers=h("officer_a")).json()["version"] == 3
    assert client.patch(f"/incidents/{iid}", json={"version": 3, "status": "closed"},
                        headers=h("officer_a")).json()["status"] == "closed"
    hist = client.get(f"/incidents/{iid}/history", headers=h("commander")).json()["items"]
    assert [(x["from_status"], x["to_status"]) for x in hist] == [
        (None, "new"), ("new", "assigned"), ("assigned", "in_progress"), ("in_progress", "closed")]
    # Planners see the incident without personal details; reading details is audited.
    planner = client.get(f"/incidents/{iid}", headers=h("planner")).json()
    assert planner["description"] is None and planner["assignee"] is None and "description" in planner["redacted"]
    full = client.get(f"/incidents/{iid}", headers=h("commander_a")).json()
    assert full["description"] == body["description"] and full["assignee"] == "officer_a"
    with psycopg.connect(world.url) as conn:
        actions = conn.execute("SELECT username, action, remote_addr FROM audit_log WHERE target = %s ORDER BY id",
                               (f"incident:{iid}",)).fetchall()
    assert [a[1] for a in actions] == ["incident.create", "incident.update", "incident.update", "incident.update",
                                       "incident.read_personal"]
    assert actions[-1][0] == "commander_a" and actions[-1][2]  # who and from where
    assert _count(world.url, "SELECT count(*) FROM event WHERE payload->'feature'->>'id' = %s", iid) == 4


def test_patrol_check_ins_accepted_or_flagged_and_idempotent(world, client):
    near = {"id": str(uuid.uuid4()), "lon": IN_A[0] + 0.001, "lat": IN_A[1], "accuracy_m": 8}
    far = {"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1] + 0.01, "accuracy_m": 8}
    url = f"/patrol-points/{world.point_a}/visits"
    r = client.post(url, json=near, headers=world.headers("officer_a"))
    assert r.status_code == 201 and r.json()["accepted"] is True and r.json()["distance_m"] < 200
    assert client.post(url, json=near, headers=world.headers("officer_a")).status_code == 200
    r = client.post(url, json=far, headers=world.headers("officer_a"))
    assert r.status_code == 201 and r.json()["accepted"] is False
    assert r.json()["distance_m"] == pytest.approx(1107, abs=5) and "radius" in r.json()["flag"]
    assert _count(world.url, "SELECT count(*) FROM patrol_visit") == 2
    status = client.get(f"/patrol-points/{world.point_a}/status", headers=world.headers("officer_a")).json()
    assert status["overdue"] is False and status["flagged_visits"] == 1 and status["last_visit_at"]
    other = client.get(f"/patrol-points/{world.point_b}/status", headers=world.headers("officer_a")).json()
    assert other["status"] == 404


def test_check_in_radius_is_configurable(world, make_client):
    wide = make_client(world.url, checkin_radius_m=2000)
    far = {"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1] + 0.01}
    r = wide.post(f"/patrol-points/{world.point_a}/visits", json=far, headers=world.headers("officer_a"))
    assert r.status_code == 201 and r.json()["accepted"] is True and r.json()["radius_m"] == 2000


def test_station_status_with_history(world, client):
    url = f"/stations/{world.station_a}/status"
    r = client.put(url, json={"hq_status": "palace", "note": "x"}, headers=world.headers("commander_a"))
    assert r.status_code == 422 and "under_construction" in r.json()["detail"]
    r = client.put(url, json={"hq_status": "under_construction", "note": "khởi công"},
                   headers=world.headers("commander_a"))
    assert r.status_code == 200 and r.json()["previous_status"] == "shared" and r.json()["version"] == 2
    r = client.put(url, json={"hq_status": "independent", "version": 1}, headers=world.headers("commander"))
    assert r.status_code == 409
    hist = client.get(f"/stations/{world.station_a}/status-history", headers=world.headers("commander")).json()
    assert [x["hq_status"] for x in hist["items"]] == ["under_construction"]
    assert hist["items"][0]["changed_by"] == "commander_a"
    assert _count(world.url, "SELECT count(*) FROM event WHERE kind = 'station_status'") == 1
    assert _count(world.url, "SELECT sum(version) FROM data_version WHERE table_name = 'station'") >= 2
