"""Refuse the NUL character in query strings and request bodies with a problem document, before any route runs.

PostgreSQL cannot store U+0000 in ``text`` nor in ``jsonb``; a value holding it would fail in the database
with a 500. So a query string with ``%00`` is answered 400 (naming the parameter), and a JSON body with a
``\\u0000`` escape in one of its strings (or a form body with ``%00``) is refused 422 (naming the field) when
the application reads it, whatever the route. Pure ASGI: the body still streams to the application; only a
copy is scanned once it is complete, and streams such as /live pass untouched.

Other modules can use ``find_nul(value)`` to locate the character in an already parsed value.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

NUL = "\x00"
_ESCAPED_BACKSLASH = re.compile(rb"\\\\")
_PERCENT_NUL = re.compile(rb"%00")
HINT = "PostgreSQL cannot store the NUL character (U+0000); remove it"


def find_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) holding NUL in a parsed JSON value, else None."""
    if isinstance(value, str):
        return (path or "body") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = find_nul(item, where)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = find_nul(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def json_has_nul(body: bytes) -> bool:
    """Whether a JSON text holds a ``\\u0000`` escape (a raw NUL is not valid JSON, refused by the parser)."""
    if b"u0000" not in body:
        return False  # the usual case, at the cost of one scan
    # Once escaped backslashes are dropped, a backslash left before u0000 starts an escape.
    return b"\\u0000" in _ESCAPED_BACKSLASH.sub(b"", body)


class NulInBody(HTTPException):
    """Raised while the application reads the body (an HTTPException, so FastAPI's body parsing lets it
    through to the handler below instead of turning it into a generic 400)."""

    def __init__(self, field: str) -> None:
        super().__init__(422, f"{field}: the text holds the NUL character (\\u0000); {HINT}")
        self.field = field


def _body_field(body: bytes, form: bool) -> str | None:
    if form:
        if not _PERCENT_NUL.search(body.lower()) and b"\x00" not in body:
            return None
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if NUL in key or NUL in value:
                return key.replace(NUL, "\\u0000")
        return "body"
    if not json_has_nul(body):
        return None
    try:
        return find_nul(json.loads(body)) or "body"
    except ValueError:  # not JSON after all: the route's parser says so
        return None


def _query_nul(scope: Scope) -> str | None:
    """The name of the first query parameter holding NUL (or "query"), else None."""
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    names = [k for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if NUL in k or NUL in v]
    return (names[0] if names else "query").replace(NUL, "\\u0000")


def _scanning(scope: Scope, receive: Receive) -> Receive:
    """``receive`` that scans a copy of a JSON or form body once it is complete (other requests: as it is)."""
    content_type = _header(scope, b"content-type")
    form = content_type.startswith(b"application/x-www-form-urlencoded")
    if scope["method"] in ("GET", "HEAD") or not (form or b"json" in content_type):
        return receive
    chunks: list[bytes] = []

    async def scanning_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                field = _body_field(b"".join(chunks), form)
                chunks.clear()
                if field is not None:
                    raise NulInBody(field)
        return message

    return scanning_receive


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # streams and lifespan pass untouched
            name = _query_nul(scope)
            if name is not None:
                refusal = problem_response(400, "Invalid query parameter", f"{name}: the value holds the NUL "
                                           f"character (%00); {HINT}", scope["path"], "invalid-parameter",
                                           parameter=name)
                await refusal(scope, receive, send)
                return
            receive = _scanning(scope, receive)
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.lower()
    return b""


def install(app: FastAPI) -> None:
    @app.exception_handler(NulInBody)
    async def _nul(request: Request, exc: NulInBody) -> JSONResponse:
        return problem_response(422, "Invalid request", str(exc.detail), str(request.url.path), "invalid-request",
                                errors=[{"field": exc.field, "reason": "holds the NUL character (\\u0000)"}])

    app.add_middleware(NulGuardMiddleware)
