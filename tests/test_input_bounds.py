"""Bounds on what a client may send, against the real PostGIS: non-finite numbers, text sizes, body sizes,
the time an incident may have occurred, the field a problem names, one status rule for validation, and
incident numbers drawn only for incidents actually stored."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import psycopg
import pytest

from tests.opsworld import IN_A, IN_B, incident_body

WRITTEN = ("incident", "incident_history", "event", "audit_log", "patrol_visit")


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in WRITTEN}  # noqa: S608


def _post_raw(client, path: str, text: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(path, content=text.encode(), headers={**headers, "Content-Type": "application/json"})


def _with(body: dict, key: str, literal: str) -> str:
    """The body as JSON text with one value spelt literally (1e999 is how JSON says infinity)."""
    return json.dumps({**body, key: "@@"}).replace('"@@"', literal)


@pytest.mark.parametrize("key, literal", [("accuracy_m", "1e999"), ("accuracy_m", "NaN"), ("lon", "-1e999"),
                                          ("lat", "Infinity")])
def test_non_finite_numbers_are_refused_before_anything_is_written(world, client, key, literal):
    before = _counts(world.url)
    h = world.headers("officer_a")
    body = incident_body()
    for _ in range(2):  # the retry is answered the same way, not with a 500
        r = _post_raw(client, "/incidents", _with(body, key, literal), h)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == key and "finite" in r.json()["detail"]
    visit = {"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1]}
    r = _post_raw(client, f"/patrol-points/{world.point_a}/visits", _with(visit, key, literal), h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == key
    batch = json.dumps({"items": [{**body, key: "@@"}]}).replace('"@@"', literal)
    r = _post_raw(client, "/incidents/batch", batch, h)
    assert r.status_code == 200
    assert r.json()["results"][0]["status"] == 422 and r.json()["results"][0]["id"] == body["id"]
    assert _counts(world.url) == before


def test_text_fields_declare_their_maximum_in_the_openapi(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    unbounded = []
    for name in ("IncidentIn", "IncidentPatch", "VisitIn", "StatusIn"):
        for field, prop in schemas[name]["properties"].items():
            variants = prop.get("anyOf", [prop])
            if any(v.get("type") == "string" and "format" not in v and "maxLength" not in v for v in variants):
                unbounded.append(f"{name}.{field}")
    assert unbounded == []


@pytest.mark.parametrize("path, over", [
    ("/incidents", {"reporter_name": "N" * 201}),
    ("/incidents", {"category": "c" * 65}),
    ("/incidents", {"description": "d" * 4001}),
])
def test_over_long_texts_are_refused_and_not_stored(world, client, path, over):
    before = _counts(world.url)
    r = client.post(path, json=incident_body(**over), headers=world.headers("officer_a"))
    assert r.status_code == 422, r.text
    field = next(iter(over))
    assert r.json()["errors"][0]["field"] == field and "at most" in r.json()["detail"]
    assert len(r.text) < 2000  # the refused text is not echoed back whole
    assert _counts(world.url) == before


def test_patch_and_station_texts_are_bounded(world, client):
    body = incident_body()
    assert client.post("/incidents", json=body, headers=world.headers("officer_a")).status_code == 201
    r = client.patch(f"/incidents/{body['id']}", json={"version": 1, "reporter_name": "x" * 201},
                     headers=world.headers("commander"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reporter_name"
    r = client.put(f"/stations/{world.station_a}/status", json={"hq_status": "x" * 65},
                   headers=world.headers("commander"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "hq_status"


def test_a_refused_batch_item_does_not_echo_a_huge_id(world, client):
    r = client.post("/incidents/batch", json={"items": [{**incident_body(), "id": "x" * 100_000}]},
                    headers=world.headers("officer_a"))
    assert r.status_code == 200
    item = r.json()["results"][0]
    assert item["status"] == 422 and item["id"] is None and item["problem"]["errors"][0]["field"] == "id"
    assert len(r.content) < 2000


def test_bodies_over_the_cap_are_413_before_anything_is_written(world, client):
    before = _counts(world.url)
    big = incident_body(reporter_name="R" * (10 * 1024 * 1024))
    r = client.post("/incidents", json=big, headers=world.headers("officer_a"))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "1048576 bytes" in r.json()["detail"]
    # Without a Content-Length (chunked), the body is counted as it is read.
    chunks = (b"x" * 65536 for _ in range(32))
    r = client.post("/incidents", content=chunks, headers={**world.headers("officer_a"),
                                                           "Content-Type": "application/json"})
    assert r.status_code == 413 and "1048576 bytes" in r.json()["detail"]
    # An anonymous sign-in with a 5 MB user name writes no 5 MB audit row: the body is refused first.
    r = client.post("/auth/login", json={"username": "u" * (5 * 1024 * 1024), "password": "p"})
    assert r.status_code == 413
    r = client.post("/auth/token", data={"username": "u" * (5 * 1024 * 1024), "password": "p"})
    assert r.status_code == 413
    # A batch item with a 10 MB id is refused with the whole batch, which has its own larger cap.
    r = client.post("/incidents/batch", json={"items": [{"id": "x" * (10 * 1024 * 1024)}]},
                    headers=world.headers("officer_a"))
    assert r.status_code == 413 and "split the batch" in r.json()["detail"]
    assert _counts(world.url) == before


def test_a_full_batch_fits_its_own_cap(world, client):
    # 500 items of 2,500 characters each: about 1.4 MB, over the default cap, under the batch's.
    items = [incident_body(description="Mất trộm " * 250) for _ in range(500)]
    r = client.post("/incidents/batch", json={"items": items}, headers=world.headers("officer_a"))
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {201}


def test_body_caps_are_settings(world, make_client):
    small = make_client(world.url, max_body_bytes=300)
    r = small.post("/incidents", json=incident_body(description="x" * 400), headers=world.headers("officer_a"))
    assert r.status_code == 413 and "300 bytes" in r.json()["detail"]
    r = small.post("/incidents", json=incident_body(description=None), headers=world.headers("officer_a"))
    assert r.status_code == 201


def test_a_streamed_body_over_the_cap_is_413_from_the_real_server(world, start_server):
    base = start_server(world.url)

    def chunks():
        for _ in range(64):  # 4 MiB in 64 KiB chunks, no Content-Length
            yield b" " * 65536

    with httpx.Client(timeout=30) as http:
        r = http.post(f"{base}/incidents", content=chunks(),
                      headers={**world.headers("officer_a"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("when", ["1990-05-01T08:00:00+07:00", "2025-06-30T23:59:00+07:00"])
def test_occurred_at_before_the_boundaries_of_2025_is_refused(world, client, when):
    r = client.post("/incidents", json=incident_body(occurred_at=when), headers=world.headers("officer_a"))
    assert r.status_code == 422
    problem = r.json()
    assert problem["field"] == "occurred_at" and "2025-07-01" in problem["detail"]
    assert "commune" in problem["detail"]  # says why
    visit = {"id": str(uuid.uuid4()), "lon": IN_A[0], "lat": IN_A[1], "visited_at": when}
    r = client.post(f"/patrol-points/{world.point_a}/visits", json=visit, headers=world.headers("officer_a"))
    assert r.status_code == 422 and r.json()["field"] == "visited_at"
    assert client.post("/incidents", json=incident_body(occurred_at="2025-07-01T00:00:00+07:00"),
                       headers=world.headers("officer_a")).status_code == 201


def test_the_earliest_occurred_at_is_a_setting(world, make_client):
    older = make_client(world.url, earliest_occurred_at=datetime.fromisoformat("2020-01-01T00:00:00+07:00"))
    r = older.post("/incidents", json=incident_body(occurred_at="2024-03-01T08:00:00+07:00"),
                   headers=world.headers("officer_a"))
    assert r.status_code == 201


def test_malformed_json_names_the_body(world, client):
    r = _post_raw(client, "/incidents", '{"id": "abc",\n "lon": ', world.headers("officer_a"))
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    err = r.json()["errors"][0]
    assert err["field"] == "body" and "not valid JSON" in err["reason"] and "line 2" in err["reason"]


@pytest.mark.parametrize("point, field", [((103.1, 95.0), "lat"), ((103.1, -91.0), "lat"), ((181.0, 21.5), "lon"),
                                          ((21.5, 103.1), "lat")])
def test_out_of_range_coordinates_name_the_right_field(world, client, point, field):
    r = client.post("/incidents", json=incident_body(point), headers=world.headers("officer_a"))
    assert r.status_code == 422 and r.json()["field"] == field, r.json()
    visit = {"id": str(uuid.uuid4()), "lon": point[0], "lat": point[1]}
    r = client.post(f"/patrol-points/{world.point_a}/visits", json=visit, headers=world.headers("officer_a"))
    assert r.status_code == 422 and r.json()["field"] == field, r.json()


def test_one_status_rule_for_validation(world, client):
    """422: a JSON body whose values are refused; 400: a request that cannot be taken as sent (a body that
    is not JSON, a wrong path, query or header parameter)."""
    h = world.headers("commander")
    assert client.get("/incidents?status=lost", headers=h).status_code == 400
    assert client.get("/incidents?status=lost", headers=h).json()["parameter"] == "status"
    assert client.get("/incidents?limit=0", headers=h).status_code == 400
    assert client.get("/incidents/not-a-uuid", headers=h).status_code == 400
    assert client.post("/incidents", json=incident_body(category="cattle"), headers=h).status_code == 422
    assert client.post("/incidents", json={"id": "x"}, headers=h).status_code == 422
    assert _post_raw(client, "/incidents", "{", h).status_code == 400


def test_retries_and_refusals_draw_no_incident_number(world, client):
    h = world.headers("officer_a")
    first = incident_body()
    r = client.post("/incidents", json=first, headers=h)
    assert r.status_code == 201
    n = r.json()["number"]
    for _ in range(3):  # retries
        assert client.post("/incidents", json=first, headers=h).status_code == 200
    assert client.post("/incidents", json={**first, "category": "drugs"}, headers=h).status_code == 409
    assert client.post("/incidents", json=incident_body(IN_B), headers=h).status_code == 403
    assert client.post("/incidents", json=incident_body((104.5, 21.5)), headers=h).status_code == 422
    assert client.post("/incidents", json=incident_body(category="cattle"), headers=h).status_code == 422
    batch = [first, {**first, "severity": "serious"}, incident_body(IN_B), incident_body(category="cattle")]
    r = client.post("/incidents/batch", json={"items": batch}, headers=h)
    assert [x["status"] for x in r.json()["results"]] == [200, 409, 403, 422]
    r = client.post("/incidents", json=incident_body(), headers=h)
    assert r.status_code == 201 and r.json()["number"] == n + 1
    r = client.post("/incidents/batch", json={"items": [incident_body(), first, incident_body()]}, headers=h)
    assert [x["status"] for x in r.json()["results"]] == [201, 200, 201]
    with psycopg.connect(world.url) as conn:
        numbers = [row[0] for row in conn.execute("SELECT number FROM incident ORDER BY number")]
    assert numbers == list(range(n, n + 4))


def test_a_closed_station_keeps_its_status(world, client):
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE station SET valid_to = current_date - 1 WHERE id = %s", (world.station_a,))
    r = client.put(f"/stations/{world.station_a}/status", json={"hq_status": "independent"},
                   headers=world.headers("commander"))
    assert r.status_code == 409 and "closed" in r.json()["detail"] and "valid_to" in r.json()["detail"]
    assert "import" in r.json()["detail"]  # how to reopen it
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT hq_status FROM station WHERE id = %s", (world.station_a,)).fetchone()[0] == \
            "shared"
    # Closing today: still open until the day is over, as the stations layer counts validity.
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE station SET valid_to = current_date WHERE id = %s", (world.station_b,))
    r = client.put(f"/stations/{world.station_b}/status", json={"hq_status": "independent"},
                   headers=world.headers("commander"))
    assert r.status_code == 200


def test_the_same_status_again_changes_nothing(world, client):
    url = f"/stations/{world.station_a}/status"
    before = _counts(world.url)
    r = client.put(url, json={"hq_status": "shared", "note": "vẫn vậy"}, headers=world.headers("commander"))
    assert r.status_code == 200
    assert r.json()["hq_status"] == "shared" and r.json()["version"] == 1 and r.json()["changed"] is False
    hist = client.get(f"/stations/{world.station_a}/status-history", headers=world.headers("commander")).json()
    assert hist["items"] == []
    assert _counts(world.url) == before


def test_status_history_of_a_missing_station_is_404(world, client):
    r = client.get("/stations/999999/status-history", headers=world.headers("commander"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/stations/{world.station_a}/status-history",
                      headers=world.headers("commander")).json() == {"items": []}
