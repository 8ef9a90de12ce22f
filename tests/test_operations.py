"""Operations: liveness and readiness for a load balancer, request ids and one structured log line per request,
Prometheus metrics (in-process and across two forked workers), backups that take any database URL."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from api import logging_setup
from api.app import create_app
from api.metrics import MULTIPROC_ENV
from data.db.cluster import Cluster
from data.settings import get_settings
from tests.conftest import clone_database, drop_database, free_port
from tests.opsworld import SSE

TOKEN = "scrape-" + uuid.uuid4().hex


def poll(check: Callable[[], object], timeout: float = 15.0, every: float = 0.05) -> object:
    """The first truthy value of ``check()`` within ``timeout`` seconds (polling, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {found!r}")
        time.sleep(every)  # the poll interval of a condition with a deadline


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """A sample's value (0 when the series does not exist yet)."""
    return sum(v for n, lab, v in samples(text) if n == name and all(lab.get(k) == w for k, w in labels.items()))


def _db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _admin(cluster: Cluster) -> psycopg.Connection:
    return psycopg.connect(cluster.conninfo("postgres"), autocommit=True)


# --- liveness and readiness ------------------------------------------------------------------------------------

def test_live_answers_and_ready_checks_database_listener_and_schema(make_client, empty_db):
    client = make_client(empty_db)
    assert client.get("/health/live").json() == {"status": "live"}
    # The listener connects in the background after start: ready once it has.
    ready = poll(lambda: (r := client.get("/health/ready")).status_code == 200 and r)
    body = ready.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"]["migrations"]["database"] == body["checks"]["migrations"]["code"]
    assert client.get("/health").status_code == 200  # the old route stays

    with psycopg.connect(empty_db, autocommit=True) as conn:
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = '0001_behind'")
        try:
            r = client.get("/health/ready")
            assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
            assert r.json()["failing"] == ["migrations"] and "sitmap db migrate" in r.json()["detail"]
            assert r.json()["checks"]["migrations"]["database"] == ["0001_behind"]
            assert client.get("/health/live").status_code == 200
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert client.get("/health/ready").status_code == 200


def test_ready_is_503_naming_database_and_listener_while_the_database_is_gone(cluster, make_client, empty_db):
    client = make_client(empty_db, ready_timeout_s=1.0, db_wait_s=1.0, db_reconnect_s=1.0)
    poll(lambda: client.get("/health/ready").status_code == 200)
    name = _db_name(empty_db)
    with _admin(cluster) as admin:
        # The database goes away for this worker: no new connections, and the open ones (pool, LISTEN) end.
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            started = time.monotonic()
            r = poll(lambda: (x := client.get("/health/ready")).status_code == 503
                     and {"database", "listener"} <= set(x.json()["failing"]) and x)
            assert time.monotonic() - started < 10  # the short timeout holds: no request hangs on it
            problem = r.json()
            assert problem["type"].endswith("/not-ready") and "Retry-After" in r.headers
            assert problem["checks"]["listener"]["ok"] is False and problem["checks"]["database"]["ok"] is False
            assert client.get("/health/live").status_code == 200  # alive: a restart would not help
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
    poll(lambda: client.get("/health/ready").status_code == 200, timeout=30)


# --- request ids and log lines ---------------------------------------------------------------------------------

def test_request_id_is_taken_when_valid_generated_otherwise_and_echoed(make_client, empty_db):
    client = make_client(empty_db)
    given = "lb-7f3a.9_Z-" + "x" * 40
    assert client.get("/health/live", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    seen = set()
    for bad in ("has space", "x" * 65, "semi;colon", "\xfcnicode".encode("latin-1"), ""):
        rid = client.get("/health/live", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert rid != bad and len(rid) == 32 and int(rid, 16) >= 0
        seen.add(rid)
    assert len(seen) == 5  # a new one each time
    # Problem documents carry the same id as their header.
    r = client.get("/collections/nope", headers={"X-Request-ID": "trace-404"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "trace-404" and r.json()["request_id"] == "trace-404"
    r = client.get("/incidents")  # refused at the gate, before any router
    assert r.status_code == 401 and r.json()["request_id"] == r.headers["x-request-id"]


def test_one_json_line_per_request_with_route_template_and_user_id(world, make_client, caplog):
    client = make_client(world.url, log_format="json")
    handler = next(h for h in logging.getLogger("sitmap").handlers if isinstance(h, logging_setup._Handler))
    assert isinstance(handler.formatter, logging_setup.JsonFormatter)
    with psycopg.connect(world.url) as conn:
        (station_id,) = conn.execute("SELECT id FROM station ORDER BY id LIMIT 1").fetchone()
    caplog.set_level(logging.INFO, logger="sitmap.request")
    caplog.clear()
    r = client.get(f"/collections/stations/items/{station_id}?f=json", headers={
        **world.headers("commander"), "X-Request-ID": "req-one"})
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "sitmap.request"]
    assert len(records) == 1
    line = handler.formatter.format(records[0])
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["request_id"] == "req-one" and doc["method"] == "GET" and doc["status"] == 200
    assert doc["route"] == "/collections/{collection_id}/items/{feature_id}"
    assert str(station_id) not in doc["route"] and "f=json" not in line  # the template, not the path
    assert doc["user_id"] == world.user_ids["commander"] and "commander" not in line  # an id, no name
    assert doc["level"] == "info" and doc["duration_ms"] >= 0 and doc["time"].endswith("+00:00")

    caplog.clear()
    client.get("/no/such/path")
    (rec,) = [rec for rec in caplog.records if rec.name == "sitmap.request"]
    assert json.loads(handler.formatter.format(rec))["route"] == "unmatched"
    text = logging_setup.formatter_for("text").format(rec)
    assert "route=unmatched" in text and "status=401" in text  # refused at the gate: no route


# --- metrics ---------------------------------------------------------------------------------------------------

def test_metrics_want_the_token_and_count_requests_and_tile_cache(make_client, demo_db):
    client = make_client(demo_db, metrics_token=TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def scrape() -> str:
        r = client.get("/metrics", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        return r.text

    route = "/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}"
    before = scrape()
    for _ in range(3):
        assert client.get("/health/live").status_code == 200
    tile = "/collections/communes/tiles/WebMercatorQuad/8/112/201"  # Điện Biên
    first, second = client.get(tile), client.get(tile)
    assert first.headers["x-tile-cache"] == "miss" and second.headers["x-tile-cache"] == "hit"
    after = scrape()
    count = "sitmap_http_request_duration_seconds_count"
    assert value(after, count, route="/health/live", method="GET", status="2xx") \
        - value(before, count, route="/health/live", method="GET", status="2xx") == 3
    templated = {lab["route"] for n, lab, _ in samples(after) if n == count}
    assert route in templated, templated  # route templates, never concrete tile paths
    assert not any("/112/" in r for r in templated)
    hits = "sitmap_tile_cache_lookups_total"
    assert value(after, hits, result="hit") - value(before, hits, result="hit") == 1
    assert value(after, hits, result="miss") - value(before, hits, result="miss") == 1
    # A single node: the database answers, it is no replica, and no replica lag is invented.
    assert value(after, "sitmap_database_up") == 1 and value(after, "sitmap_database_in_recovery") == 0
    assert "sitmap_database_replica_lag_seconds" not in after
    assert value(after, "sitmap_analysis_slots") >= get_settings().travel_max_concurrent
    assert "username" not in after and "commander" not in after


def test_metrics_without_token_answer_loopback_only(demo_db):
    settings = get_settings().model_copy(update={"metrics_token": None})
    app = create_app(settings, database_url=demo_db)
    with TestClient(app, client=("10.1.2.3", 40000)) as remote:
        r = remote.get("/metrics")
        assert r.status_code == 403 and "loopback" in r.json()["detail"]
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200
        # Relayed by a proxy on this host: not a loopback caller.
        assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


@pytest.fixture
def two_workers(world):
    """``sitmap serve --workers 2``, which gives its forked workers a metrics folder; ready once /health/ready
    answers (two workers importing the app on a busy 2-core machine may take longer than start_server waits)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    env |= {"DATABASE_URL": world.url, "SITMAP_LIVE_HEARTBEAT_S": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.gettempdir()) / f"sitmap-metrics-{proc.pid}"  # api.metrics.prepare_multiprocess

    def up() -> bool:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            return httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll(up, timeout=180, every=0.2)
        yield base, folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not folder.exists()  # the parent removes its workers' files when it stops


def test_two_forked_workers_share_metrics_and_count_live_subscribers(world, two_workers):
    base, folder = two_workers

    def scrape() -> str:
        r = httpx.get(f"{base}/metrics", timeout=10)  # loopback, no token configured
        assert r.status_code == 200
        return r.text

    for _ in range(20):  # spread over both workers
        assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200
    count = "sitmap_http_request_duration_seconds_count"
    # Whichever worker answers the scrape reads every worker's counts.
    assert value(scrape(), count, route="/health/live", method="GET") == 20
    assert value(scrape(), count, route="/health/live", method="GET") == 20
    assert len({f.stem.rsplit("_", 1)[1] for f in folder.glob("*.db")}) == 2  # one set of files per worker

    assert value(scrape(), "sitmap_live_subscribers") == 0
    streams = [SSE(base, world.headers("commander")) for _ in range(3)]
    try:
        assert all(s.status == 200 for s in streams)
        poll(lambda: value(scrape(), "sitmap_live_subscribers") == 3)
    finally:
        for s in streams:
            s.close()
    poll(lambda: value(scrape(), "sitmap_live_subscribers") == 0)


def test_live_event_lag_is_measured_when_events_are_delivered(world, make_client):
    client = make_client(world.url, metrics_token=TOKEN)
    poll(lambda: client.get("/health/ready").status_code == 200)
    from api import metrics
    from tests.opsworld import incident_body

    metrics.EVENT_LAG.set(-1)  # so that only this delivery can make it positive
    assert client.post("/incidents", json=incident_body(), headers=world.headers("commander")).status_code == 201

    def lag() -> float | None:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        found = [v for n, _, v in samples(text) if n == "sitmap_live_event_lag_seconds"]
        return found[0] if found and found[0] >= 0 else None

    assert 0 <= poll(lag) < 30


# --- backups against any database URL ----------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SITMAP_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "api.cli", "db", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def fingerprint(url: str) -> tuple[dict[str, int], str]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                  for t in tables}
        (md5,) = conn.execute(
            "SELECT md5(string_agg(id::text || '|' || category || '|' || occurred_at::text || '|' "
            "|| ST_AsEWKT(geom) || '|' || coalesce(description, ''), ',' ORDER BY id)) FROM incident").fetchone()
    return counts, md5


def test_backup_with_url_restores_into_another_database(cluster, demo_db, tmp_path):
    file = tmp_path / "demo.dump"
    made = _cli("backup", "--url", demo_db, "--output", str(file))
    assert made.returncode == 0, made.stderr
    assert file.is_file() and str(file) in made.stdout

    target = f"t_restore_{uuid.uuid4().hex[:8]}"
    target_url = clone_database(cluster, "schema_template", target)  # another, empty sitmap database
    try:
        assert fingerprint(target_url)[0]["incident"] == 0
        done = _cli("restore", str(file), "--url", target_url)
        assert done.returncode == 0, done.stderr
        source_counts, source_md5 = fingerprint(demo_db)
        counts, md5 = fingerprint(target_url)
        assert source_counts["incident"] > 1000 and md5 == source_md5
        # data_version is advanced past the replaced database's, by design; every other table is identical.
        assert {t: n for t, n in counts.items() if t != "data_version"} == \
            {t: n for t, n in source_counts.items() if t != "data_version"}
    finally:
        drop_database(cluster, target)
