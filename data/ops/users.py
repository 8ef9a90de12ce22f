"""Accounts, commune scopes and sign-in sessions (SQL only; hashing and sign-in steps: data/ops/signin.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.permissions import Caller, always_in_communes

UNIT_KINDS_2025 = vocab.COMMUNE_LEVEL_KINDS


class UserError(ValueError):
    """A user-management request that cannot be carried out; the message says how to fix it."""


@dataclass(frozen=True)
class SessionUser:
    """A live session found by its token: the caller it signs in, and how long it has left."""

    caller: Caller  # its ``via`` is the kind the session was made for (bearer | cookie)
    expires_in_s: float = 0.0  # seconds until the session expires (bounds any cache of it)

    @property
    def user_id(self) -> int | None:
        return self.caller.user_id


async def resolve_units(conn: psycopg.AsyncConnection, refs: list[str]) -> list[dict[str, Any]]:
    """Units of era 2025 named by official code or exact name (either script); each must match one unit."""
    found: list[dict[str, Any]] = []
    for ref in refs:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id, code, name FROM admin_unit WHERE era = '2025' AND kind = ANY(%(kinds)s) "
            "AND (code = %(r)s OR lower(name) = lower(%(r)s) OR lower(name_ascii) = lower(%(r)s)) ORDER BY code",
            {"r": ref.strip(), "kinds": list(UNIT_KINDS_2025)})
        rows = await cur.fetchall()
        if len(rows) == 1:
            found.append(rows[0])
            continue
        if not rows:
            await cur.execute(
                "SELECT id, code, name FROM admin_unit WHERE era = '2025' AND kind = ANY(%(kinds)s) "
                "AND (name ILIKE %(p)s OR name_ascii ILIKE %(p)s) ORDER BY code LIMIT 10",
                {"p": f"%{ref.strip()}%", "kinds": list(UNIT_KINDS_2025)})
            rows = await cur.fetchall()
            hint = ("; candidates: " + ", ".join(f"{r['name']} ({r['code']})" for r in rows)) if rows else ""
            raise UserError(f"no commune of 2025 has the code or name {ref!r}{hint}")
        raise UserError(f"{ref!r} matches {len(rows)} communes: "
                        + ", ".join(f"{r['name']} ({r['code']})" for r in rows) + "; give the code instead")
    return found


async def add_user(conn: psycopg.AsyncConnection, username: str, role: str, password_hash: str,
                   unit_ids: list[int], display_name: str | None = None) -> int:
    if role not in vocab.codes(vocab.ROLES):
        raise UserError(f"unknown role {role!r}; valid roles: {', '.join(vocab.codes(vocab.ROLES))}")
    if always_in_communes(role) and not unit_ids:
        raise UserError(f"an {role} writes only in assigned communes: give at least one --commune")
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO app_user (username, display_name, password_hash, role) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (username) DO NOTHING RETURNING id", (username, display_name, password_hash, role))
        row = await cur.fetchone()
        if row is None:
            raise UserError(f"user {username!r} exists already; choose another name")
        for uid in unit_ids:
            await conn.execute("INSERT INTO app_user_unit (user_id, unit_id) VALUES (%s, %s)", (row[0], uid))
    return row[0]


async def set_password(conn: psycopg.AsyncConnection, username: str, password_hash: str) -> None:
    await conn.execute("UPDATE app_user SET password_hash = %s, disabled = false WHERE username = %s",
                       (password_hash, username))


async def list_users(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT u.id, u.username, u.role, u.disabled, u.created_at, "
        "coalesce(array_agg(a.code ORDER BY a.code) FILTER (WHERE a.id IS NOT NULL), '{}') AS communes "
        "FROM app_user u LEFT JOIN app_user_unit uu ON uu.user_id = u.id LEFT JOIN admin_unit a ON a.id = uu.unit_id "
        "GROUP BY u.id ORDER BY u.username")
    return await cur.fetchall()


async def disable_user(conn: psycopg.AsyncConnection, username: str) -> bool:
    async with conn.transaction():
        cur = await conn.execute("UPDATE app_user SET disabled = true WHERE username = %s RETURNING id",
                                 (username,))
        row = await cur.fetchone()
        if row is None:
            return False
        await conn.execute("UPDATE app_session SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                           (row[0],))
    return True


async def credentials(conn: psycopg.AsyncConnection, username: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id, username, role, password_hash, disabled FROM app_user WHERE username = %s",
                      (username,))
    return await cur.fetchone()


async def create_session(conn: psycopg.AsyncConnection, token_hash: str, user_id: int, kind: str,
                         ttl: timedelta, remote_addr: str | None) -> None:
    await conn.execute(
        "INSERT INTO app_session (token_hash, user_id, kind, expires_at, remote_addr) "
        "VALUES (%s, %s, %s, now() + %s, %s)", (token_hash, user_id, kind, ttl, remote_addr))


async def revoke_session(conn: psycopg.AsyncConnection, token_hash: str) -> None:
    await conn.execute("UPDATE app_session SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
                       (token_hash,))


# One round trip per request: the session, its user (not disabled) and the user's commune scope.
SESSION_SQL = """
SELECT u.id, u.username, u.role, s.kind, extract(epoch FROM s.expires_at - now())::float8,
       array_agg(uu.unit_id) FILTER (WHERE uu.unit_id IS NOT NULL) AS unit_ids, u.must_change_password
  FROM app_session s
  JOIN app_user u ON u.id = s.user_id AND NOT u.disabled
  LEFT JOIN app_user_unit uu ON uu.user_id = u.id
 WHERE s.token_hash = %s AND s.revoked_at IS NULL AND s.expires_at > now()
 GROUP BY u.id, s.kind, s.expires_at
"""


async def session_user(conn: psycopg.AsyncConnection, token_hash: str) -> SessionUser | None:
    row = await (await conn.execute(SESSION_SQL, (token_hash,))).fetchone()
    if row is None:
        return None
    uid, username, role, kind, expires_in, units, must_change = row
    # Some roles are always scoped (no rows: nowhere); other roles without rows are province-wide.
    scope = frozenset(units or ()) if (units or always_in_communes(role)) else None
    # must_change_password: the gate (api/security.py) admits only the change itself until it is done.
    return SessionUser(Caller(uid, username, role, scope, kind, must_change), expires_in)


async def unit_codes(conn: psycopg.AsyncConnection, unit_ids: frozenset[int] | None) -> list[str] | None:
    if unit_ids is None:
        return None
    cur = await conn.execute("SELECT code FROM admin_unit WHERE id = ANY(%s) ORDER BY code", (sorted(unit_ids),))
    return [r[0] for r in await cur.fetchall()]


_COMMUNE_LEVEL = vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS)
MOST_POPULOUS_COMMUNE_SQL = f"""
SELECT id, code, name FROM admin_unit WHERE era = '2025' AND {_COMMUNE_LEVEL}
 ORDER BY population DESC NULLS LAST, code LIMIT 1
"""  # noqa: S608 (vocabulary constants)


async def most_populous_commune(conn: psycopg.AsyncConnection) -> tuple[int, str, str] | None:
    """(id, code, name) of the commune-level unit of 2025 with the most people (the demo users' commune)."""
    return await (await conn.execute(MOST_POPULOUS_COMMUNE_SQL)).fetchone()
