"""RFC 9457 problem details: every error a client can cause says what was wrong and how to fix it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from data.ops.errors import OpsError

PROBLEM_TYPE_BASE = "https://sitmap.local/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(OpsError):
    """Raise anywhere below a router to answer with a problem document; a refused operation of data/ops
    (an OpsError, which knows nothing of HTTP) is answered the same way, by the same handler."""

    def __init__(self, status: int, title: str, detail: str, *, type_: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(status, title, detail, type_, **extra)
        self.headers = headers


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
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(OpsError)
    async def _problem(request: Request, exc: OpsError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, str(request.url.path), exc.type,
                                getattr(exc, "headers", None), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg", "invalid"),
                   "input": e.get("input") if isinstance(e.get("input"), str | int | float | None) else None}
                  for e in exc.errors()]
        in_body = any(e.get("loc", ("",))[0] == "body" for e in exc.errors())
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(422 if in_body else 400, "Invalid request", detail, str(request.url.path),
                                "invalid-request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not signed in", 403: "Forbidden"}
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is no resource at {request.url.path}; see /docs for the API"
        return problem_response(exc.status_code, titles.get(exc.status_code, "Error"), detail,
                                str(request.url.path), headers=getattr(exc, "headers", None))
