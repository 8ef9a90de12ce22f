"""Per-worker cache of sign-ins for the public-path lookups (restricted-layer tiles and features).

Why: a restricted tile otherwise costs one session query per request (~4 ms p50 under load). What bounds it:

* Every change to a session, a user or a user's communes NOTIFYs ``sitmap_auth`` with the user id (triggers
  of migration 0009, so no code path can forget). Each worker's LISTEN connection (api/listener.py,
  started in the app's lifespan whether or not any ``/live`` stream is open) evicts that user's entries on
  receipt, normally within milliseconds of the commit; the same notification makes that user's open
  ``/live`` streams re-check their session (api/live_hub.py).
* Entries are used only while that LISTEN connection is up; the cache is cleared whenever it connects,
  reconnects or drops, so a notification sent while it was down cannot leave a stale entry.
* A lookup that raced with a notification is not stored (generation counter).
* Hard bound if a notification is lost anyway: ``TTL_S`` seconds, and never past the session's expiry.

Routes that are not public (writes, ``/auth/me``, ``/live``) never use the cache: they look the session
up on every request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.listener import Listener
from data.ops.users import SessionUser

CHANNEL = "sitmap_auth"
TTL_S = 10.0
MAX_ENTRIES = 10_000


@dataclass
class SessionCache:
    listening: bool = False
    generation: int = 0

    def __post_init__(self) -> None:
        self._entries: dict[str, tuple[float, SessionUser]] = {}

    def get(self, token_hash: str) -> SessionUser | None:
        if not self.listening:
            return None
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            self._entries.pop(token_hash, None)
            return None
        return hit[1]

    def put(self, token_hash: str, user: SessionUser, generation: int, expires_in_s: float) -> None:
        """Store a lookup made when ``generation`` was current; a notification since then discards it."""
        if not self.listening or generation != self.generation or expires_in_s <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic() + min(TTL_S, expires_in_s), user)

    def evict_user(self, payload: str) -> None:
        self.generation += 1
        uid = user_id_of(payload)
        if uid is None:
            self._entries.clear()
            return
        for key in [k for k, (_, u) in self._entries.items() if u.user_id == uid]:
            del self._entries[key]

    def set_listening(self, up: bool) -> None:
        self.generation += 1
        self._entries.clear()
        self.listening = up

    def attach(self, listener: Listener) -> None:
        """Evict on the worker's ``sitmap_auth`` notifications; serve entries only while it is connected."""
        listener.on(CHANNEL, self.evict_user)
        listener.watch(lambda: self.set_listening(True), lambda: self.set_listening(False))


def user_id_of(payload: str) -> int | None:
    """The user id a ``sitmap_auth`` notification names; None: unreadable, so it concerns everyone."""
    try:
        return int(payload)
    except ValueError:
        return None

