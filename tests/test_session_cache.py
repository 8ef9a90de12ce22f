"""The per-worker sign-in cache of restricted-layer reads: it serves repeated requests without a session
query, and a revocation made by another process reaches the running server at once (NOTIFY), not after
the cache's TTL."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from api import session_cache
from data.ops import users
from tests.opsworld import build_world

ITEMS = "/collections/incidents/items?limit=1"  # a restricted layer, public at the gate: cached lookups


@pytest.fixture
def served(empty_db, start_server):
    world = build_world(empty_db)
    return world, start_server(world.url)


def _status_until(http: httpx.Client, url: str, headers: dict, want, within_s: float) -> tuple[int, float]:
    start = time.monotonic()
    while True:
        code = http.get(url, headers=headers).status_code
        if want(code) or time.monotonic() - start > within_s:
            return code, time.monotonic() - start


async def _disable(url: str, who: str) -> bool:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await users.disable_user(conn, who)


def _cache_is_warm(http: httpx.Client, base: str, world, who: str) -> None:
    """Disable the user with the trigger switched off (no NOTIFY): a still-served request proves the cache."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE app_user SET disabled = true WHERE username = %s", (who,))
    assert http.get(base + ITEMS, headers=world.headers(who)).status_code == 200


def test_revocation_from_another_process_reaches_the_cache_at_once(served):
    world, base = served
    refused = lambda code: code in (401, 403)  # noqa: E731
    with httpx.Client(timeout=5) as http:
        for who in ("officer_a", "commander"):
            # Warm: the first lookup starts the worker's LISTEN connection; poll until lookups are cached.
            code, _ = _status_until(http, base + ITEMS, world.headers(who), lambda c: c != 200, 0.3)
            assert code == 200
        _cache_is_warm(http, base, world, "officer_a")
        # A lost notification is bounded by the TTL; a sent one evicts at once (the hand-made NOTIFY here).
        with psycopg.connect(world.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (session_cache.CHANNEL, str(world.user_ids["officer_a"])))
        code, waited = _status_until(http, base + ITEMS, world.headers("officer_a"), refused, 1.0)
        assert refused(code) and waited < 1.0
        # The ordinary path: the ops function, from another connection; its trigger sends the NOTIFY.
        assert http.get(base + ITEMS, headers=world.headers("commander")).status_code == 200
        assert asyncio.run(_disable(world.url, "commander"))
        code, waited = _status_until(http, base + ITEMS, world.headers("commander"), refused, 1.0)
        assert refused(code) and waited < 1.0 and waited < session_cache.TTL_S
