"""Layer data versions from the ``data_version`` table (bumped by triggers in the writing transaction).

Each worker keeps a copy for at most ``ttl`` seconds (one tiny query per worker per interval), so a write
through any worker is seen by every worker within that time without a query per tile.
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from layers import sql as layer_sql
from layers.model import Layer


class DataVersions:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._versions: dict[str, int] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, conn: psycopg.AsyncConnection) -> None:
        cur = await conn.execute(layer_sql.versions())
        self._versions = dict(await cur.fetchall())
        self._read_at = time.monotonic()

    async def read(self, conn: psycopg.AsyncConnection, layer: Layer) -> str:
        """The layer's version key as ``conn`` sees it now (a replica's own, in the snapshot of its read)."""
        cur = await conn.execute(layer_sql.versions())
        return key_of(dict(await cur.fetchall()), layer)

    async def key(self, layer: Layer, pool) -> str:
        """The layer's version key: the versions of the tables it reads, joined."""
        if time.monotonic() - self._read_at > self.ttl:
            async with self._lock:
                if time.monotonic() - self._read_at > self.ttl:
                    async with pool.connection() as conn:
                        await self.refresh(conn)
        return key_of(self._versions, layer)


def key_of(versions: dict[str, int], layer: Layer) -> str:
    return ".".join(str(versions.get(t, 0)) for t in layer.tables)


def behind(key: str, than: str) -> bool:
    """Whether the data read at version key ``key`` misses a write that ``than`` has (versions only grow)."""
    if not key or not than:
        return False
    return any(int(a) < int(b) for a, b in zip(key.split("."), than.split("."), strict=False))
