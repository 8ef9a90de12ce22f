"""The audit log: who did or read what, when, from where."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

INSERT_INTO = "INSERT INTO audit_log (user_id, username, action, target, remote_addr, detail)"
INSERT_SQL = INSERT_INTO + " VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
_ACTION = re.compile(r"[a-z_]+(\.[a-z_]+)*")


def insert_per_row(action: str, relation: str, target: str, detail: str) -> str:
    """SQL of an INSERT writing one audit row per row of ``relation``, for a write that audits itself in its
    own statement (a CTE beside ``INSERT ... RETURNING``): the caller is the bound parameters ``%(uid)s``,
    ``%(username)s`` and ``%(addr)s``; ``target`` and ``detail`` are SQL over the relation's columns (trusted
    code, like the rest of the statement)."""
    if not _ACTION.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not a dotted lower-case name")
    values = f"%(uid)s, %(username)s, '{action}', {target}, %(addr)s, {detail}"
    return f"{INSERT_INTO} SELECT {values} FROM {relation}"  # noqa: S608 (trusted fragments, the action checked)


async def record(conn: psycopg.AsyncConnection, user_id: int | None, username: str | None, action: str,
                 target: str | None, remote_addr: str | None, detail: dict[str, Any] | None = None) -> None:
    await conn.execute(INSERT_SQL, (user_id, username, action, target, remote_addr,
                                    json.dumps(detail or {}, default=str)))


# A read's row is committed without waiting for its WAL flush (a crash can lose the last fraction of a second of
# read rows, never a write's): a durable commit per feature page would put a disk flush on every read.
READ_SQL = (INSERT_INTO + " SELECT %s, %s, %s, %s, %s, %s::jsonb "
            "FROM (SELECT set_config('synchronous_commit', 'off', true)) s")
# How many ids one row names; the count is always the full one.
MAX_IDS = 1000


async def record_read(conn: psycopg.AsyncConnection, user_id: int | None, username: str | None, action: str,
                      target: str, remote_addr: str | None, ids: list[str], query: dict[str, Any] | None = None,
                      **detail: Any) -> None:
    """One row for one request that returned personal details: who, what (ids, or the query), how many."""
    body = {"count": len(ids), "ids": ids[:MAX_IDS], **({"query": query} if query is not None else {}), **detail}
    await conn.execute(READ_SQL, (user_id, username, action, target, remote_addr, json.dumps(body, default=str)))


async def search(conn: psycopg.AsyncConnection, *, username: str | None = None, action: str | None = None,
                 target: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, at, username, action, target, remote_addr, detail FROM audit_log "
        "WHERE (%(u)s::text IS NULL OR username = %(u)s) AND (%(a)s::text IS NULL OR action LIKE %(a)s) "
        "AND (%(t)s::text IS NULL OR target LIKE %(t)s) "
        "AND (%(s)s::timestamptz IS NULL OR at >= %(s)s) AND (%(e)s::timestamptz IS NULL OR at < %(e)s) "
        "ORDER BY id DESC LIMIT %(n)s",
        {"u": username, "a": action.replace("*", "%") if action else None,
         "t": target.replace("*", "%") if target else None, "s": since, "e": until, "n": limit})
    return await cur.fetchall()
