"""RFC 9457 problem details: every error a client can cause says what was wrong and how to fix it."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.request_log import current_request_id
from data.ops.errors import OpsError

PROBLEM_TYPE_BASE = "https://sitmap.local/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(OpsError):
    """Raise anywhere below a router to answer with a problem document; a refused operation of data/ops
    (an OpsError, which knows nothing of HTTP) is answered the same way, by the same handler."""

    def __init__(self, status: int, title: str, detail: str, *, type_: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(status, title, detail, type_, headers=headers, **extra)


def problem_response(status: int, title: str, detail: str, instance: str | None = None,
                     type_: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (type_ or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id  # the same id as the X-Request-ID header and the log line
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# What the client sent, echoed in an error only when it is short and JSON can carry it (an error must never
# fail to render — JSON has no infinity — nor repeat a megabyte the client just sent, even as a key).
ECHO_CHARS = 200


def _field(loc: tuple[Any, ...]) -> str:
    return _echo(".".join(str(p) for p in loc if p not in ("body",)) or "body")


def _echo(value: Any) -> Any:
    if isinstance(value, bool | int | None):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    return None


def _not_json(error: dict[str, Any], doc: Any) -> dict[str, Any]:
    """The reason a body is not JSON, with the line and column where the parser stopped."""
    pos = error["loc"][1] if len(error["loc"]) > 1 and isinstance(error["loc"][1], int) else None
    reason = f"the body is not valid JSON ({(error.get('ctx') or {}).get('error', 'decode error')}"
    if pos is not None and isinstance(doc, str | bytes):
        text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc
        line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        reason += f" at line {line}, column {column}"
    reason += "); send a JSON object with Content-Type: application/json"
    return {"field": "body", "reason": reason}


def field_errors(errors: list[Any], body: Any = None) -> list[dict[str, Any]]:
    """pydantic's errors as ``{field, reason, input}``, safe to render whatever the client sent."""
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":
            out.append(_not_json(e, body))
        else:
            out.append({"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg", "invalid"),
                        "input": _echo(e.get("input"))})
    return out


def describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e['field']}: {e['reason']}" for e in errors)


def validation_status(errors: list[dict[str, Any]]) -> int:
    """The one rule: 422 for a body that was read as JSON but whose values are refused; 400 for a request
    that could not be read as sent — a body that is not JSON, or a wrong path, query or header parameter
    (OGC API Features requires 400 for query parameters). data/ops.errors.invalid() is the 422 side of it,
    bad_parameter() the 400 side."""
    in_body = all(e.get("loc", ("",))[0] == "body" for e in errors)
    return 422 if in_body and not any(e.get("type") == "json_invalid" for e in errors) else 400


def install(app: FastAPI) -> None:
    @app.exception_handler(OpsError)
    async def _problem(request: Request, exc: OpsError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, str(request.url.path), exc.type,
                                getattr(exc, "headers", None), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        errors = field_errors(raw, getattr(exc, "body", None))
        return problem_response(validation_status(raw), "Invalid request", describe(errors),
                                str(request.url.path), "invalid-request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not signed in", 403: "Forbidden",
                  413: "Payload too large"}
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is no resource at {request.url.path}; see /docs for the API"
        return problem_response(exc.status_code, titles.get(exc.status_code, "Error"), detail,
                                str(request.url.path), headers=getattr(exc, "headers", None))
