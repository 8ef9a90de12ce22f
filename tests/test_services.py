"""The per-worker services: built once in the lifespan (never lazily by a request), one LISTEN connection that
the sign-in cache hears without any ``/live`` stream, and a sign-in gate that imports no router."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from api import session_cache
from tests.opsworld import incident_body

ROOT = Path(__file__).resolve().parents[1]
ITEMS = "/collections/incidents/items?limit=1"  # a restricted layer, public at the gate: cached lookups
TILE = "/collections/incidents/tiles/WebMercatorQuad/8/200/112"


def _until(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # poll interval of a condition with a deadline
    return True


def _members(svc) -> dict[str, int]:
    return {name: id(value) for name, value in vars(svc).items()}


def test_services_are_built_at_startup_and_requests_create_nothing(world, make_client):
    client = make_client(world.url)
    state = client.app.state
    svc = state.services
    before_state, before_members = set(vars(state)["_state"]), _members(svc)
    for name in ("tiles", "extents", "verifier", "session_cache", "listener", "hub", "waker"):
        assert getattr(svc, name) is not None, name
    assert svc.hub._tasks, "the hub is started by the lifespan, not by the first stream"
    # Everything that used to create a service on first use: restricted tiles and features (sign-in cache,
    # tile service), collections (extents), a sign-in (password verifier), a write (live waker).
    officer = world.headers("officer_a")
    assert client.get(TILE, headers=officer).status_code in (200, 204)
    assert client.get(ITEMS, headers=officer).status_code == 200
    assert client.get("/collections", headers=officer).status_code == 200
    assert client.get("/collections/communes/tiles/WebMercatorQuad").status_code == 200
    assert client.post("/auth/token", data={"username": "officer_a", "password": "wrong"}).status_code == 401
    assert client.post("/incidents", json=incident_body(), headers=officer).status_code == 201
    assert client.get("/layers").status_code == 200
    assert client.app.state.services is svc
    assert _members(svc) == before_members  # the same objects, none replaced
    assert set(vars(state)["_state"]) == before_state  # and nothing new put on app.state


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_gate_and_the_shared_dependencies_import_no_router():
    # Also imports inside functions (the gate once imported the live router to start its hub).
    for module in ("api/security.py", "api/deps.py", "api/services.py", "api/listener.py", "api/live_hub.py",
                   "api/session_cache.py", "api/live_stream.py"):
        routers = {m for m in _imports(ROOT / module) if m.startswith("api.routers")}
        assert not routers, f"{module} imports {routers}"
    # No router imports another router.
    for path in sorted((ROOT / "api/routers").glob("*.py")):
        routers = {m for m in _imports(path) if m.startswith("api.routers")}
        assert not routers, f"{path.name} imports {routers}"


def _cache_is_warm(client, world, who: str) -> bool:
    """Disable the user with the trigger switched off (no NOTIFY): a still-served request proves the cache."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE app_user SET disabled = true WHERE username = %s", (who,))
    return client.get(ITEMS, headers=world.headers(who)).status_code == 200


def _notify_auth(world, who: str) -> None:
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (session_cache.CHANNEL, str(world.user_ids[who])))


def test_a_notify_evicts_the_sign_in_cache_without_any_live_stream(world, make_client):
    client = make_client(world.url)
    svc = client.app.state.services
    assert _until(lambda: svc.listener.connected and svc.session_cache.listening)
    assert client.get(ITEMS, headers=world.headers("officer_a")).status_code == 200
    assert _cache_is_warm(client, world, "officer_a")
    _notify_auth(world, "officer_a")
    assert _until(lambda: client.get(ITEMS, headers=world.headers("officer_a")).status_code in (401, 403), 2.0)
    assert not svc.hub.subscriptions  # no stream was ever opened


def test_a_killed_listen_connection_is_reopened_and_the_cache_unused_meanwhile(world, make_client):
    client = make_client(world.url)
    svc = client.app.state.services
    assert _until(lambda: svc.listener.connected and svc.session_cache.listening)
    assert client.get(ITEMS, headers=world.headers("commander")).status_code == 200
    generation = svc.session_cache.generation
    with psycopg.connect(world.url, autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND query LIKE 'LISTEN%%'").fetchall()
    assert killed == [(True,)]  # exactly one LISTEN connection per worker
    # While it is down (a NOTIFY would go unheard) the cache serves nothing; then the listener reconnects.
    assert _until(lambda: svc.listener.connected and svc.session_cache.listening
                  and svc.session_cache.generation >= generation + 2)  # cleared when it dropped, and on reconnect
    assert client.get(ITEMS, headers=world.headers("commander")).status_code == 200
    assert _cache_is_warm(client, world, "commander")
    _notify_auth(world, "commander")
    assert _until(lambda: client.get(ITEMS, headers=world.headers("commander")).status_code in (401, 403), 2.0)
