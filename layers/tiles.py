"""Vector tiles of a layer: one SQL round trip per uncached tile, a per-worker cache keyed by data version.

The version is read from ``data_version`` (cached per worker for at most ``data_version_ttl_s``); an ETag
derived from it answers If-None-Match without touching the database.
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
from layers.versions import DataVersions

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
                   if_none_match: str | None) -> TileResponse:
        version = await self.versions.key(layer, pool)
        clock, ttl = clock_part(layer, time.time())
        qkey = q.key()
        tag = hashlib.blake2b(f"{layer.id}|{version}|{g.scope_key}|{qkey}|{clock}|{z}/{x}/{y}".encode(),
                              digest_size=10).hexdigest()
        etag = f'"{tag}"'
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
