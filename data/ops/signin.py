"""Signing in, in one room: passwords, sign-in tokens, the sign-in limits, the sign-in and sign-out steps.

How a client signs in:

* Scripts and phones: ``POST /auth/token`` (OAuth2 password flow, form fields ``username`` and ``password``)
  returns ``{"access_token", "token_type": "bearer", "expires_in"}``; send ``Authorization: Bearer <token>``.
  Tokens expire after ``SITMAP_TOKEN_TTL_MINUTES``.
* The browser (the web map): ``POST /auth/login`` with JSON or form ``username``/``password`` sets the cookie
  ``sitmap_session`` (HttpOnly, SameSite=Strict; Secure when ``SITMAP_COOKIE_SECURE`` is true or the request
  came over https, as told by a proxy trusted in ``SITMAP_FORWARDED_ALLOW_IPS``, see api/headers.py) and
  returns ``{username, role, communes}``. ``GET /auth/me`` says who is signed in; ``POST /auth/logout`` revokes the
  session and clears the cookie. ``EventSource('/live')`` sends the cookie by itself.

Passwords are verified off the event loop (``PasswordVerifier``).

CSRF, for the web map (the gate, api/security.py, holds the cookie and CSRF constants): a write (any method
other than GET, HEAD, OPTIONS) authenticated by the cookie must carry the header ``X-Requested-With`` (any
non-empty value, e.g. ``X-Requested-With: fetch``) or it is refused with 403. Browsers do not let another site
add custom headers to a cross-site request without a CORS preflight, which this server never grants; together
with SameSite=Strict that stops forged writes. Requests authenticated by a bearer token need no such header.

Tokens are 256-bit random strings; the database stores only their SHA-256 (table ``app_session``), so every
worker validates them without a shared secret and logout or ``sitmap user disable`` takes effect at once.

Revocation bound: writes, ``/auth/me`` and ``/live`` look the session up on every request. Reads of the
public-at-the-gate paths (restricted-layer tiles and features) use a per-worker cache (api/session_cache.py):
every change to ``app_session``, ``app_user`` or ``app_user_unit`` NOTIFYs ``sitmap_auth`` (a trigger) and
each worker evicts on receipt, normally within milliseconds; the cache is used only while that LISTEN
connection is up, and if a notification is lost anyway an entry lives at most 10 s (``TTL_S``), never
past the session's expiry.

Sign-in limits (``SITMAP_SIGNIN_*``), counted from the audit log so that every worker process shares them:
a sign-in is refused (429) while the user name, or the client address, has at least its limit of
``login_failed`` rows in the last window; it is allowed again once the oldest of those leaves the window.
Refusals are audited as ``login_limited`` and do not count as failures, so a lock ends one window after the
failure that caused it. The check runs before the password is verified, so a locked user is refused even
with the right password: otherwise the difference between 429 and 200 would tell a guesser when a guess
was right. Two workers checking at the same instant may each let one more attempt through; the overshoot is
bounded by the number of concurrent requests. Indexed by migration 0014.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from data.ops import audit, users
from data.ops.errors import OpsError
from data.permissions import Caller

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time from telling whether it does.
_DUMMY_HASH = _hasher.hash("sitmap-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class PasswordVerifier:
    """Password checks in a small thread pool of their own: argon2 takes tens of milliseconds of CPU by
    design, and run on the event loop it would stall every other request of the worker meanwhile. The
    pool's size bounds how many cores concurrent sign-ins can take (argon2-cffi releases the GIL)."""

    THREAD_PREFIX = "sitmap-password"

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix=self.THREAD_PREFIX)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        # verify_password is looked up at call time (a test wraps it to see which thread runs it).
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: verify_password(
            password_hash, password))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password(length: int = 16) -> str:
    return secrets.token_urlsafe(length)[:length]


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


async def sign_in(conn: psycopg.AsyncConnection, verifier: PasswordVerifier, limits: Limits, username: str,
                  password: str, kind: str, remote_addr: str | None, ttl: timedelta) -> tuple[str, dict[str, Any]]:
    """A new session token for ``username``, or the refusal: 422 too long, 429 locked, 401 wrong or disabled.
    Every outcome is audited (``login``, ``login_failed``, ``login_limited``)."""
    for field, value, most in (("username", username, MAX_USERNAME_CHARS), ("password", password, MAX_PASSWORD_CHARS)):
        if len(value) > most:
            raise OpsError(422, "Invalid request", f"{field} is {len(value)} characters long; at most {most} are "
                           "accepted", "invalid-request", errors=[{"field": field, "reason": "too long"}])
    locked = await lock(conn, limits, username, remote_addr)
    if locked is not None:
        user = await users.credentials(conn, username)
        await audit.record(conn, user["id"] if user else None, username, "login_limited", kind, remote_addr,
                           {"by": locked.by, "retry_after_s": locked.retry_after_s})
        limit = limits.per_user if locked.by == "user" else limits.per_addr
        raise OpsError(429, "Too many sign-in attempts",
                       f"{limit} failed sign-ins for this {'user name' if locked.by == 'user' else 'address'} "
                       f"within {limits.window_s} s; try again in {locked.retry_after_s} s",
                       "sign-in-limited", headers={"Retry-After": str(locked.retry_after_s)})
    user = await users.credentials(conn, username)
    ok = await verifier.verify(user["password_hash"] if user else None, password)
    if not ok or user is None or user["disabled"]:
        await audit.record(conn, user["id"] if user else None, username, "login_failed", None, remote_addr)
        raise OpsError(401, "Not signed in", "unknown user name or wrong password (or the account is disabled)",
                       "bad-credentials", headers={"WWW-Authenticate": "Bearer"})
    token = new_token()
    async with conn.transaction():
        await users.create_session(conn, token_hash(token), user["id"], kind, ttl, remote_addr)
        await audit.record(conn, user["id"], username, "login", kind, remote_addr)
    return token, user


async def sign_out(conn: psycopg.AsyncConnection, token: str | None, caller: Caller | None,
                   remote_addr: str | None) -> None:
    """Revoke the session of ``token`` (if any); audited as ``logout`` for the caller it belonged to."""
    if token:
        await users.revoke_session(conn, token_hash(token))
    if caller is not None:
        await audit.record(conn, caller.user_id, caller.username, "logout", caller.via, remote_addr)
