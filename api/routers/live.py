"""``GET /live``: Server-Sent Events from the append-only ``event`` table.

The worker's ``Hub`` (api/live_hub.py) LISTENs and reads each batch of new events once into a window all
streams share. A stream whose cursor is older than that window (a reconnect with ``Last-Event-ID``) first
reads its backlog from the table. Delivery is in (xid, id) order under the snapshot-xmin watermark (see
data/ops/events.py): an event whose transaction began earlier but committed later is never skipped, none is
sent twice.

Each message: ``id: <event id>``, ``event: <kind>`` (incident_created, incident_updated, alert,
patrol_visit, station_status) and ``data: {kind, layer, unit_code, at, feature}`` where ``feature`` is a
GeoJSON Feature with the layer's public properties. ``alert`` (a new incident of severity serious or worse)
goes to commanders and admins only. A comment line ``: heartbeat`` is sent every ~15 s of silence.
Filters: ``layers=incidents,patrol-points,stations`` and ``commune=CODE`` (repeatable, comma-separated),
always within the caller's communes. Resume: the ``Last-Event-ID`` header, or ``?last_event_id=``.

A stream lives only as long as its sign-in: it ends when its session is revoked (logout), its user disabled
or its session expired, or its user's role or communes change (the client reconnects under the new scope).
It re-checks its session (one query) on every ``sitmap_auth`` notification for its user, whenever the hub's
LISTEN connection (re)connects, and at every heartbeat, so even a lost notification is bounded by
``SITMAP_LIVE_HEARTBEAT_S``. A re-check that cannot reach the database ends the stream too (fail closed;
the client resumes without gaps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from psycopg_pool import AsyncConnectionPool

from api import credentials, live_hub
from api.live_hub import hub_of, shutdown  # noqa: F401 (the app and the auth gate reach the hub here)
from api.problems import Problem
from api.security import Principal, require
from api.security import _token as security_token
from data.ops import events, users
from data.ops.errors import bad_parameter, forbidden
from data.permissions import communes_for, may

log = logging.getLogger("sitmap.live")
router = APIRouter(tags=["live"])

LIVE_LAYERS = ("incidents", "patrol-points", "stations")
T = TypeVar("T")


@dataclass(frozen=True)
class Filter:
    layers: frozenset[str]
    units: frozenset[int] | None  # None: every unit (province-wide caller, no commune filter)
    alerts: bool

    def wants(self, e: events.Event) -> bool:
        if e.layer not in self.layers:
            return False
        if e.kind == "alert" and not self.alerts:
            return False
        return self.units is None or e.unit_id in self.units


async def _filter(request: Request, principal: Principal, layers: str | None, communes: list[str]) -> Filter:
    wanted = [x.strip() for x in (layers or ",".join(LIVE_LAYERS)).split(",") if x.strip()]
    unknown = [x for x in wanted if x not in LIVE_LAYERS]
    if unknown:
        raise bad_parameter(f"unknown live layer(s) {', '.join(unknown)}; valid: {', '.join(LIVE_LAYERS)}",
                            "layers", valid=list(LIVE_LAYERS))
    units = communes_for(principal, "live.subscribe")
    codes = [c.strip() for raw in communes for c in raw.split(",") if c.strip()]
    if codes:
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute("SELECT code, id FROM admin_unit WHERE era = '2025' AND code = ANY(%s)",
                                     (codes,))
            found = dict(await cur.fetchall())
        missing = [c for c in codes if c not in found]
        if missing:
            raise bad_parameter(f"no commune of 2025 has the code(s) {', '.join(missing)}", "commune")
        outside = [c for c in codes if units is not None and found[c] not in units]
        if outside:
            raise forbidden(f"commune(s) {', '.join(outside)} lie outside your communes")
        units = frozenset(found.values())
    return Filter(frozenset(wanted), units, may(principal, "alert.receive"))


_queries: set[asyncio.Task] = set()  # strong references to queries whose stream has gone meanwhile


async def _uncancelled(coro: Coroutine[Any, Any, T]) -> T:
    """Run a stream's query in its own task: a client leaving mid-query cancels only the waiting, never the
    query, which would otherwise close its pooled connection (hundreds of leaving clients drained the pool)."""
    task = asyncio.ensure_future(coro)
    _queries.add(task)
    task.add_done_callback(_forget)
    return await asyncio.shield(task)


def _forget(task: asyncio.Task) -> None:
    _queries.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an error after its stream has gone is not worth a warning


async def _still_signed_in(pool: AsyncConnectionPool, token_hash: str | None, principal: Principal) -> bool:
    """Whether the stream's session still stands for the same user, role and communes."""
    return await _uncancelled(_session_matches(pool, token_hash, principal))


