"""Vector tiles of a layer: one SQL round trip per uncached tile, a per-worker cache keyed by data version.

The version is read from ``data_version`` (cached per worker for at most ``data_version_ttl_s``); an ETag
derived from it answers If-None-Match without touching the database. A tile read from a replica is keyed by
the versions read on that replica in the same snapshot as the tile (the versions replicate with the rows), and
read on the leader instead when those are behind the leader's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from layers import sql as layer_sql
from layers.access import Grant, visible_props
from layers.model import Layer
from layers.query import Query
from layers.tilecache import CachedTile, TileCache
from layers.versions import DataVersions, behind

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
PUBLIC_MAX_AGE = 60


@dataclass(frozen=True)
class TileResponse:
    status: int  # 200, 204 (empty tile) or 304 (not modified)
    body: bytes
    headers: dict[str, str]


def cache_control(layer: Layer) -> str:
    if layer.restricted:
        # Never stored by shared caches; the browser revalidates every time with the ETag.
        return "private, no-cache"
    if layer.volatile_seconds:
        return f"public, max-age={min(PUBLIC_MAX_AGE, layer.volatile_seconds)}, must-revalidate"
    return f"public, max-age={PUBLIC_MAX_AGE}, must-revalidate"


def clock_part(layer: Layer, now: float) -> tuple[str, float]:
    """The part of a cache key that changes with the clock, and when the entry stops being usable."""
    if layer.volatile_seconds:
        bucket = int(now // layer.volatile_seconds)
        return f"t{bucket}", (bucket + 1) * layer.volatile_seconds - now
    if layer.default_current:  # "valid today" changes at midnight (UTC, the database's clock)
        return datetime.now(UTC).date().isoformat(), float("inf")
    return "", float("inf")


class TileService:
    def __init__(self, cache_bytes: int, version_ttl: float) -> None:
        self.cache = TileCache(cache_bytes)
        self.versions = DataVersions(version_ttl)

    async def tile(self, pool, layer: Layer, g: Grant, q: Query, z: int, x: int, y: int,
                   if_none_match: str | None, *, replica=None, routed: bool = False) -> TileResponse:
        """``replica``: a pool this read may use (the caller chose it by lag); ``routed``: a replica is
        configured, so the answer says where it was read (X-Sitmap-Read) and a leader read keys by its own
        snapshot's versions too."""
        version = await self.versions.key(layer, pool)
        clock, ttl = clock_part(layer, time.time())
        qkey = q.key()

        def etag_of(v: str) -> str:
            tag = hashlib.blake2b(f"{layer.id}|{v}|{g.scope_key}|{qkey}|{clock}|{z}/{x}/{y}".encode(),
                                  digest_size=10).hexdigest()
            return f'"{tag}"'

        etag = etag_of(version)
        headers = {"ETag": etag, "Cache-Control": cache_control(layer)}
        if layer.restricted:
            headers["Vary"] = "Authorization, Cookie"
        if if_none_match and (if_none_match == etag or etag in if_none_match.split(", ")):
            return TileResponse(304, b"", headers)
        key = (layer.id, version, g.scope_key, qkey, clock, z, x, y)
        now = time.monotonic()
        entry = self.cache.get(key, now) if self.cache.max_bytes else None
        if entry is None:
            query, params = layer_sql.tile(layer, g, q, visible_props(layer, g, tiles=True), z, x, y)
            read = await self._read_replica(replica, layer, query, params, version) if replica is not None else None
            if read is not None:
                headers["X-Sitmap-Read"] = "replica"
            elif routed:
                read = await self._read_versioned(pool, layer, query, params)
                headers["X-Sitmap-Read"] = "leader"
            if read is not None:
                body, candidates, served = read
                if served != version:  # the entry is what that snapshot saw: keyed and tagged by its versions
                    version, etag = served, etag_of(served)
                    headers["ETag"] = etag
                    key = (layer.id, version, g.scope_key, qkey, clock, z, x, y)
            else:
                async with pool.connection() as conn:
                    cur = conn.cursor(binary=True)
                    await cur.execute(query, params)
                    body, candidates = await cur.fetchone()
            entry = CachedTile(bytes(body or b""), etag, candidates > layer.tile_cap, now + ttl)
            if self.cache.max_bytes:
                self.cache.put(key, entry)
            headers["X-Tile-Cache"] = "miss"
        else:
            headers["X-Tile-Cache"] = "hit"
        if entry.capped:
            headers["X-Tile-Capped"] = f"{layer.tile_cap} features kept, most important first"
        if not entry.body:
            return TileResponse(204, b"", headers)
        return TileResponse(200, entry.body, headers)

    async def _read_versioned(self, pool, layer: Layer, query, params) -> tuple[bytes, int, str]:
        """The tile and the layer's version key, in one snapshot of ``pool``'s server."""
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            served = await self.versions.read(conn, layer)
            cur = conn.cursor(binary=True)
            await cur.execute(query, params)
            body, candidates = await cur.fetchone()
        return body, candidates, served

    async def _read_replica(self, replica, layer: Layer, query, params, leader: str) -> tuple[bytes, int, str] | None:
        """The tile from the replica, or None when the replica is behind the leader's versions for this layer
        (it has not replayed a write the leader has) or does not answer: then the leader answers."""
        try:
            read = await self._read_versioned(replica, layer, query, params)
        except Exception:  # noqa: BLE001 (a replica going away is the leader's to answer, not a 500)
            return None
        return None if behind(read[2], leader) else read
