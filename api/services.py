"""The per-worker services, built once in the app's lifespan (api/app.py) and closed in reverse order.

Each worker process holds one ``Services`` on ``app.state.services``; routers reach it through
``api.deps.services``. Nothing is created lazily on first use: a request never starts a background task, and
what a worker holds is listed here.

Starting needs no more of the database than the pool's opening (which waits for it): the listener connects
and the hub reads its starting point in the background, retrying while the database is down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio.to_thread
import psycopg
from psycopg_pool import AsyncConnectionPool

from api.analysis_runner import AnalysisRunner
from api.listener import Listener
from api.live_hub import Hub
from api.notifier import Notifier
from api.session_cache import SessionCache
from data.ops.events import Waker
from data.ops.signin import PasswordVerifier
from data.settings import Settings
from layers import feature_pages
from layers.model import Layer
from layers.tiles import TileService


@dataclass
class LayerExtents:
    """Each layer's bounding box, cached per worker with the layer's data version (not read per request)."""

    _boxes: dict[tuple[str, str], list[float] | None] = field(default_factory=dict)

    async def bbox(self, conn: psycopg.AsyncConnection, layer: Layer, version: str) -> list[float] | None:
        key = (layer.id, version)
        if key not in self._boxes:
            self._boxes[key] = await feature_pages.bbox(conn, layer)
        return self._boxes[key]


@dataclass(eq=False)
class Services:
    pool: AsyncConnectionPool
    tiles: TileService  # holds the tile cache and the layers' data versions
    extents: LayerExtents
    verifier: PasswordVerifier
    session_cache: SessionCache
    listener: Listener  # the worker's one LISTEN connection; the sign-in cache and the hub subscribe
    hub: Hub
    waker: Waker
    analyses: AnalysisRunner  # travel analyses: sync pool, bounded threads (api/analysis_runner.py)
    notifier: Notifier  # webhook deliveries and the overdue-patrol sweep (api/notifier.py)

    @classmethod
    def start(cls, settings: Settings, pool: AsyncConnectionPool) -> Services:
        listener = Listener(pool.conninfo)
        svc = cls(pool=pool,
                  tiles=TileService(settings.tile_cache_mb * 1024 * 1024, settings.data_version_ttl_s),
                  extents=LayerExtents(),
                  verifier=PasswordVerifier(settings.signin_hash_threads),
                  session_cache=SessionCache(),
                  listener=listener,
                  hub=Hub(pool, settings.live_poll_s),
                  waker=Waker(pool),
                  analyses=AnalysisRunner(pool.conninfo, settings),
                  notifier=Notifier(pool, settings))
        # The cache first: a sitmap_auth notification evicts before the user's streams re-check.
        svc.session_cache.attach(listener)
        svc.hub.attach(listener)
        listener.start()
        svc.hub.start()
        svc.notifier.start()
        return svc

    async def close(self) -> None:
        """Reverse order of ``start``, except that the hub stops first: it may still be starting, and closing the
        notifier first (its tasks, its HTTP client) gave that start the time to finish after the stop began."""
        await self.hub.stop()
        await self.notifier.close()
        await self.waker.close()
        await self.listener.stop()
        self.verifier.close()
        await anyio.to_thread.run_sync(self.analyses.close)
