"""One's own account: change one's password (also the forced change at first sign-in). The rules and the
writes are in data/ops/accounts.py; the gate that holds a forced user back is api/security.py."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.database import connection
from api.deps import services
from api.security import _token, remote_addr, require
from api.strict import STRICT
from data.ops import accounts, signin
from data.permissions import Caller

router = APIRouter(prefix="/account", tags=["auth"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]


class PasswordChange(BaseModel):
    model_config = STRICT
    current_password: str = Field(max_length=signin.MAX_PASSWORD_CHARS)
    new_password: str = Field(max_length=signin.MAX_PASSWORD_CHARS,
                              description=f"At least {accounts.MIN_PASSWORD_CHARS} characters, not the current one")


@router.get("", summary="One's own account: user name, role, whether the password must be changed first")
async def me(caller: Annotated[Caller, Depends(require("self.read"))]) -> dict[str, Any]:
    return {"username": caller.username, "role": caller.role, "must_change_password": caller.must_change_password,
            "min_password_chars": accounts.MIN_PASSWORD_CHARS}


@router.post("/password", status_code=204, response_class=Response,
             summary="Change one's own password; ends one's other sessions")
async def change_password(body: PasswordChange, conn: Conn, request: Request,
                          caller: Annotated[Caller, Depends(require("self.password"))]) -> Response:
    s = request.app.state.settings
    limits = signin.Limits(s.signin_max_failures_per_user, s.signin_max_failures_per_addr, s.signin_window_s)
    token = _token(request.headers)[0]
    await accounts.change_own_password(conn, services(request).verifier, limits, caller, body.current_password,
                                       body.new_password, remote_addr(request),
                                       signin.token_hash(token) if token else None)
    return Response(status_code=204)
