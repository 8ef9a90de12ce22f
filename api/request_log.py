"""One log line and one latency observation per request, and its request id.

Pure ASGI and outermost (api/app.py): it sees the status every other layer settled on, including the 503 of
api/resilience.py, and never touches a body, so SSE on /live and tiles stream through as before. The request
id is the client's ``X-Request-ID`` when it is 1 to 64 characters of ``[A-Za-z0-9._-]`` (a proxy's id then
joins the two logs), otherwise a new one; it is echoed in the ``X-Request-ID`` response header and, through
``current_request_id``, in problem+json bodies (api/problems.py).

The line (logger ``sitmap.request``) carries the route *template* (``/incidents/{incident_id}``), so neither
an id in a path nor a query string reaches the log, and the caller's user id, never a name.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics

log = logging.getLogger("sitmap.request")

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
QUIET_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics"})
_request_id: ContextVar[str | None] = ContextVar("sitmap_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being answered in this context, if any."""
    return _request_id.get()


def request_id_from(headers: Headers) -> str:
    given = headers.get(HEADER.lower(), "")
    return given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The template of the route that answered (the router leaves it in the scope), not the path."""
    route = scope.get("route")
    if route is None:
        return metrics.UNMATCHED
    path = getattr(route, "path", None) or metrics.UNMATCHED
    return path + "/{path}" if isinstance(route, Mount) else path


def _user_id(scope: Scope) -> int | None:
    principal = (scope.get("state") or {}).get("principal")
    return getattr(principal, "user_id", None)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id_from(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = rid
        token = _request_id.set(rid)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            failed = True
            raise
        finally:
            _request_id.reset(token)
            # A failure before any response becomes the server's 500; a stream ended by its client keeps its 200.
            if not status:
                status = 500 if failed else 0
            self._record(scope, rid, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, rid: str, status: int, seconds: float) -> None:
        route, method = route_template(scope), scope["method"]
        if status:
            metrics.observe_request(route, method, status, seconds)
        if status >= 500:
            level = logging.ERROR if status == 500 else logging.WARNING
        else:
            # A load balancer probes every few seconds: its answers are logged only when they fail.
            level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
        log.log(level, "%s %s %s %.1f ms", method, route, status or "-", seconds * 1000,
                extra={"request_id": rid, "method": method, "route": route, "status": status or None,
                       "duration_ms": round(seconds * 1000, 2), "user_id": _user_id(scope)})
