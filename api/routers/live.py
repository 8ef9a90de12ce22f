"""``GET /live``: Server-Sent Events from the append-only ``event`` table.

Each worker process runs one ``Hub``: a dedicated connection LISTENs on ``sitmap_events`` (writers NOTIFY in
their transaction, so the signal arrives on commit, whichever worker wrote) and a pump reads the newly
deliverable events once per wake-up into an in-memory window that all of the worker's streams share. A
stream whose cursor is older than that window (a reconnect with ``Last-Event-ID``) first reads its backlog
from the table. Delivery is in (xid, id) order under the snapshot-xmin watermark (see data/ops/events.py):
an event whose transaction began earlier but committed later is never skipped, none is sent twice.

Each message: ``id: <event id>``, ``event: <kind>`` (incident_created, incident_updated, alert,
patrol_visit, station_status) and ``data: {kind, layer, unit_code, at, feature}`` where ``feature`` is a
GeoJSON Feature with the layer's public properties. ``alert`` (a new incident of severity serious or worse)
goes to commanders and admins only. A comment line ``: heartbeat`` is sent every ~15 s of silence.
Filters: ``layers=incidents,patrol-points,stations`` and ``commune=CODE`` (repeatable, comma-separated),
always within the caller's communes. Resume: the ``Last-Event-ID`` header, or ``?last_event_id=``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from psycopg_pool import AsyncConnectionPool

from api import session_cache
from api.security import Principal, require_principal
from data.ops import events
from data.ops.errors import forbidden, invalid
from data.ops.scope import COMMAND_ROLES

log = logging.getLogger("sitmap.live")
router = APIRouter(tags=["live"])

LIVE_LAYERS = ("incidents", "patrol-points", "stations")
WINDOW = 20_000  # events kept in memory per worker for streams that are up to date


class Hub:
    """One per worker: LISTEN once, read each batch of new events once, fan out to every stream."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str, poll_s: float,
                 auth_cache: session_cache.SessionCache | None = None) -> None:
        self.pool = pool
        # Sign-in cache of this worker: the same LISTEN connection evicts it (see api/session_cache.py).
        self.auth_cache = auth_cache or session_cache.SessionCache()
        self.conninfo = conninfo
        self.poll_s = poll_s
        self.keys: list[tuple[int, int]] = []
        self.items: list[events.Event] = []
        self.texts: list[str] = []  # each event serialised once per worker, not once per stream
        self.low: tuple[int, int] = (0, 0)  # the window holds every deliverable event after `low`
        self.cursor: tuple[int, int] = (0, 0)
        self.changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        # Checked by the loops as well as cancelling them: asyncio.wait_for (Python 3.11) can swallow a
        # cancellation that arrives as its wait ends, and a loop that missed it would poll forever.
        self._stopped = False

    async def start(self) -> None:
        async with self.pool.connection() as conn:
            xmin = await events.snapshot_xmin(conn)
        # Every event with xid < xmin is history; streams that do not resume start here.
        self.low = self.cursor = (xmin - 1, events.MAX_KEY)
        ready = asyncio.Event()
        self._tasks = [asyncio.create_task(self._listen(ready)), asyncio.create_task(self._pump())]
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _listen(self, ready: asyncio.Event) -> None:
        delay = 0.1
        while not self._stopped:
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {events.CHANNEL}")
                    await conn.execute(f"LISTEN {session_cache.CHANNEL}")
                    self.auth_cache.set_listening(True)
                    ready.set()
                    self._wake.set()  # anything committed while (re)connecting is read now
                    delay = 0.1
                    async for note in conn.notifies():
                        if note.channel == session_cache.CHANNEL:
                            self.auth_cache.evict_user(note.payload)
                        else:
                            self._wake.set()
            except asyncio.CancelledError:
                self.auth_cache.set_listening(False)
                raise
            except Exception as exc:  # the pump keeps polling meanwhile: nothing is lost, only later
                self.auth_cache.set_listening(False)
                log.warning("live LISTEN connection lost (%s); reconnecting", exc)
                ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _pump(self) -> None:
        timeout = self.poll_s
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            try:
                async with self.pool.connection() as conn:
                    batch, more = await events.deliverable(conn, self.cursor)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live pump could not read events (%s)", exc)
                timeout = self.poll_s
                continue
            if batch:
                self.keys.extend(e.key for e in batch)
                self.items.extend(batch)
                self.texts.extend(sse(e) for e in batch)
                self.cursor = batch[-1].key
                if len(self.items) > WINDOW:
                    cut = len(self.items) - WINDOW
                    self.low = self.keys[cut - 1]
                    del self.keys[:cut]
                    del self.items[:cut]
                    del self.texts[:cut]
                async with self.changed:
                    self.changed.notify_all()
            # Held-back events (an earlier transaction still open) are retried soon, without a NOTIFY.
            timeout = 0.01 if more else self.poll_s

    def after(self, key: tuple[int, int]) -> tuple[list[events.Event], list[str]]:
        i = bisect.bisect_right(self.keys, key)
        return self.items[i:], self.texts[i:]


