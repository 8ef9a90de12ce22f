"""The worker's one LISTEN connection, shared by everything that reacts to a NOTIFY.

Each worker process owns one ``Listener``, built and started in the app's lifespan (api/services.py). Its
subscribers register before it starts: a callback per channel (the live hub on ``sitmap_events``; the
sign-in cache and the hub on ``sitmap_auth``) and callbacks for connected and disconnected. The connection
is opened in the background and, when it drops (database restart, network), reopened with backoff
(0.1 s doubling to 5 s); a subscriber learns of every gap through disconnected/connected, because a
notification sent meanwhile was heard by nobody (the sign-in cache is used only while connected).

Callbacks run on the event loop, between notifications: they must be quick and must not await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger("sitmap.listener")

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 5.0

OnNotify = Callable[[str], None]
OnChange = Callable[[], None]


class Listener:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._channels: dict[str, list[OnNotify]] = {}
        self._on_up: list[OnChange] = []
        self._on_down: list[OnChange] = []
        self._connected = False
        # Set once the first connection attempt has ended, either way (the hub waits for it to start).
        self.attempted = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopped = False

    @property
    def connected(self) -> bool:
        return self._connected

    def on(self, channel: str, callback: OnNotify) -> None:
        """Call ``callback(payload)`` for every notification on ``channel``; register before ``start``."""
        if self._task is not None:
            raise RuntimeError("subscribe to the listener before it starts (its LISTENs are issued on connect)")
        self._channels.setdefault(channel, []).append(callback)

    def watch(self, connected: OnChange, disconnected: OnChange) -> None:
        """Call ``connected()`` after each (re)connection, once every channel is LISTENed to, and
        ``disconnected()`` when a live connection is lost or the listener stops."""
        self._on_up.append(connected)
        self._on_down.append(disconnected)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sitmap-listener")

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._set_down()

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def _run(self) -> None:
        delay = FIRST_DELAY_S
        while not self._stopped:
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                async with conn:
                    for channel in self._channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._connected = True
                    self.attempted.set()
                    self._call(self._on_up)
                    delay = FIRST_DELAY_S
                    async for note in conn.notifies():
                        for callback in self._channels.get(note.channel, ()):
                            self._call_one(callback, note.payload)
            except asyncio.CancelledError:
                self._set_down()
                raise
            except Exception as exc:  # noqa: BLE001 (the subscribers fall back: polling, uncached lookups)
                self._set_down()
                self.attempted.set()
                log.warning("LISTEN connection lost or refused (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)

    def _set_down(self) -> None:
        if self._connected:
            self._connected = False
            self._call(self._on_down)

    def _call(self, callbacks: list[OnChange]) -> None:
        for callback in callbacks:
            self._call_one(callback)

    @staticmethod
    def _call_one(callback: Callable[..., None], *args: str) -> None:
        # One faulty subscriber must not take the connection (and every other subscriber) down with it.
        try:
            callback(*args)
        except Exception:  # noqa: BLE001
            log.exception("listener callback %r failed", callback)
