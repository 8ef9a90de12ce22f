"""Deny by default, and the route × role × (own commune, other commune) matrix against a real server.

"own" is commune A (T001), "other" commune B (T002); commander_a and officer_a serve A only, the other roles
are province-wide. Every expected status is written out, so a change of policy shows up here.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from api.app import create_app
from api.security import is_public
from tests.opsworld import IN_A, IN_B, build_world, incident_body

ROLES = ("anonymous", "admin", "commander", "commander_a", "planner", "officer_a")

# route -> role -> (status in own commune A, status in other commune B)
MATRIX: dict[str, dict[str, tuple[int, int]]] = {
    "POST /incidents": {"admin": (201, 201), "commander": (201, 201), "commander_a": (201, 403),
                        "planner": (403, 403), "officer_a": (201, 403)},
    "POST /incidents/batch item": {"admin": (201, 201), "commander": (201, 201), "commander_a": (201, 403),
                                   "planner": (403, 403), "officer_a": (201, 403)},
    "PATCH /incidents/{id}": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 403),
                              "planner": (403, 403), "officer_a": (403, 403)},
    "GET /incidents/{id}": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 404),
                            "planner": (200, 200), "officer_a": (200, 404)},
    "GET /incidents/{id}/history": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 404),
                                    "planner": (200, 200), "officer_a": (200, 404)},
    "GET /incidents?commune": {r: (200, 200) for r in ROLES[1:]},
    "POST /patrol-points/{id}/visits": {"admin": (201, 201), "commander": (201, 201), "commander_a": (201, 403),
                                        "planner": (403, 403), "officer_a": (201, 403)},
    "GET /patrol-points/{id}/status": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 404),
                                       "planner": (200, 200), "officer_a": (200, 404)},
    "PUT /stations/{id}/status": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 403),
                                  "planner": (403, 403), "officer_a": (403, 403)},
    "GET /stations/{id}/status-history": {r: (200, 200) for r in ROLES[1:]},
    "GET /live?commune": {"admin": (200, 200), "commander": (200, 200), "commander_a": (200, 403),
                          "planner": (200, 200), "officer_a": (200, 403)},
    "GET /auth/me": {r: (200, 200) for r in ROLES[1:]},
    "GET /collections/incidents/items": {r: (200, 200) for r in ROLES[1:]},
    "GET /collections/patrol-points/items": {r: (200, 200) for r in ROLES[1:]},
}
for row in MATRIX.values():
    row["anonymous"] = (401, 401)


@pytest.fixture
def served(empty_db, start_server):
    world = build_world(empty_db)
    return start_server(empty_db), world


def _call(http: httpx.Client, base: str, world, route: str, who: str, where: str) -> int:
    unit, point = (("T001", IN_A), ("T002", IN_B))[where == "other"]
    headers = {} if who == "anonymous" else world.headers(who)
    pp = world.point_a if where == "own" else world.point_b
    st = world.station_a if where == "own" else world.station_b

    def seeded_incident() -> str:
        body = incident_body(point)
        assert http.post(f"{base}/incidents", json=body, headers=world.headers("admin")).status_code == 201
        return body["id"]

    if route == "POST /incidents":
        return http.post(f"{base}/incidents", json=incident_body(point), headers=headers).status_code
    if route == "POST /incidents/batch item":
        r = http.post(f"{base}/incidents/batch", json={"items": [incident_body(point)]}, headers=headers)
        return r.json()["results"][0]["status"] if r.status_code == 200 else r.status_code
    if route == "PATCH /incidents/{id}":
        return http.patch(f"{base}/incidents/{seeded_incident()}", json={"version": 1, "status": "transferred"},
                          headers=headers).status_code
    if route == "GET /incidents/{id}":
        return http.get(f"{base}/incidents/{seeded_incident()}", headers=headers).status_code
    if route == "GET /incidents/{id}/history":
        return http.get(f"{base}/incidents/{seeded_incident()}/history", headers=headers).status_code
    if route == "GET /incidents?commune":
        return http.get(f"{base}/incidents", params={"commune": unit}, headers=headers).status_code
    if route == "POST /patrol-points/{id}/visits":
        visit = {"id": str(uuid.uuid4()), "lon": point[0], "lat": point[1]}
        return http.post(f"{base}/patrol-points/{pp}/visits", json=visit, headers=headers).status_code
    if route == "GET /patrol-points/{id}/status":
        return http.get(f"{base}/patrol-points/{pp}/status", headers=headers).status_code
    if route == "PUT /stations/{id}/status":
        return http.put(f"{base}/stations/{st}/status", json={"hq_status": "independent"},
                        headers=headers).status_code
    if route == "GET /stations/{id}/status-history":
        return http.get(f"{base}/stations/{st}/status-history", headers=headers).status_code
    if route == "GET /live?commune":
        with http.stream("GET", f"{base}/live", params={"commune": unit}, headers=headers) as r:
            return r.status_code
    if route == "GET /auth/me":
        return http.get(f"{base}/auth/me", headers=headers).status_code
    if route.startswith("GET /collections/"):
        return http.get(f"{base}{route[4:]}", params={"limit": 5}, headers=headers).status_code
    raise AssertionError(route)


def test_route_role_commune_matrix(served):
    base, world = served
    got: dict[str, dict[str, tuple[int, int]]] = {}
    with httpx.Client(timeout=30) as http:
        for route, expected in MATRIX.items():
            got[route] = {who: (_call(http, base, world, route, who, "own"), _call(http, base, world, route, who,
                                                                                    "other"))
                          for who in expected}
    wrong = {f"{route} as {who}": (got[route][who], exp) for route, row in MATRIX.items()
             for who, exp in row.items() if got[route][who] != exp}
    assert not wrong, f"(got, expected): {wrong}"


def test_scoped_reads_filter_rows_in_sql(served):
    base, world = served
    with httpx.Client(timeout=30) as http:
        for point in (IN_A, IN_B, IN_B):
            assert http.post(f"{base}/incidents", json=incident_body(point),
                             headers=world.headers("admin")).status_code == 201
        for unit in ("T001", "T002"):
            mine = http.get(f"{base}/incidents", params={"commune": unit}, headers=world.headers("officer_a")).json()
            assert (mine["count"] > 0) == (unit == "T001")
            assert all(i["unit_code"] == "T001" for i in mine["items"])
        feats = http.get(f"{base}/collections/incidents/items", params={"limit": 1000},
                         headers=world.headers("officer_a")).json()["features"]
        assert feats and {f["properties"]["unit_id"] for f in feats} == {world.unit_a}
        planner = http.get(f"{base}/collections/incidents/items", params={"limit": 5},
                           headers=world.headers("planner")).json()["features"]
        assert planner and all("description" not in f["properties"] for f in planner)


def test_every_route_is_public_or_denied_without_sign_in(served):
    base, _ = served
    # Every operation the application declares (the OpenAPI document lists the routes of every router).
    paths = create_app().openapi()["paths"]
    checked = 0
    with httpx.Client(timeout=30) as http:
        for raw, operations in paths.items():
            path = re.sub(r"\{[^}]+\}", "1", raw)
            if is_public(path):
                continue
            for method in operations:
                r = http.request(method.upper(), f"{base}{path}")
                assert r.status_code == 401, f"{method} {path} answered {r.status_code} without sign-in"
                checked += 1
    assert checked >= 10
