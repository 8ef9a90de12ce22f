"""Refused writes land in the audit log: a signed-in caller's write answered 403 or 409 writes one row.

It wraps the one problem handler of refused operations (``OpsError``, see api/problems.py), so every route that
refuses through it is covered without a line of its own: roles (``require(action)``, data/permissions.py),
commune scope, workflow and version conflicts. The row is written on a connection of its own (the request's
transaction, if any, has been rolled back) and a failure to write it never changes the answer. The CSRF refusal
of the gate is not an operation (the request never reached a route) and is not audited here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.security import remote_addr
from data.ops import audit
from data.ops.errors import OpsError

ACTION = "refused"
AUDITED = frozenset({403, 409})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger(__name__)


async def record_refusal(request: Request, exc: OpsError) -> None:
    principal = getattr(request.state, "principal", None)
    if principal is None or request.method in SAFE_METHODS or exc.status not in AUDITED:
        return
    try:
        async with request.app.state.pool.connection() as conn:
            await audit.record(conn, principal.user_id, principal.username, ACTION,
                               f"{request.method} {request.url.path}", remote_addr(request),
                               {"status": exc.status, "type": exc.type, "title": exc.title, "detail": exc.detail})
    except Exception:  # noqa: BLE001 (the database may be what failed; the refusal is still answered)
        log.warning("could not audit a refused %s %s", request.method, request.url.path, exc_info=True)


def install(app: FastAPI) -> None:
    """Call after api.problems.install: wraps its OpsError handler."""
    answer = app.exception_handlers[OpsError]

    async def _audited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpsError)
        await record_refusal(request, exc)
        return await answer(request, exc)

    app.add_exception_handler(OpsError, _audited)
