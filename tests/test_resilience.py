"""A database restart or outage: a private throwaway cluster that the tests stop and start.

After a restart the pool's idle connections are dead; the first request must still be answered 200 (not
500 once per pooled connection). While the database is down every request, including those the sign-in gate
answers before any route, is a 503 problem document with Retry-After, never a plain-text 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from data.db.cluster import Cluster
from data.db.migrate import migrate
from data.settings import get_settings
from tests.conftest import new_cluster_root
from tests.opsworld import World, build_world

# Four idle pooled connections, a short wait for a connection while the database is down, and reconnection
# attempts that give up quickly (then the pool reconnects when a request asks).
POOL = {"pool_min": 4, "pool_max": 8, "db_wait_s": 3.0, "db_reconnect_s": 1.0, "db_retry_after_s": 7}


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[Cluster]:
    c = Cluster.from_settings(get_settings(), root=new_cluster_root("sitmap-outage-"))
    c.start()
    yield c
    c.destroy()


@pytest.fixture
def outage_world(private_cluster: Cluster) -> Iterator[World]:
    private_cluster.start()
    url = private_cluster.url(f"outage_{uuid.uuid4().hex[:10]}")
    migrate(url)
    yield build_world(url)
    private_cluster.start()  # a failed test must not leave it stopped for the next one


def _restart(c: Cluster) -> None:
    c.stop("fast")
    c.start()
    c.wait_ready()


def _assert_unavailable(r, retry_after: str = "7") -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == retry_after
    body = r.json()
    assert body["status"] == 503 and body["database"] == "unreachable" and "retry" in body["detail"]


def test_after_a_restart_the_first_request_is_answered(private_cluster, outage_world, make_client) -> None:
    client = make_client(outage_world.url, **POOL)
    assert client.get("/health").status_code == 200
    pool = client.app.state.pool
    assert pool.get_stats()["pool_available"] >= 4  # idle connections that the restart will kill
    _restart(private_cluster)
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["database"] == "reachable"
    # The sign-in gate's own query, and a route that writes, also get a live connection at once.
    assert client.get("/auth/me", headers=outage_world.headers("admin")).status_code == 200
    _restart(private_cluster)
    assert client.get("/auth/me", headers=outage_world.headers("admin")).json()["username"] == "admin"


def test_while_the_database_is_down_every_request_is_503_then_the_first_is_200(
        private_cluster, outage_world, make_client) -> None:
    client = make_client(outage_world.url, **POOL)
    token = outage_world.headers("officer_a")
    assert client.get("/auth/me", headers=token).status_code == 200
    private_cluster.stop("fast")
    _assert_unavailable(client.get("/health"))
    _assert_unavailable(client.get("/auth/me", headers=token))  # refused by the gate, before any route
    _assert_unavailable(client.post("/auth/token", data={"username": "admin", "password": "x"}))
    _assert_unavailable(client.get("/collections/incidents/items", headers=token))
    _assert_unavailable(client.get("/health"))
    private_cluster.start()
    private_cluster.wait_ready()
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["database"] == "reachable"
    assert client.get("/auth/me", headers=token).json()["username"] == "officer_a"
