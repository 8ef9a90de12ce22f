"""Account care: the forced password change, one's own change, and the admin's steps behind ``sitmap user``
(add, passwd, enable, set-role, set-communes). Each write and its audit row are one transaction.

``app_user.must_change_password`` (migration 0023) is set for a new account and by an admin's reset; while it
is set the gate (api/security.py, reading ``Caller.must_change_password`` from ``users.session_user``) admits
only sign-in and sign-out, who-am-I and ``POST /account/password``. Changing one's own password needs the
current one: a wrong one is a ``login_failed`` row, so it counts against the sign-in limits (data/ops/signin.py)
like a wrong sign-in, and a locked user or address is refused 429 here too. A change or a reset ends the
user's other sessions (a reset: all of them), as ``sitmap user disable`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from data import vocab
from data.ops import audit, signin, users
from data.ops.errors import OpsError, forbidden, invalid
from data.permissions import Caller, always_in_communes

# The one minimum, for ``sitmap user passwd`` and ``POST /account/password`` alike (the maximum: signin).
MIN_PASSWORD_CHARS = 10
CLI_ACTOR = "cli"  # the audit rows of the local command line name this actor, from the address "local"


def password_problem(new: str, old: str | None = None) -> str | None:
    """The rule a new password breaks, said for people; None when it is acceptable."""
    if len(new) < MIN_PASSWORD_CHARS:
        return f"the new password must have at least {MIN_PASSWORD_CHARS} characters (it has {len(new)})"
    if len(new) > signin.MAX_PASSWORD_CHARS:
        return f"the new password may have at most {signin.MAX_PASSWORD_CHARS} characters"
    if old is not None and new == old:
        return "the new password must differ from the current one"
    return None


def _weak(reason: str) -> OpsError:
    return invalid(reason, errors=[{"field": "new_password", "reason": reason}])


async def _user(conn: psycopg.AsyncConnection, username: str) -> tuple[int, str]:
    row = await (await conn.execute("SELECT id, role FROM app_user WHERE username = %s FOR UPDATE",
                                    (username,))).fetchone()
    if row is None:
        raise users.UserError(f"there is no user {username!r}; see `sitmap user list`")
    return row


async def _codes(conn: psycopg.AsyncConnection, user_id: int) -> list[str]:
    cur = await conn.execute("SELECT a.code FROM app_user_unit uu JOIN admin_unit a ON a.id = uu.unit_id "
                             "WHERE uu.user_id = %s ORDER BY a.code", (user_id,))
    return [r[0] for r in await cur.fetchall()]


async def _end_sessions(conn: psycopg.AsyncConnection, user_id: int, keep_token_hash: str | None = None) -> int:
    cur = await conn.execute(
        "UPDATE app_session SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL "
        "AND token_hash IS DISTINCT FROM %s", (user_id, keep_token_hash))
    return cur.rowcount


async def add_user(conn: psycopg.AsyncConnection, username: str, role: str, password: str, communes: list[str],
                   display_name: str | None = None, force_change: bool = True) -> dict[str, Any]:
    """``sitmap user add``: the account, its communes, whether it must change the password, its audit row."""
    password_hash = await asyncio.to_thread(signin.hash_password, password)
    async with conn.transaction():
        units = await users.resolve_units(conn, communes) if communes else []
        uid = await users.add_user(conn, username, role, password_hash, [u["id"] for u in units], display_name)
        await conn.execute("UPDATE app_user SET must_change_password = %s WHERE id = %s", (force_change, uid))
        codes = [u["code"] for u in units]
        await audit.record(conn, None, CLI_ACTOR, "user.add", f"user:{username}", "local",
                           {"role": role, "communes": codes, "must_change_password": force_change})
    return {"id": uid, "username": username, "role": role, "communes": codes, "must_change_password": force_change}


async def reset_password(conn: psycopg.AsyncConnection, username: str, password: str,
                         force_change: bool = True) -> int:
    """``sitmap user passwd`` (an admin's reset): the new password, the flag again unless told otherwise, and
    every session of the user ended. Returns how many sessions were ended."""
    reason = password_problem(password)
    if reason:
        raise users.UserError(reason)
    password_hash = await asyncio.to_thread(signin.hash_password, password)
    async with conn.transaction():
        uid, _ = await _user(conn, username)
        await conn.execute("UPDATE app_user SET password_hash = %s, must_change_password = %s WHERE id = %s",
                           (password_hash, force_change, uid))
        ended = await _end_sessions(conn, uid)
        await audit.record(conn, None, CLI_ACTOR, "user.passwd", f"user:{username}", "local",
                           {"must_change_password": force_change, "sessions_ended": ended})
    return ended


async def enable_user(conn: psycopg.AsyncConnection, username: str) -> bool:
    """``sitmap user enable``; False when the user was not disabled (nothing written, nothing audited)."""
    async with conn.transaction():
        uid, _ = await _user(conn, username)
        cur = await conn.execute("UPDATE app_user SET disabled = false WHERE id = %s AND disabled", (uid,))
        if cur.rowcount == 0:
            return False
        await audit.record(conn, None, CLI_ACTOR, "user.enable", f"user:{username}", "local")
    return True


async def set_role(conn: psycopg.AsyncConnection, username: str, role: str) -> str:
    """``sitmap user set-role``; returns the former role. Takes effect on the user's next request (the
    session lookup reads the role; the sign-in cache is evicted by the ``sitmap_auth`` trigger)."""
    if role not in vocab.codes(vocab.ROLES):
        raise users.UserError(f"unknown role {role!r}; valid roles: {', '.join(vocab.codes(vocab.ROLES))}")
    async with conn.transaction():
        uid, former = await _user(conn, username)
        if always_in_communes(role) and not await _codes(conn, uid):
            raise users.UserError(f"an {role} works only in assigned communes: give {username} communes first "
                                  f"with `sitmap user set-communes {username} CODE`")
        await conn.execute("UPDATE app_user SET role = %s WHERE id = %s", (role, uid))
        await audit.record(conn, None, CLI_ACTOR, "user.set_role", f"user:{username}", "local",
                           {"from": former, "to": role})
    return former


async def set_communes(conn: psycopg.AsyncConnection, username: str, communes: list[str] | None) -> list[str]:
    """``sitmap user set-communes``: the user's commune scope becomes exactly ``communes`` (2025 codes or exact
    names); None clears it (province-wide) where the role allows it. Returns the new codes."""
    async with conn.transaction():
        uid, role = await _user(conn, username)
        if communes is None and always_in_communes(role):
            raise users.UserError(f"an {role} works only in assigned communes; {username} cannot be province-wide")
        if communes is not None and not communes:
            raise users.UserError("give at least one commune code, or --all to clear the scope")
        units = await users.resolve_units(conn, communes) if communes else []
        former = await _codes(conn, uid)
        await conn.execute("DELETE FROM app_user_unit WHERE user_id = %s", (uid,))
        for unit_id in sorted({u["id"] for u in units}):
            await conn.execute("INSERT INTO app_user_unit (user_id, unit_id) VALUES (%s, %s)", (uid, unit_id))
        codes = sorted({u["code"] for u in units})
        await audit.record(conn, None, CLI_ACTOR, "user.set_communes", f"user:{username}", "local",
                           {"from": former, "to": codes})
    return codes


async def change_own_password(conn: psycopg.AsyncConnection, verifier: signin.PasswordVerifier,
                              limits: signin.Limits, caller: Caller, current: str, new: str,
                              remote_addr: str | None, token_hash: str | None) -> int:
    """``POST /account/password``: 429 while the user or address is locked, 403 for a wrong current password
    (a ``login_failed``), 422 for a new one that breaks a rule; then the new hash, the flag cleared and the
    user's other sessions ended, audited in one transaction. Returns how many sessions were ended."""
    if len(current) > signin.MAX_PASSWORD_CHARS:
        raise invalid(f"current_password is longer than {signin.MAX_PASSWORD_CHARS} characters",
                      errors=[{"field": "current_password", "reason": "too long"}])
    reason = password_problem(new)
    if reason:
        raise _weak(reason)
    locked = await signin.lock(conn, limits, caller.username, remote_addr)
    if locked is not None:
        await audit.record(conn, caller.user_id, caller.username, "login_limited", "account.password",
                           remote_addr, {"by": locked.by, "retry_after_s": locked.retry_after_s})
        raise OpsError(429, "Too many sign-in attempts",
                       f"too many wrong passwords for this {'user name' if locked.by == 'user' else 'address'}; "
                       f"try again in {locked.retry_after_s} s", "sign-in-limited",
                       headers={"Retry-After": str(locked.retry_after_s)})
    stored = await users.credentials(conn, caller.username)
    if stored is None or not await verifier.verify(stored["password_hash"], current):
        await audit.record(conn, caller.user_id, caller.username, "login_failed", "account.password", remote_addr)
        raise OpsError(403, "Forbidden", "the current password is wrong; the password was not changed "
                       "(wrong passwords count against the sign-in limits)", "wrong-password",
                       errors=[{"field": "current_password", "reason": "wrong"}])
    reason = password_problem(new, current)
    if reason:
        raise _weak(reason)
    password_hash = await asyncio.to_thread(signin.hash_password, new)
    async with conn.transaction():
        cur = await conn.execute("UPDATE app_user SET password_hash = %s, must_change_password = false "
                                 "WHERE id = %s AND NOT disabled", (password_hash, caller.user_id))
        if cur.rowcount == 0:
            raise forbidden("the account is disabled")
        ended = await _end_sessions(conn, caller.user_id, token_hash)
        await audit.record(conn, caller.user_id, caller.username, "account.password", f"user:{caller.username}",
                           remote_addr, {"was_forced": caller.must_change_password, "other_sessions_ended": ended})
    return ended
