"""The async connection pools shared by the routers (one per worker process; no other per-process state).

The pool reaches the leader (SITMAP_DATABASE_URL). With SITMAP_REPLICA_URL set, a second, read-only pool
reaches a replica, and ``Reads`` decides per read whether it may go there: the replica's replay lag is within
SITMAP_REPLICA_MAX_LAG_S (measured at most once a second per worker) and the caller did not write through
this worker within that many seconds (read-your-writes). A caller who wrote through another worker is covered
by the data versions: a read whose layer's ``data_version`` rows on the replica are behind the leader's goes
to the leader (api/deps.py ``read_connection``, layers/tiles.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import psycopg
from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from api.resilience import CheckedPool
from data.db.connection import database_url
from data.settings import Settings

log = logging.getLogger("sitmap.database")

# psycopg prepares a statement after a few executions; PostgreSQL may then switch it to a generic plan that
# cannot see the tile envelope and walks the priority index over the whole table (measured: 3x fewer tiles/s
# under load). Custom plans keep the spatial index; parsing is still saved by the prepared statement.
CONNECTION_KWARGS = {"autocommit": True, "options": "-c plan_cache_mode=force_custom_plan"}


async def open_pool(settings: Settings, url: str | None = None) -> AsyncConnectionPool:
    # Dead connections (after a database restart) are replaced at checkout (api/resilience.py); while the
    # database is down a request waits db_wait_s, then it is answered 503; reconnection attempts back off
    # for db_reconnect_s, then the pool reconnects when a request asks (so the first one after a long
    # outage does not wait for a backed-off attempt).
    pool = CheckedPool(url or database_url(settings), min_size=settings.pool_min, max_size=settings.pool_max,
                       open=False, kwargs=CONNECTION_KWARGS, timeout=settings.db_wait_s,
                       reconnect_timeout=settings.db_reconnect_s)
    await pool.open(wait=True, timeout=30)
    return pool


# Lag of a replica's replay: 0 when it has replayed everything it received (an idle replica's last replayed
# transaction may be hours old), 0 on a server that is not in recovery (a "replica" that is the leader).
LAG_SQL = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0.0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 'Infinity')
       END
"""
PROBE_EVERY_S = 1.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Reads:
    """Where a read may go: the replica pool when it is close enough behind and the caller has not just
    written, else the leader pool. One per worker (``app.state.reads``); ``replica`` is None when unset."""

    def __init__(self, leader: AsyncConnectionPool, replica: AsyncConnectionPool | None, max_lag_s: float,
                 probe_every_s: float = PROBE_EVERY_S) -> None:
        self.leader = leader
        self.replica = replica
        self.max_lag_s = max_lag_s
        self.probe_every_s = probe_every_s
        self.lag_s: float | None = None  # last measured; None: not measured yet or the replica did not answer
        self._probed_at = float("-inf")
        self._lock = asyncio.Lock()
        self._writers: dict[int, float] = {}  # user id -> monotonic time until which their reads go to the leader
        self.on_lag: list = []  # told of every measurement (api/metrics.py's gauge)

    def wrote(self, user_id: int | None) -> None:
        if user_id is None or self.replica is None:
            return
        now = time.monotonic()
        if len(self._writers) > 10_000:  # forget expired windows now and then, not per request
            self._writers = {u: t for u, t in self._writers.items() if t > now}
        self._writers[user_id] = now + self.max_lag_s

    def just_wrote(self, user_id: int | None) -> bool:
        return user_id is not None and self._writers.get(user_id, float("-inf")) > time.monotonic()

    async def lag(self) -> float | None:
        """The replica's replay lag in seconds, cached for ``probe_every_s``; None when it does not answer."""
        if self.replica is None:
            return None
        if time.monotonic() - self._probed_at > self.probe_every_s:
            async with self._lock:
                if time.monotonic() - self._probed_at > self.probe_every_s:
                    self.lag_s = await self._measure()
                    self._probed_at = time.monotonic()
                    for hook in self.on_lag:
                        hook(self.lag_s)
        return self.lag_s

    async def _measure(self) -> float | None:
        try:
            async with self.replica.connection(timeout=self.probe_every_s) as conn:
                return float((await (await conn.execute(LAG_SQL)).fetchone())[0])
        except Exception as exc:  # noqa: BLE001 (no replica to read from: the leader answers)
            log.warning("replica lag probe failed (%s); reads go to the leader", exc)
            return None

    async def replica_for(self, user_id: int | None) -> AsyncConnectionPool | None:
        """The replica pool if this caller's read may go there, else None (read on the leader)."""
        if self.replica is None or self.just_wrote(user_id):
            return None
        lag = await self.lag()
        return self.replica if lag is not None and lag <= self.max_lag_s else None

    def replica_failed(self) -> None:
        """A read could not reach the replica: the leader answers until the next probe says otherwise."""
        self.lag_s = None
        self._probed_at = time.monotonic()


async def open_reads(settings: Settings, leader: AsyncConnectionPool) -> Reads:
    """The worker's read routing; with SITMAP_REPLICA_URL set, its read-only pool is opened without waiting
    (a worker starts while no replica is up; the probe then sends reads to the leader)."""
    if not settings.replica_url:
        return Reads(leader, None, settings.replica_max_lag_s)
    kwargs = {**CONNECTION_KWARGS, "options": CONNECTION_KWARGS["options"] + " -c default_transaction_read_only=on"}
    replica = CheckedPool(settings.replica_url, min_size=1, max_size=settings.pool_max, open=False, kwargs=kwargs,
                          timeout=min(settings.db_wait_s, 2.0), reconnect_timeout=settings.db_reconnect_s)
    await replica.open(wait=False)
    return Reads(leader, replica, settings.replica_max_lag_s)


async def close_reads(reads: Reads) -> None:
    if reads.replica is not None:
        await reads.replica.close()


def _mark_writer(request: Request) -> None:
    reads: Reads | None = getattr(request.app.state, "reads", None)
    if reads is not None and request.method not in SAFE_METHODS:
        reads.wrote(getattr(getattr(request.state, "principal", None), "user_id", None))


async def connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    """A leader connection. A write route's caller reads from the leader for the next few seconds, marked
    before (when the caller is known already) and after the route, so no read after the answer misses it."""
    _mark_writer(request)
    try:
        async with request.app.state.pool.connection() as conn:
            yield conn
    finally:
        _mark_writer(request)
