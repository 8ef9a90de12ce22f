"""``GET /live``: Server-Sent Events from the append-only ``event`` table.

The worker's ``Hub`` (api/live_hub.py, built in the app's lifespan) reads each batch of new events once into
a window all streams share; what a stream may see and its session re-check are in api/live_stream.py. A
stream whose cursor is older than that window (a reconnect with ``Last-Event-ID``) first reads its backlog
from the table. Delivery is in (xid, id) order under the snapshot-xmin watermark (see
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
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api import live_hub
from api.deps import services
from api.live_stream import Filter, backlog, still_signed_in, stream_filter
from api.problems import Problem
from api.security import _token as security_token
from api.security import require
from data.ops import events, signin
from data.ops.errors import bad_parameter
from data.permissions import Caller

log = logging.getLogger("sitmap.live")
router = APIRouter(tags=["live"])


async def _stream(hub: live_hub.Hub, cursor: tuple[int, int], flt: Filter, principal: Caller,
                  token_hash: str | None, heartbeat_s: float) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    with hub.subscribe(principal.user_id) as sub:
        while not hub.stopped:
            if sub.recheck:
                sub.recheck = False
                if not await still_signed_in(hub.pool, token_hash, principal):
                    return
            # Cleared before reading the window: a batch appended from here on sets it again.
            sub.woken.clear()
            if cursor < hub.low:
                # Reconnect from before this worker's window: read the backlog up to where the window starts.
                batch = await backlog(hub.pool, cursor, hub.low)
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
                if not await still_signed_in(hub.pool, token_hash, principal):
                    return
                yield ": heartbeat\n\n"


@router.get("/live", summary="Server-Sent Events of every write (Last-Event-ID resumes without gaps)",
            response_class=StreamingResponse)
async def live(request: Request, principal: Annotated[Caller, Depends(require("live.subscribe"))],
               layers: str | None = None, commune: Annotated[list[str] | None, Query()] = None,
               last_event_id: int | None = None) -> StreamingResponse:
    pool = request.app.state.pool
    flt = await stream_filter(pool, principal, layers, commune or [])
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        try:
            last_event_id = int(header)
        except ValueError as exc:
            raise bad_parameter(f"Last-Event-ID must be the integer id of an event, not {header!r}",
                                "Last-Event-ID") from exc
    settings = request.app.state.settings
    hub = services(request).hub
    try:
        # Started in the lifespan; a worker that started while the database was down starts it later.
        await hub.until_started(settings.db_wait_s)
    except TimeoutError as exc:  # database unreachable: the client retries, as told by Retry-After
        log.warning("live hub not started yet (database unreachable?)")
        raise Problem(503, "Live stream unavailable", "the live stream cannot reach the database right now; "
                      "retry in a few seconds (with Last-Event-ID to resume)", type_="live-unavailable",
                      headers={"Retry-After": "2"}) from exc
    if last_event_id is not None:
        async with pool.connection() as conn:
            cursor = await events.resume_key(conn, last_event_id)
    else:
        cursor = hub.cursor
    token, _ = security_token(request.headers)
    token_hash = signin.token_hash(token) if token else None
    return StreamingResponse(_stream(hub, cursor, flt, principal, token_hash, settings.live_heartbeat_s),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
