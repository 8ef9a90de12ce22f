"""What one ``/live`` stream may see, and whether its sign-in still stands (the route is api/routers/live.py).

A stream's queries (its session re-check, its backlog) run in tasks of their own, so a client leaving
mid-query cancels only the waiting, never the query: a cancelled query closes its pooled connection, and
hundreds of leaving clients drained the pool into 503s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from data.ops import events, notifications, unit_info, users
from data.ops.errors import bad_parameter, forbidden
from data.permissions import Caller, communes_for, may

log = logging.getLogger("sitmap.live")

LIVE_LAYERS = ("incidents", "patrol-points", "stations", "key-areas", "road-closures")
T = TypeVar("T")


@dataclass(frozen=True)
class Filter:
    layers: frozenset[str]
    units: frozenset[int] | None  # None: every unit (province-wide caller, no commune filter)
    alerts: bool
    user_id: int | None = None  # a notification's events go to their recipient only, whatever the layers

    def wants(self, e: events.Event) -> bool:
        if e.kind in notifications.PERSONAL_EVENTS:
            return self.user_id is not None and e.payload.get("user_id") == self.user_id
        if e.layer not in self.layers:
            return False
        if e.kind == "alert" and not self.alerts:
            return False
        return self.units is None or e.unit_id in self.units


async def stream_filter(pool: AsyncConnectionPool, principal: Caller, layers: str | None,
                        communes: list[str]) -> Filter:
    """The filter of ``?layers=`` and ``?commune=`` within the caller's communes; 400/403 problems."""
    wanted = [x.strip() for x in (layers or ",".join(LIVE_LAYERS)).split(",") if x.strip()]
    unknown = [x for x in wanted if x not in LIVE_LAYERS]
    if unknown:
        raise bad_parameter(f"unknown live layer(s) {', '.join(unknown)}; valid: {', '.join(LIVE_LAYERS)}",
                            "layers", valid=list(LIVE_LAYERS))
    units = communes_for(principal, "live.subscribe")
    codes = [c.strip() for raw in communes for c in raw.split(",") if c.strip()]
    if codes:
        async with pool.connection() as conn:
            found = await unit_info.commune_ids(conn, codes, era="2025")
        missing = [c for c in codes if c not in found]
        if missing:
            raise bad_parameter(f"no commune of 2025 has the code(s) {', '.join(missing)}", "commune")
        outside = [c for c in codes if units is not None and found[c] not in units]
        if outside:
            raise forbidden(f"commune(s) {', '.join(outside)} lie outside your communes")
        units = frozenset(found.values())
    return Filter(frozenset(wanted), units, may(principal, "alert.receive"), principal.user_id)


_queries: set[asyncio.Task] = set()  # strong references to queries whose stream has gone meanwhile


async def uncancelled(coro: Coroutine[Any, Any, T]) -> T:
    """Run a stream's query in its own task (see the module's docstring)."""
    task = asyncio.ensure_future(coro)
    _queries.add(task)
    task.add_done_callback(_forget)
    return await asyncio.shield(task)


def _forget(task: asyncio.Task) -> None:
    _queries.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an error after its stream has gone is not worth a warning


async def still_signed_in(pool: AsyncConnectionPool, token_hash: str | None, principal: Caller) -> bool:
    """Whether the stream's session still stands for the same user, role and communes."""
    return await uncancelled(_session_matches(pool, token_hash, principal))


async def backlog(pool: AsyncConnectionPool, cursor: tuple[int, int],
                  upto: tuple[int, int]) -> list[events.Event]:
    """Deliverable events after ``cursor`` up to ``upto`` (the start of the hub's window), at most 1000."""
    return await uncancelled(_backlog(pool, cursor, upto))


async def _backlog(pool: AsyncConnectionPool, cursor: tuple[int, int],
                   upto: tuple[int, int]) -> list[events.Event]:
    async with pool.connection() as conn:
        batch, _ = await events.deliverable(conn, cursor, 1000, upto=upto)
    return batch


async def _session_matches(pool: AsyncConnectionPool, token_hash: str | None, principal: Caller) -> bool:
    if token_hash is None:
        return False
    try:
        async with pool.connection() as conn:
            found = await users.session_user(conn, token_hash)
    except Exception as exc:  # noqa: BLE001 (fail closed; the client reconnects and resumes without gaps)
        log.warning("live stream could not re-check its session (%s); ending it", exc)
        return False
    return (found is not None and found.user_id == principal.user_id and found.caller.role == principal.role
            and found.caller.unit_ids == principal.unit_ids)
