"""The worker's live hub: LISTEN once, read each batch of new events once, wake every stream.

Each worker process runs one ``Hub``: a dedicated connection LISTENs on ``sitmap_events`` (writers NOTIFY in
their transaction, or the incident route's ``Waker`` after its commit, whichever worker wrote) and a pump
reads the newly deliverable events once per wake-up into an in-memory window that all of the worker's
streams share. Delivery is in (xid, id) order under the snapshot-xmin watermark (see data/ops/events.py).

Wake-up: every stream owns a ``Subscription`` with its own ``asyncio.Event`` that only the pump and the
listener set and only that stream waits on. A stream cancelled because its client left therefore touches
nothing but its own event (no shared lock or condition: a cancelled ``wait_for`` on a shared
``asyncio.Condition`` once left its lock released twice and froze every later stream of the worker).

The hub does not own a connection for LISTEN: it subscribes to the worker's ``Listener`` (api/listener.py),
whose ``sitmap_events`` notifications wake the pump and whose ``sitmap_auth`` notifications (the user id of
every session/user change; the sign-in cache, api/session_cache.py, hears them too) flag that user's streams
to re-check their session. The hub is built and started in the app's lifespan (api/services.py); it is
``started`` once it has read its starting point and the listener's first connection attempt has ended.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from api import metrics, session_cache
from api.listener import Listener
from data.ops import events

log = logging.getLogger("sitmap.live")

WINDOW = 20_000  # events kept in memory per worker for streams that are up to date
START_TIMEOUT_S = 10.0


def sse(e: events.Event) -> str:
    data = {"kind": e.kind, "layer": e.layer, "unit_code": e.unit_code, "at": e.at.isoformat(), **e.payload}
    data.pop("audience", None)
    return f"id: {e.id}\nevent: {e.kind}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


@dataclass(eq=False)
class Subscription:
    """One stream's private wake-up: ``woken`` is set when the window grows, the hub stops or the
    stream's session must be re-checked (``recheck``)."""

    user_id: int | None
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    recheck: bool = False

    def wake(self, recheck: bool = False) -> None:
        self.recheck = self.recheck or recheck
        self.woken.set()


class Hub:
    """One per worker: read each batch of new events once, fan out to every stream."""

    def __init__(self, pool: AsyncConnectionPool, poll_s: float) -> None:
        self.pool = pool
        self.poll_s = poll_s
        self.keys: list[tuple[int, int]] = []
        self.items: list[events.Event] = []
        self.texts: list[str] = []  # each event serialised once per worker, not once per stream
        self.low: tuple[int, int] = (0, 0)  # the window holds every deliverable event after `low`
        self.cursor: tuple[int, int] = (0, 0)
        self.subscriptions: set[Subscription] = set()
        self.started = asyncio.Event()
        self._listener: Listener | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        # Checked by the loops as well as cancelling them, so a stop can never be missed by a loop.
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    def attach(self, listener: Listener) -> None:
        """Subscribe to the worker's LISTEN connection (before it starts)."""
        self._listener = listener
        listener.on(events.CHANNEL, lambda _payload: self._wake.set())
        listener.on(session_cache.CHANNEL, self._auth_changed)
        listener.watch(self._connected, lambda: None)  # while it is down the pump polls: nothing is lost

    def start(self) -> None:
        """Start in the background: the pump first reads its starting point, retrying while the database is
        down (a worker starts as it did without a hub: only the pool's opening waits for the database)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(), name="sitmap-live-hub")]

    async def until_started(self, timeout_s: float) -> None:
        """Wait for the start; TimeoutError when it takes longer (database down)."""
        async with asyncio.timeout(timeout_s):
            await self.started.wait()

    async def stop(self) -> None:
        """Stop, also while still starting (the worker may stop before the database answered)."""
        self._stopped = True
        self._wake.set()
        self._wake_all()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    @contextlib.contextmanager
    def subscribe(self, user_id: int | None) -> Iterator[Subscription]:
        """Register a stream for wake-ups while the block runs; leaving it (also by cancellation) only
        removes the stream's own entry."""
        sub = Subscription(user_id)
        self.subscriptions.add(sub)
        try:
            with metrics.live_subscriber():
                yield sub
        finally:
            self.subscriptions.discard(sub)

    def after(self, key: tuple[int, int]) -> tuple[list[events.Event], list[str]]:
        i = bisect.bisect_right(self.keys, key)
        return self.items[i:], self.texts[i:]

    def _wake_all(self, recheck: bool = False) -> None:
        for sub in list(self.subscriptions):
            sub.wake(recheck)

    def _auth_changed(self, payload: str) -> None:
        uid = session_cache.user_id_of(payload)
        for sub in list(self.subscriptions):
            if uid is None or sub.user_id == uid:
                sub.wake(recheck=True)

    def _connected(self) -> None:
        self._wake.set()  # anything committed while (re)connecting is read now
        # A session revoked while the connection was down sent a notification nobody heard.
        self._wake_all(recheck=True)

    async def _run(self) -> None:
        delay = self.poll_s
        while not self._stopped:
            try:
                async with self.pool.connection() as conn:
                    xmin = await events.snapshot_xmin(conn)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (database down: /live answers 503 until started)
                log.warning("live hub cannot read its starting point yet (%s); retrying", exc)
                await asyncio.sleep(delay)
        else:
            return
        # Every event with xid < xmin is history; streams that do not resume start here.
        self.low = self.cursor = (xmin - 1, events.MAX_KEY)
        if self._listener is not None:
            # Streams opened from now on are woken by NOTIFY, not only by polling (or the listener failed
            # once and keeps retrying in the background; the pump polls meanwhile).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(START_TIMEOUT_S):
                    await self._listener.attempted.wait()
        self._wake.set()
        self.started.set()
        await self._pump()

    async def _pump(self) -> None:
        timeout = self.poll_s
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
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
                self._append(batch)
                self._wake_all()
            # Held-back events (an earlier transaction still open) are retried soon, without a NOTIFY.
            timeout = 0.01 if more else self.poll_s

    def _append(self, batch: list[events.Event]) -> None:
        self.keys.extend(e.key for e in batch)
        self.items.extend(batch)
        self.texts.extend(sse(e) for e in batch)
        self.cursor = batch[-1].key
        metrics.EVENT_LAG.set(max((datetime.now(UTC) - batch[-1].at).total_seconds(), 0.0))
        if len(self.items) > WINDOW:
            cut = len(self.items) - WINDOW
            self.low = self.keys[cut - 1]
            del self.keys[:cut]
            del self.items[:cut]
            del self.texts[:cut]

