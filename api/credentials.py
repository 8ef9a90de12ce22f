"""Passwords, sign-in tokens and the browser session cookie.

How a client signs in:

* Scripts and phones: ``POST /auth/token`` (OAuth2 password flow, form fields ``username`` and ``password``)
  returns ``{"access_token", "token_type": "bearer", "expires_in"}``; send ``Authorization: Bearer <token>``.
  Tokens expire after ``SITMAP_TOKEN_TTL_MINUTES``.
* The browser (the web map): ``POST /auth/login`` with JSON or form ``username``/``password`` sets the cookie
  ``sitmap_session`` (HttpOnly, SameSite=Strict; Secure when ``SITMAP_COOKIE_SECURE`` is true or the request
  came over https, as told by a proxy trusted in ``SITMAP_FORWARDED_ALLOW_IPS``, see api/headers.py) and returns
  ``{username, role, communes}``. ``GET /auth/me`` says who is signed in; ``POST /auth/logout`` revokes the
  session and clears the cookie. ``EventSource('/live')`` sends the cookie by itself.

Sign-in limits: repeated failures per user name and per address are refused with 429 and ``Retry-After``
for a while (data/ops/signin.py; ``SITMAP_SIGNIN_*``); passwords are verified off the event loop.

CSRF, for the web map: a write (any method other than GET, HEAD, OPTIONS) authenticated by the cookie must
carry the header ``X-Requested-With`` (any non-empty value, e.g. ``X-Requested-With: fetch``) or it is refused
with 403. Browsers do not let another site add custom headers to a cross-site request without a CORS
preflight, which this server never grants; together with SameSite=Strict that stops forged writes. Requests
authenticated by a bearer token need no such header.

Tokens are 256-bit random strings; the database stores only their SHA-256 (table ``app_session``), so every
worker validates them without a shared secret and logout or ``sitmap user disable`` takes effect at once.

Revocation bound: writes, ``/auth/me`` and ``/live`` look the session up on every request. Reads of the
public-at-the-gate paths (restricted-layer tiles and features) use a per-worker cache (api/session_cache.py):
every change to ``app_session``, ``app_user`` or ``app_user_unit`` NOTIFYs ``sitmap_auth`` (a trigger) and
each worker evicts on receipt, normally within milliseconds; the cache is used only while that LISTEN
connection is up, and if a notification is lost anyway an entry lives at most 10 s (``TTL_S``), never
past the session's expiry.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

COOKIE_NAME = "sitmap_session"
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