async def hub_of(app: FastAPI) -> Hub:
    """The worker's hub, started by the first stream (no await between the check and the set: one start)."""
    task = getattr(app.state, "live_hub_task", None)
    if task is None:
        pool: AsyncConnectionPool = app.state.pool
        hub = app.state.live_hub = Hub(pool, pool.conninfo, app.state.settings.live_poll_s, session_cache.of(app))

        async def _start() -> Hub:
            await hub.start()
            return hub

        task = app.state.live_hub_task = asyncio.ensure_future(_start())
    return await asyncio.shield(task)


async def shutdown(app: FastAPI) -> None:
    """Stop the worker's hub, also one still starting (the first restricted read starts it in the
    background, so a worker may stop before the start is done)."""
    task, hub = getattr(app.state, "live_hub_task", None), getattr(app.state, "live_hub", None)
    app.state.live_hub_task = app.state.live_hub = None
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if hub is not None:
        await hub.stop()


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


def sse(e: events.Event) -> str:
    data = {"kind": e.kind, "layer": e.layer, "unit_code": e.unit_code, "at": e.at.isoformat(), **e.payload}
    data.pop("audience", None)
    return f"id: {e.id}\nevent: {e.kind}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


async def _filter(request: Request, principal: Principal, layers: str | None, communes: list[str]) -> Filter:
    wanted = [x.strip() for x in (layers or ",".join(LIVE_LAYERS)).split(",") if x.strip()]
    unknown = [x for x in wanted if x not in LIVE_LAYERS]
    if unknown:
        raise invalid(f"unknown live layer(s) {', '.join(unknown)}; valid: {', '.join(LIVE_LAYERS)}",
                      field="layers", valid=list(LIVE_LAYERS))
    units = principal.unit_ids
    codes = [c.strip() for raw in communes for c in raw.split(",") if c.strip()]
    if codes:
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute("SELECT code, id FROM admin_unit WHERE era = '2025' AND code = ANY(%s)",
                                     (codes,))
            found = dict(await cur.fetchall())
        missing = [c for c in codes if c not in found]
        if missing:
            raise invalid(f"no commune of 2025 has the code(s) {', '.join(missing)}", field="commune")
        outside = [c for c in codes if units is not None and found[c] not in units]
        if outside:
            raise forbidden(f"commune(s) {', '.join(outside)} lie outside your communes")
        units = frozenset(found.values())
    return Filter(frozenset(wanted), units, principal.role in COMMAND_ROLES)


async def _stream(request: Request, hub: Hub, cursor: tuple[int, int], flt: Filter,
                  heartbeat_s: float) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    while True:
        if cursor < hub.low:
            # Reconnect from before this worker's window: read the backlog up to where the window starts.
            async with hub.pool.connection() as conn:
                batch, _ = await events.deliverable(conn, cursor, 1000, upto=hub.low)
            if not batch:
                cursor = hub.low
                continue
            texts = [sse(e) for e in batch]
        else:
            batch, texts = hub.after(cursor)
        if batch:
            out = [t for e, t in zip(batch, texts, strict=True) if flt.wants(e)]
            cursor = batch[-1].key
            if out:
                yield "".join(out)
            continue
        async with hub.changed:
            try:
                await asyncio.wait_for(hub.changed.wait_for(lambda c=cursor: hub.cursor > c), timeout=heartbeat_s)
            except TimeoutError:
                yield ": heartbeat\n\n"


@router.get("/live", summary="Server-Sent Events of every write (Last-Event-ID resumes without gaps)",
            response_class=StreamingResponse)
async def live(request: Request, principal: Annotated[Principal, Depends(require_principal)],
               layers: str | None = None, commune: Annotated[list[str] | None, Query()] = None,
               last_event_id: int | None = None) -> StreamingResponse:
    flt = await _filter(request, principal, layers, commune or [])
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        try:
            last_event_id = int(header)
        except ValueError as exc:
            raise invalid(f"Last-Event-ID must be the integer id of an event, not {header!r}") from exc
    hub = await hub_of(request.app)
    if last_event_id is not None:
        async with request.app.state.pool.connection() as conn:
            cursor = await events.resume_key(conn, last_event_id)
    else:
        cursor = hub.cursor
    return StreamingResponse(_stream(request, hub, cursor, flt, request.app.state.settings.live_heartbeat_s),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
