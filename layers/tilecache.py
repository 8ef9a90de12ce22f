"""A per-worker LRU of encoded tiles, bounded in bytes. Keys carry the layer's data version, the caller's
scope and the query, so a stale or foreign entry is never looked up, only aged out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedTile:
    body: bytes
    etag: str
    capped: bool
    expires: float  # monotonic time after which the entry is not used (clock-dependent layers)


class TileCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple, CachedTile] = OrderedDict()
        self.hits = 0
        self.misses = 0
        # Told of every lookup (hit: True), for the worker's metrics (api/metrics.py installs it).
        self.on_lookup: Callable[[bool], None] | None = None

    def get(self, key: tuple, now: float) -> CachedTile | None:
        entry = self._items.get(key)
        if entry is None or entry.expires < now:
            self.misses += 1
            if self.on_lookup is not None:
                self.on_lookup(False)
            return None
        self._items.move_to_end(key)
        self.hits += 1
        if self.on_lookup is not None:
            self.on_lookup(True)
        return entry

    def put(self, key: tuple, entry: CachedTile) -> None:
        size = len(entry.body) + 200
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body) + 200
        self._items[key] = entry
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= len(dropped.body) + 200
