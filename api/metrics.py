"""Prometheus metrics of a worker, through the maintained client library ``prometheus_client``.

Every metric is declared here, once. The code that counts (api/request_log.py, the tile cache through the hook
``attach`` installs, api/live_hub.py, api/analysis_runner.py) updates it where the thing happens, not at
scrape time, so the same numbers add up across workers: when ``sitmap serve --workers N`` forks workers it
sets ``PROMETHEUS_MULTIPROC_DIR`` (``prepare_multiprocess``) before any worker imports prometheus_client, each
worker writes its values to files there, and whichever worker answers ``GET /metrics`` reads them all
(``MultiProcessCollector``); the gauges say how workers combine (``livesum``: the sum over live workers,
``livemax``: the largest). A single process serves its own registry.

The database's replication lag is read at scrape time (it is a property of the server, not of a worker) and
is absent, not 0, when it does not apply: on a leader without standbys, or when the database does not answer.

Nothing here carries personal data: labels are route templates (``/incidents/{incident_id}``, never the path
itself), methods, status classes and standby names.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Requests: tiles answer in milliseconds, analyses in seconds; an SSE stream's duration is its lifetime.
REQUEST_SECONDS = Histogram(
    "sitmap_http_request_duration_seconds", "Time from the request's arrival to the end of its response.",
    ("route", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
TILE_CACHE = Counter("sitmap_tile_cache_lookups", "Lookups in the worker's tile cache (layers/tilecache.py).",
                     ("result",))
LIVE_SUBSCRIBERS = Gauge("sitmap_live_subscribers", "Open /live streams.", multiprocess_mode="livesum")
EVENT_LAG = Gauge("sitmap_live_event_lag_seconds",
                  "When the live hub last read events: its clock minus the newest event's time.",
                  multiprocess_mode="livemax")
ANALYSES_BUSY = Gauge("sitmap_analysis_slots_busy", "Analyses running or waiting for a thread "
                      "(api/analysis_runner.py).", multiprocess_mode="livesum")
READ_REPLICA_LAG = Gauge("sitmap_read_replica_lag_seconds",
                         "The replay lag of the replica this worker reads from (SITMAP_REPLICA_URL), as last "
                         "measured by its read routing (api/database.py); NaN while the replica does not answer.",
                         multiprocess_mode="livemax")
ANALYSIS_SLOTS = Gauge("sitmap_analysis_slots", "Analyses a worker runs at once (travel_max_concurrent).",
                       multiprocess_mode="livesum")

# The routes of a Mount (static files) and unknown paths: one label each, however many paths they answer.
UNMATCHED = "unmatched"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def prepare_multiprocess() -> Path:
    """For a server that forks workers: a fresh folder for their metric files, in the environment they inherit
    (called before uvicorn starts them; stale files of an earlier run would add to the counts)."""
    folder = Path(tempfile.gettempdir()) / f"sitmap-metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, True)  # the parent outlives its workers: it clears up after them
    return folder


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(route, method, status_class(status)).observe(seconds)


def count_tile_lookup(hit: bool) -> None:
    TILE_CACHE.labels("hit" if hit else "miss").inc()


@contextlib.contextmanager
def live_subscriber() -> Iterator[None]:
    LIVE_SUBSCRIBERS.inc()
    try:
        yield
    finally:
        LIVE_SUBSCRIBERS.dec()


@contextlib.contextmanager
def analysis_slot() -> Iterator[None]:
    ANALYSES_BUSY.inc()
    try:
        yield
    finally:
        ANALYSES_BUSY.dec()


def attach(services: Any) -> None:
    """Wire a worker's services (api/services.py) to the metrics: the tile cache's lookups (layers/ is below
    api/ and knows nothing of Prometheus, so it calls a hook) and the analysis slots it has."""
    services.tiles.cache.on_lookup = count_tile_lookup
    ANALYSIS_SLOTS.inc(services.analyses.slots)


def watch_reads(reads: Any) -> None:
    """The read routing's lag measurements (api/database.py ``Reads``) set READ_REPLICA_LAG."""
    if reads.replica is not None:
        reads.on_lag.append(lambda lag: READ_REPLICA_LAG.set(float("nan") if lag is None else lag))


def detach(services: Any) -> None:
    services.tiles.cache.on_lookup = None
    ANALYSIS_SLOTS.dec(services.analyses.slots)
    if multiprocess():
        # This worker's live gauges stop counting (livesum/livemax read only live workers' files).
        prom_multiprocess.mark_process_dead(os.getpid())


# Replication, seen from the database this worker is connected to.
REPLICATION_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""
STANDBYS_SQL = """
SELECT application_name, coalesce(extract(epoch FROM replay_lag)::float8, 0.0)
FROM pg_stat_replication ORDER BY application_name
"""


async def read_replication(pool: Any, timeout_s: float) -> dict[str, Any] | None:
    """What the database says of replication; None when it does not answer within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.connection(timeout=timeout_s) as conn:
                in_recovery, replay_lag = await (await conn.execute(REPLICATION_SQL)).fetchone()
                standbys = [] if in_recovery else await (await conn.execute(STANDBYS_SQL)).fetchall()
    except Exception:  # noqa: BLE001 (a scrape while the database is away reports it as down, not as an error)
        return None
    return {"in_recovery": bool(in_recovery), "replay_lag_s": replay_lag, "standbys": standbys}


class ReplicationCollector(Collector):
    """Values read for this scrape (``read_replication``), as gauges."""

    def __init__(self, replication: dict[str, Any] | None) -> None:
        self.replication = replication

    def collect(self) -> Iterator[Metric]:
        r = self.replication
        up = GaugeMetricFamily("sitmap_database_up", "Whether the database answered this scrape.")
        up.add_metric([], 0.0 if r is None else 1.0)
        yield up
        if r is None:
            return
        recovery = GaugeMetricFamily("sitmap_database_in_recovery", "1 when connected to a replica.")
        recovery.add_metric([], 1.0 if r["in_recovery"] else 0.0)
        yield recovery
        if r["in_recovery"] and r["replay_lag_s"] is not None:
            lag = GaugeMetricFamily("sitmap_database_replica_lag_seconds",
                                    "On a replica: how far its replay is behind the leader (0 when caught up).")
            lag.add_metric([], float(r["replay_lag_s"]))
            yield lag
        if r["standbys"]:
            standby = GaugeMetricFamily("sitmap_database_standby_replay_lag_seconds",
                                        "On a leader: each standby's replay lag (pg_stat_replication).",
                                        labels=["standby"])
            for name, seconds in r["standbys"]:
                standby.add_metric([name or "unnamed"], float(seconds))
            yield standby


def render(replication: dict[str, Any] | None) -> bytes:
    """The text exposition of every worker's metrics (or this process's, with its CPU and memory) followed by
    the replication gauges of this scrape (the format allows families one after another)."""
    if multiprocess():
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scrape = CollectorRegistry()
    scrape.register(ReplicationCollector(replication))
    return generate_latest(registry) + generate_latest(scrape)