async def _backlog(pool: AsyncConnectionPool, cursor: tuple[int, int],
                   upto: tuple[int, int]) -> list[events.Event]:
    async with pool.connection() as conn:
        batch, _ = await events.deliverable(conn, cursor, 1000, upto=upto)
    return batch


async def _session_matches(pool: AsyncConnectionPool, token_hash: str | None, principal: Principal) -> bool:
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


async def _stream(hub: live_hub.Hub, cursor: tuple[int, int], flt: Filter, principal: Principal,
                  token_hash: str | None, heartbeat_s: float) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    with hub.subscribe(principal.user_id) as sub:
        while not hub.stopped:
            if sub.recheck:
                sub.recheck = False
                if not await _still_signed_in(hub.pool, token_hash, principal):
                    return
            # Cleared before reading the window: a batch appended from here on sets it again.
            sub.woken.clear()
            if cursor < hub.low:
                # Reconnect from before this worker's window: read the backlog up to where the window starts.
                batch = await _uncancelled(_backlog(hub.pool, cursor, hub.low))
                if not batch:
                    cursor = hub.low
                    continue
                texts = [live_hub.sse(e) for e in batch]
            else:
                batch, texts = hub.after(cursor)
            if batch:
                out = [t for e, t in zip(batch, texts, strict=True) if flt.wants(e)]
                cursor = batch[-1].key
                if out:
                    yield "".join(out)
                continue
            try:
                # Only this stream's own event is awaited: cancelling here (the client left) touches no
                # shared state.
                async with asyncio.timeout(heartbeat_s):
                    await sub.woken.wait()
            except TimeoutError:
                # Bound on revocation without any notification: one session query per heartbeat.
                if not await _still_signed_in(hub.pool, token_hash, principal):
                    return
                yield ": heartbeat\n\n"


@router.get("/live", summary="Server-Sent Events of every write (Last-Event-ID resumes without gaps)",
            response_class=StreamingResponse)
async def live(request: Request, principal: Annotated[Principal, Depends(require("live.subscribe"))],
               layers: str | None = None, commune: Annotated[list[str] | None, Query()] = None,
               last_event_id: int | None = None) -> StreamingResponse:
    flt = await _filter(request, principal, layers, commune or [])
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        try:
            last_event_id = int(header)
        except ValueError as exc:
            raise bad_parameter(f"Last-Event-ID must be the integer id of an event, not {header!r}",
                                "Last-Event-ID") from exc
    try:
        hub = await hub_of(request.app)
    except Exception as exc:  # noqa: BLE001 (database unreachable: the client retries, as told by Retry-After)
        log.warning("live hub could not start (%s)", exc)
        raise Problem(503, "Live stream unavailable", "the live stream cannot reach the database right now; "
                      "retry in a few seconds (with Last-Event-ID to resume)", type_="live-unavailable",
                      headers={"Retry-After": "2"}) from exc
    if last_event_id is not None:
        async with request.app.state.pool.connection() as conn:
            cursor = await events.resume_key(conn, last_event_id)
    else:
        cursor = hub.cursor
    token, _ = security_token(request.headers)
    token_hash = credentials.token_hash(token) if token else None
    return StreamingResponse(_stream(hub, cursor, flt, principal, token_hash,
                                     request.app.state.settings.live_heartbeat_s),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
