"""Refuse request bodies over a set size with 413 problem+json, before they are read whole.

A declared ``Content-Length`` over the cap is answered at once, without reading anything. A body without
one (chunked) or longer than it declares is counted as the application reads it; the read that crosses
the cap raises ``BodyTooLarge`` (an HTTPException, so FastAPI's body parsing lets it through to the
problem handler instead of turning it into a 400). Pure ASGI: streams such as /live pass untouched.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from data.settings import Settings

# Routes that take more than the default cap: (method, path) → the setting that holds their cap.
LARGER_BODIES = {("POST", "/incidents/batch"): "max_batch_body_bytes",
                 **{("POST", f"/imports/{kind}"): "max_import_bytes"
                    for kind in ("communes", "villages", "roads", "stations", "patrol-points", "incidents")}}


TITLE = "Payload too large"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, batch: bool) -> None:
        hint = "split the batch into smaller ones" if batch else "send less (shorter texts)"
        # Connection: close — the unread rest of the body must not be taken for the next request.
        super().__init__(413, f"the request body is larger than {limit} bytes, the limit for this route; {hint}",
                         headers={"Connection": "close"})


def cap_for(settings: Settings, method: str, path: str) -> tuple[int, bool]:
    name = LARGER_BODIES.get((method, path.rstrip("/") or "/"))
    return (getattr(settings, name), True) if name else (settings.max_body_bytes, False)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, batch = cap_for(self.settings, scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, BodyTooLarge(limit, batch))
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, batch)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # raised where no handler answered it (outside a route)
            if started:
                raise
            await _refuse(scope, receive, send, exc)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
    await problem_response(413, TITLE, str(exc.detail), scope["path"], headers=exc.headers)(scope, receive, send)
