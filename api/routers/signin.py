"""Sign-in: ``POST /auth/token`` (OAuth2 password flow), ``POST /auth/login`` (browser cookie),
``POST /auth/logout``, ``GET /auth/me``. The steps and the cookie and CSRF rules are in data/ops/signin.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.database import connection
from api.deps import services
from api.problems import Problem
from api.security import COOKIE_NAME, _token, optional_principal, remote_addr, require
from data.ops import signin, users
from data.permissions import Caller

router = APIRouter(prefix="/auth", tags=["auth"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]


def _limits(request: Request) -> signin.Limits:
    s = request.app.state.settings
    return signin.Limits(s.signin_max_failures_per_user, s.signin_max_failures_per_addr, s.signin_window_s)


async def _sign_in(conn: psycopg.AsyncConnection, request: Request, username: str, password: str,
                   kind: str) -> tuple[str, dict[str, Any]]:
    ttl = timedelta(minutes=request.app.state.settings.token_ttl_minutes)
    return await signin.sign_in(conn, services(request).verifier, _limits(request), username, password, kind,
                                remote_addr(request), ttl)


def _secure(request: Request) -> bool:
    # The scheme is the browser's when a trusted proxy said so (api/headers.py, SITMAP_FORWARDED_ALLOW_IPS).
    return request.app.state.settings.cookie_secure or request.url.scheme == "https"


async def _credentials_from(request: Request) -> tuple[str, str]:
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("application/json"):
            body = await request.json()
        else:
            body = dict(await request.form())
    except ValueError as exc:
        raise Problem(400, "Invalid request", f"the body could not be read: {exc}") from exc
    username, password = (body.get("username"), body.get("password")) if isinstance(body, dict) else (None, None)
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Problem(422, "Invalid request", "send username and password, as JSON "
                      '{"username": ..., "password": ...} or as form fields', type_="invalid-request")
    return username, password


@router.post("/token", summary="OAuth2 password flow: a bearer token that expires")
async def token(conn: Conn, request: Request,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    tok, _ = await _sign_in(conn, request, form.username, form.password, "bearer")
    return {"access_token": tok, "token_type": "bearer",
            "expires_in": request.app.state.settings.token_ttl_minutes * 60}


@router.post("/login", summary="Browser sign-in: sets the HttpOnly, SameSite=Strict session cookie")
async def login(conn: Conn, request: Request, response: Response) -> dict[str, Any]:
    username, password = await _credentials_from(request)
    tok, user = await _sign_in(conn, request, username, password, "cookie")
    settings = request.app.state.settings
    response.set_cookie(COOKIE_NAME, tok, max_age=settings.token_ttl_minutes * 60, httponly=True,
                        samesite="strict", secure=_secure(request), path="/")
    found = await users.session_user(conn, signin.token_hash(tok))
    return {"username": user["username"], "role": user["role"],
            "communes": await users.unit_codes(conn, found.caller.unit_ids if found else None)}


@router.post("/logout", summary="Revoke the current session (cookie or bearer) and clear the cookie")
async def logout(conn: Conn, request: Request, response: Response) -> dict[str, Any]:
    principal = await optional_principal(request)  # who it was, read before the session is revoked
    await signin.sign_out(conn, _token(request.headers)[0], principal, remote_addr(request))
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return {"signed_out": True}


@router.get("/me", summary="Who is signed in: user name, role, communes (null: province-wide)")
async def me(conn: Conn, principal: Annotated[Caller, Depends(require("self.read"))]) -> dict[str, Any]:
    return {"username": principal.username, "role": principal.role,
            "communes": await users.unit_codes(conn, principal.unit_ids)}
