"""Who is calling, and the gate in front of every route: deny by default.

``AuthMiddleware`` resolves the caller from ``Authorization: Bearer <token>`` or the ``sitmap_session``
cookie (one SQL round trip: session, user, commune scope) and puts a ``Caller`` on ``request.state``.
A request to a path that is not in ``PUBLIC_PATHS`` without a valid sign-in is answered 401 before any
router runs. Public paths still see the principal when there is one, through ``optional_principal``, which
looks the session up on first use (a cookie-authenticated write is looked up at the gate for its CSRF
check): the OGC collections are public at the gate and ``layers/`` decides per layer, and a tile of a
public layer whose properties do not depend on the role needs no lookup at all. That public-path lookup goes
through a per-worker cache evicted by NOTIFY (api/session_cache.py: at most ``TTL_S`` seconds stale if a
notification is lost); every other route looks the session up on each request.

What each role may do is the table of ``data/permissions.py``: each route's dependency ``require(action)``
checks the role, and the commune scope of rows is checked in the SQL of ``data/ops`` (``data.ops.scope``).
Cookie-authenticated writes must carry ``X-Requested-With`` (CSRF; see ``data/ops/signin.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import Problem, problem_response
from data import permissions
from data.ops import signin, users
from data.permissions import Caller

# The browser session cookie, and the header a cookie-authenticated write must carry (CSRF: data/ops/signin.py).
COOKIE_NAME = "sitmap_session"
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The single list of routes anyone may call without signing in (regular expressions on the path).
PUBLIC_PATHS: tuple[str, ...] = (
    r"/",
    r"/health", r"/health/(live|ready)",
    r"/metrics",  # a scraper is no user: the route checks SITMAP_METRICS_TOKEN or a loopback caller itself
    r"/docs(/.*)?", r"/redoc", r"/openapi\.json",
    r"/auth/(login|token|logout)",
    r"/static/.*", r"/web/.*", r"/favicon\.ico", r"/search/units",
    # OGC API landing, conformance, collection metadata, items and tiles: public at the gate; restricted
    # layers are refused in the one access function of layers/ unless the principal may see them.
    r"/conformance", r"/collections(/.*)?", r"/tiles(/.*)?", r"/layers(/.*)?",
)
_PUBLIC = re.compile("|".join(f"(?:{p})" for p in PUBLIC_PATHS))
# All a user who must change the password (data/ops/accounts.py) may reach while signed in: elsewhere the gate
# answers 403 password-change-required, and public paths see them as nobody signed in.
PASSWORD_CHANGE_PATHS = frozenset({"/auth/me", "/auth/logout", "/web/session", "/account", "/account/password"})


def is_public(path: str) -> bool:
    return _PUBLIC.fullmatch(path) is not None


def _token(headers: Headers) -> tuple[str | None, str]:
    authz = headers.get("authorization", "")
    if authz[:7].lower() == "bearer ":
        return authz[7:].strip() or None, "bearer"
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME and value:
            return value, "cookie"
    return None, "none"


class AuthMiddleware:
    """Pure ASGI (streams such as /live pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token, via = _token(headers)
        path = scope["path"]
        state = scope.setdefault("state", {})
        principal = None
        if token and is_public(path) and (via != "cookie" or scope["method"] in SAFE_METHODS):
            # Public at the gate: the session is looked up only if the route asks who is calling
            # (optional_principal), still at request time. Public-layer tiles never ask, saving a round trip.
            state["principal_token"] = (token, via)
        elif token:
            principal = await _lookup(scope["app"], token, via)
        state["principal"] = principal
        if principal is None and not is_public(path):
            detail = ("sign in first: POST /auth/token (OAuth2 password flow) and send 'Authorization: Bearer "
                      "<token>', or POST /auth/login for a browser session")
            if token:
                detail = "the sign-in token is unknown, expired or revoked; " + detail
            await problem_response(401, "Not signed in", detail, path, "not-signed-in",
                                   headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        if (principal is not None and principal.must_change_password and path not in PASSWORD_CHANGE_PATHS
                and not is_public(path)):
            await problem_response(
                403, "Password change required", "this account must change its password before anything else: "
                "POST /account/password with {\"current_password\": ..., \"new_password\": ...} (on the map, "
                "the change-password form opens by itself); signing out stays possible", path,
                "password-change-required")(scope, receive, send)
            return
        if (principal is not None and via == "cookie" and scope["method"] not in SAFE_METHODS
                and not headers.get(CSRF_HEADER) and not path.startswith("/auth/")):
            await problem_response(
                403, "Forbidden", "a write authenticated by the session cookie must carry the header "
                "'X-Requested-With' (any value) to prove it comes from the map page (CSRF protection)", path,
                "csrf")(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _lookup(app, token: str, via: str) -> Caller | None:
    async with app.state.pool.connection() as conn:
        found = await users.session_user(conn, signin.token_hash(token))
    return None if found is None else replace(found.caller, via=via)


async def _cached_lookup(app, token: str, via: str) -> Caller | None:
    """``_lookup`` through the worker's sign-in cache, evicted by NOTIFY (bounds: api/session_cache.py)."""
    # Built in the lifespan (api/services.py); the worker's listener keeps it evicted, whatever is open.
    cache = app.state.services.session_cache
    key = signin.token_hash(token)
    found = cache.get(key)
    if found is None:
        generation = cache.generation
        async with app.state.pool.connection() as conn:
            found = await users.session_user(conn, key)
        if found is None:
            return None
        cache.put(key, found, generation, found.expires_in_s)
    return replace(found.caller, via=via)


async def optional_principal(request: Request) -> Caller | None:
    """The signed-in caller or None; on public paths the session is looked up here, on first use."""
    pending = getattr(request.state, "principal_token", None)
    if pending is not None:
        request.state.principal_token = None
        request.state.principal = await _cached_lookup(request.app, *pending)
    caller = getattr(request.state, "principal", None)
    if caller is not None and caller.must_change_password and request.scope["path"] not in PASSWORD_CHANGE_PATHS:
        return None  # a public path: what anyone sees, nothing of the role until the password is changed
    return caller


async def require_principal(request: Request) -> Caller:
    principal = await optional_principal(request)
    if principal is None:  # only reachable on a path wrongly listed as public
        raise Problem(401, "Not signed in", "sign in first: POST /auth/token or POST /auth/login",
                      headers={"WWW-Authenticate": "Bearer"})
    return principal


@dataclass(frozen=True)
class require:  # noqa: N801 (reads as a function in a route: Depends(require("incident.create")))
    """Dependency: a signed-in caller whose role may do ``action`` of data/permissions.py; 403 names the roles
    that may. Every route that is not public declares its action this way (tests/test_permissions.py finds
    it on the route and checks each role against the table)."""

    action: str

    def __post_init__(self) -> None:
        permissions.rule(self.action)  # an action missing from the table fails at import, not at request

    async def __call__(self, request: Request) -> Caller:
        caller = await require_principal(request)
        if not permissions.may(caller, self.action):
            rule = permissions.rule(self.action)
            raise Problem(403, "Forbidden", f"the role {caller.role!r} may not {rule.what} ({self.action}); "
                          f"allowed roles: {', '.join(permissions.roles_for(self.action))}", type_="forbidden-role")
        return caller


def remote_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def install(app: FastAPI) -> None:
    """Deny-by-default gate: sign-in, roles and the CSRF check."""
    app.add_middleware(AuthMiddleware)
