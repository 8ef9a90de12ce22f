"""``GET /health`` on the demo: what `make run` promises the newcomer, and errors as problem+json."""

from __future__ import annotations

import psycopg


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_health_reports_versions_and_the_demo_counts(make_client, demo_db: str) -> None:
    body = make_client(demo_db).get("/health").json()
    assert body["status"] == "ok" and body["database"] == "reachable"
    assert body["postgis"].startswith("3.") and body["pgrouting"]
    summary = body["summary"]
    assert summary["units_2025"] == 45
    assert summary["units_pre2025"] == 129
    assert summary["districts_pre2025"] == 10
    for table in ("settlement", "road_edge", "station", "patrol_point", "incident"):
        assert summary[table] == body["rows"][table] == _count(demo_db, f"SELECT count(*) FROM {table}") > 0


def test_unknown_route_is_a_problem_document(make_client, demo_db: str) -> None:
    r = make_client(demo_db).get("/no/such/thing")
    assert r.status_code in (401, 404)  # deny-by-default answers before routing for non-public paths
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == r.status_code and r.json()["detail"]
