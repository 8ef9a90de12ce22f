"""Surviving a database restart or outage.

* Checkout check (``CheckedPool``): a pooled connection whose server went away
  (restart, crash) has something to read on its socket, the server's FATAL message or the end of the
  stream, while a healthy idle connection has nothing. A zero-timeout ``poll()`` on the socket costs a
  system call, not a round trip, so tile reads keep their speed; only a connection with something pending
  gets the full round-trip check and is replaced when that fails. After a restart the very first request
  therefore gets a fresh connection instead of one of the pool's dead ones.
* While the database is unreachable every request (the sign-in gate of api/security.py queries it before
  any route) is answered ``503`` problem+json with ``Retry-After`` by ``DatabaseUnavailableMiddleware``,
  which sits outside the gate; a request waits at most ``SITMAP_DB_WAIT_S`` for a connection.
"""

from __future__ import annotations

import logging
import select
import time

import psycopg
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from data.settings import Settings

log = logging.getLogger("sitmap.database")
_POLL_EVENTS = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


def has_pending_input(conn: psycopg.AsyncConnection) -> bool:
    poller = select.poll()
    poller.register(conn.fileno(), _POLL_EVENTS)
    return bool(poller.poll(0))


class CheckedPool(AsyncConnectionPool):
    """A pool whose checkout never hands out a connection the server has dropped."""

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            conn = await super().getconn(timeout=max(deadline - time.monotonic(), 0.0))
            try:
                if conn.closed or has_pending_input(conn):
                    await AsyncConnectionPool.check_connection(conn)
                return conn
            except psycopg.Error:
                # The server went away (a restart, most likely): the other idle connections are as dead as
                # this one. Drop them all now and let the pool reconnect at once, rather than meeting them
                # one checkout at a time (psycopg_pool's own check would back off a second per dead one).
                await self.putconn(conn)
                await self.check()


def _unreachable(exc: BaseException) -> bool:
    # Class 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now), pool timeouts and
    # client-side failures (no SQLSTATE) mean the database is not there; anything else is a real error.
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


class DatabaseUnavailableMiddleware:
    """Pure ASGI, outermost: a request that fails because the database is unreachable gets a 503 problem
    document with ``Retry-After`` instead of the server's plain-text 500 (if its response had not started)."""

    def __init__(self, app: ASGIApp, retry_after_s: int) -> None:
        self.app = app
        self.retry_after_s = retry_after_s
        self._last_log = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not _unreachable(exc):
                raise
            now = time.monotonic()
            if now - self._last_log > 10:  # one line per outage burst, not one per request
                self._last_log = now
                log.warning("database unreachable, answering 503: %s", exc)
            detail = f"database unreachable; retry after {self.retry_after_s} s"
            await problem_response(503, "Service unavailable", detail, scope["path"], "database-unavailable",
                                   headers={"Retry-After": str(self.retry_after_s)},
                                   database="unreachable")(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(DatabaseUnavailableMiddleware, retry_after_s=settings.db_retry_after_s)
