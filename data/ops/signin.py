"""Sign-in limits, counted from the audit log so that every worker process shares them.

A sign-in is refused (429) while the user name, or the client address, has at least its limit of
``login_failed`` rows in the last window; it is allowed again once the oldest of those leaves the window.
Refusals are audited as ``login_limited`` and do not count as failures, so a lock ends one window after the
failure that caused it. The check runs before the password is verified, so a locked user is refused even
with the right password: otherwise the difference between 429 and 200 would tell a guesser when a guess
was right. Two workers checking at the same instant may each let one more attempt through; the overshoot is
bounded by the number of concurrent requests. Indexed by migration 0014.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import psycopg

# Longer user names and passwords are refused (422) before anything is looked up, hashed or audited.
MAX_USERNAME_CHARS = 150
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class Limits:
    per_user: int
    per_addr: int
    window_s: int


@dataclass(frozen=True)
class Lock:
    by: str  # "user" | "address"
    retry_after_s: int


# For each key: its most recent failures in the window (at most the limit) and when the oldest leaves it.
_SQL = """
SELECT 'user', count(*), extract(epoch FROM min(at) + %(w)s - now())::float8 FROM (
    SELECT at FROM audit_log WHERE action = 'login_failed' AND username = %(u)s AND at > now() - %(w)s
     ORDER BY at DESC LIMIT %(nu)s) f
UNION ALL
SELECT 'address', count(*), extract(epoch FROM min(at) + %(w)s - now())::float8 FROM (
    SELECT at FROM audit_log WHERE action = 'login_failed' AND remote_addr = %(a)s AND at > now() - %(w)s
     ORDER BY at DESC LIMIT %(na)s) f
"""


async def lock(conn: psycopg.AsyncConnection, limits: Limits, username: str, remote_addr: str | None) -> Lock | None:
    """The lock in force on this user name or address, if any."""
    rows = await (await conn.execute(_SQL, {"u": username, "a": remote_addr, "w": timedelta(seconds=limits.window_s),
                                            "nu": limits.per_user, "na": limits.per_addr})).fetchall()
    found = [Lock(by, max(1, math.ceil(left or 0))) for by, n, left in rows
             if n >= (limits.per_user if by == "user" else limits.per_addr)]
    return max(found, key=lambda lk: lk.retry_after_s) if found else None
