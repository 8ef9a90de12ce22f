"""The worker's live hub: LISTEN once, read each batch of new events once, wake every stream.

Each worker process runs one ``Hub``: a dedicated connection LISTENs on ``sitmap_events`` (writers NOTIFY in
their transaction, or the incident route's ``Waker`` after its commit, whichever worker wrote) and a pump
reads the newly deliverable events once per wake-up into an in-memory window that all of the worker's
streams share. Delivery is in (xid, id) order under the snapshot-xmin watermark (see data/ops/events.py).

Wake-up: every stream owns a ``Subscription`` with its own ``asyncio.Event`` that only the pump and the
listener set and only that stream waits on. A stream cancelled because its client left therefore touches
nothing but its own event (no shared lock or condition: a cancelled ``wait_for`` on a shared
``asyncio.Condition`` once left its lock released twice and froze every later stream of the worker).

The same LISTEN connection carries ``sitmap_auth`` (the user id of every session/user change): it evicts the
sign-in cache (api/session_cache.py) and flags that user's streams to re-check their session.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from api import session_cache
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
        self.subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        # Checked by the loops as well as cancelling them, so a stop can never be missed by a loop.
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def start(self) -> None:
        async with self.pool.connection() as conn:
            xmin = await events.snapshot_xmin(conn)
        # Every event with xid < xmin is history; streams that do not resume start here.
        self.low = self.cursor = (xmin - 1, events.MAX_KEY)
        ready = asyncio.Event()
        self._tasks = [asyncio.create_task(self._listen(ready)), asyncio.create_task(self._pump())]
        async with asyncio.timeout(START_TIMEOUT_S):
            await ready.wait()

    async def stop(self) -> None:
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
        self.auth_cache.evict_user(payload)
        uid = session_cache.user_id_of(payload)
        for sub in list(self.subscriptions):
            if uid is None or sub.user_id == uid:
                sub.wake(recheck=True)

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
                    # A session revoked while the connection was down sent a notification nobody heard.
                    self._wake_all(recheck=True)
                    delay = 0.1
                    async for note in conn.notifies():
                        if note.channel == session_cache.CHANNEL:
                            self._auth_changed(note.payload)
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
        if len(self.items) > WINDOW:
            cut = len(self.items) - WINDOW
            self.low = self.keys[cut - 1]
            del self.keys[:cut]
            del self.items[:cut]
            del self.texts[:cut]


async def hub_of(app: FastAPI) -> Hub:
    """The worker's hub, started by the first stream (no await between the check and the set: one start).
    A start that failed (database down) is forgotten, so the next caller tries again."""
    task = getattr(app.state, "live_hub_task", None)
    if task is not None and task.done() and (task.cancelled() or task.exception() is not None):
        old = getattr(app.state, "live_hub", None)
        app.state.live_hub_task = app.state.live_hub = None
        if old is not None:
            await old.stop()
        task = getattr(app.state, "live_hub_task", None)  # another caller may have started one meanwhile
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
