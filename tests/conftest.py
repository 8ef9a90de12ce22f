"""Fixtures: a throwaway PostGIS cluster (through the project's own ``data.db.cluster`` helper), migrated
databases cloned from templates, and the demo dataset loaded once per session."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from data.db.cluster import Cluster
from data.db.migrate import migrate
from data.settings import get_settings

# The demo in tests ends at a fixed instant, so every test sees the same data.
DEMO_SEED = 2025
DEMO_UNTIL = datetime(2026, 11, 1, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def new_cluster_root(prefix: str = "sitmap-test-") -> Path:
    # /var/tmp is reachable by the unprivileged cluster user wherever the checkout lies.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster.from_settings(get_settings(), root=new_cluster_root())
    c.start()
    yield c
    c.destroy()


def clone_database(c: Cluster, template: str, name: str | None = None) -> str:
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(c.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                     sql.Identifier(template)))
    return c.url(name)


def drop_database(c: Cluster, name: str) -> None:
    with psycopg.connect(c.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def schema_template(cluster: Cluster) -> str:
    migrate(cluster.url("schema_template"))
    return "schema_template"


@pytest.fixture
def empty_db(cluster: Cluster, schema_template: str) -> Iterator[str]:
    """URL of a fresh, migrated, empty database."""
    url = clone_database(cluster, schema_template)
    yield url
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture
def world(empty_db: str):
    """An empty database with two communes, a station each and a user of every role (tests/opsworld.py)."""
    from tests.opsworld import build_world

    return build_world(empty_db)


@pytest.fixture
def client(world, make_client):
    """A test client of the app on ``world`` (modules with another ``client`` fixture use their own)."""
    return make_client(world.url)


@pytest.fixture(scope="session")
def demo_template(cluster: Cluster, schema_template: str) -> str:
    from data.demo.loader import load_demo
    from data.ops.demo_analyses import store_for_demo

    url = clone_database(cluster, schema_template, "demo_template")
    # As `sitmap demo load`: the travel analyses are stored at the end, so the travel layers are filled.
    load_demo(url, seed=DEMO_SEED, until=DEMO_UNTIL, progress=False, then=store_for_demo)
    return "demo_template"


@pytest.fixture(scope="session")
def demo_db(cluster: Cluster, demo_template: str) -> str:
    """A session-wide demo database for tests that only read."""
    return clone_database(cluster, demo_template, "demo_read")


@pytest.fixture
def demo_db_rw(cluster: Cluster, demo_template: str) -> Iterator[str]:
    """A private copy of the demo database for a test that writes."""
    url = clone_database(cluster, demo_template)
    yield url
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture(scope="session", autouse=True)
def _artifacts_dir() -> Path:
    path = Path(os.environ.get("SITMAP_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def make_client():
    """Build a TestClient of the app bound to a database URL: ``make_client(url)``."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    clients: list[TestClient] = []

    def _make(url: str, **settings_overrides) -> TestClient:
        settings = get_settings().model_copy(update=settings_overrides)
        client = TestClient(create_app(settings, database_url=url))
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_server():
    """Run the real server (uvicorn, N workers) in a subprocess: ``start_server(url, workers=1, env=...)``.

    Readiness is observed by polling /health until it answers, never by sleeping a fixed time.
    """
    import subprocess
    import sys

    import httpx

    procs: list[subprocess.Popen] = []

    def _start(url: str, workers: int = 1, env: dict[str, str] | None = None) -> str:
        port = free_port()
        full_env = {**os.environ, "DATABASE_URL": url, **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
            env=full_env)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=2) as http:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}")
                try:
                    if http.get(f"{base}/health").status_code == 200:
                        return base
                except httpx.TransportError:
                    pass
                import select

                select.select([], [], [], 0.05)  # poll interval between readiness probes, not a sync sleep
        raise RuntimeError("server did not become ready")

    yield _start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)
