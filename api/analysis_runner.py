"""Travel analyses off the event loop: a sync connection pool and a bounded number of worker threads.

geo/travel works on a synchronous psycopg connection and one analysis can take seconds (a province-wide
access table). Each runs in a thread of its own limiter (not anyio's default one, which the rest of the
app shares), at most ``travel_max_concurrent`` at a time per worker, each on a connection of a pool of the
same size; so analyses never block the event loop, and a burst of them neither starves other requests of
threads nor takes the async pool's connections. A request that finds every slot busy waits
``travel_queue_wait_s``, then is answered 503 with Retry-After. Built once in the lifespan (api/services.py).
With SITMAP_REPLICA_URL set, a second pool of the same size reaches the replica: a read-only analysis the
router's read routing allows (api/database.py ``Reads``) runs there, and on the leader if the replica fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from api import metrics
from api.database import CONNECTION_KWARGS
from api.problems import Problem
from data.settings import Settings

T = TypeVar("T")


class AnalysisRunner:
    def __init__(self, conninfo: str, settings: Settings) -> None:
        self.slots = settings.travel_max_concurrent
        self.wait_s = settings.travel_queue_wait_s
        self.retry_after_s = settings.db_retry_after_s
        self.db_wait_s = settings.db_wait_s
        # Connections are opened on first use (min_size 0): a worker that never analyses holds none.
        self.pool = ConnectionPool(conninfo, min_size=0, max_size=self.slots, open=False,
                                   kwargs=dict(CONNECTION_KWARGS), timeout=settings.db_wait_s,
                                   reconnect_timeout=settings.db_reconnect_s, check=ConnectionPool.check_connection)
        self.pool.open(wait=False)
        self.replica: ConnectionPool | None = None
        if settings.replica_url:
            self.replica = ConnectionPool(settings.replica_url, min_size=0, max_size=self.slots, open=False,
                                          kwargs=dict(CONNECTION_KWARGS), timeout=min(settings.db_wait_s, 2.0),
                                          reconnect_timeout=settings.db_reconnect_s,
                                          check=ConnectionPool.check_connection)
            self.replica.open(wait=False)
        self._queue = anyio.CapacityLimiter(self.slots)  # who may start
        self._threads = anyio.CapacityLimiter(self.slots)  # the threads they run in

    def _busy(self) -> Problem:
        return Problem(503, "Service unavailable", f"{self.slots} analyses are already running in this worker "
                       f"and none finished within {self.wait_s:g} s; retry after {self.retry_after_s} s",
                       type_="analyses-busy", headers={"Retry-After": str(self.retry_after_s)})

    def _in_thread(self, work: Callable[[psycopg.Connection], T], on_replica: bool = False) -> T:
        if on_replica and self.replica is not None:
            try:
                with self.replica.connection() as conn:
                    return work(conn)
            except (PoolTimeout, psycopg.OperationalError):
                pass  # the replica went away (or is being promoted): the leader answers
        try:
            with self.pool.connection() as conn:
                return work(conn)
        except PoolTimeout:
            raise Problem(503, "Service unavailable", f"database unreachable; retry after {self.retry_after_s} s",
                          type_="database-unavailable", headers={"Retry-After": str(self.retry_after_s)},
                          database="unreachable") from None

    async def run(self, work: Callable[[psycopg.Connection], T], *, on_replica: bool = False) -> T:
        """``work(conn)`` in a worker thread on a pooled sync connection; its exceptions are raised here.
        ``on_replica``: a read-only analysis the caller's read routing sent to the replica."""
        with anyio.move_on_after(self.wait_s) as waiting:
            await self._queue.acquire()
        if waiting.cancelled_caught:
            raise self._busy()
        try:
            with metrics.analysis_slot():
                return await anyio.to_thread.run_sync(self._in_thread, work, on_replica, limiter=self._threads)
        finally:
            self._queue.release()

    def close(self) -> None:
        self.pool.close()
        if self.replica is not None:
            self.replica.close()
