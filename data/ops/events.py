"""The append-only ``event`` log behind the live stream.

Writers call ``emit`` inside their transaction: the row and the NOTIFY become visible together on commit.
Incident creation, the hot write path, does not NOTIFY in its transaction: PostgreSQL serialises the commits
of all notifying transactions on one lock held through the WAL flush, so concurrent writers could not share
a flush (group commit). Its route pokes the worker's ``Waker`` after the commit instead.

Readers deliver events in (xid, id) order and only those whose writing transaction id is below the xmin of
the reading statement's snapshot: every transaction with a smaller xid has finished, so no event can later
appear before the cursor. Ids alone cannot be trusted — id 104 may commit after 105 — but a cursor on
(xid, id) under that watermark never skips one and never repeats one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

CHANNEL = "sitmap_events"
log = logging.getLogger(__name__)
MAX_KEY = (1 << 62)

EMIT_SQL = """
WITH e AS (
  INSERT INTO event (kind, layer, unit_id, payload) VALUES (%s, %s, %s, %s::jsonb) RETURNING id
)
SELECT e.id, pg_notify('sitmap_events', '') FROM e
"""

_FETCH_SQL = """
SELECT e.id, e.xid, e.kind, e.layer, e.unit_id, u.code, e.at, e.payload, w.xmin
  FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) w
  LEFT JOIN LATERAL (
    SELECT * FROM event WHERE (xid, id) > (%(xid)s, %(id)s) {upper} ORDER BY xid, id LIMIT %(n)s
  ) e ON true
  LEFT JOIN admin_unit u ON u.id = e.unit_id
 ORDER BY e.xid, e.id
"""
FETCH_SQL = _FETCH_SQL.format(upper="")
FETCH_RANGE_SQL = _FETCH_SQL.format(upper="AND (xid, id) <= (%(to_xid)s, %(to_id)s)")


@dataclass(frozen=True)
class Event:
    id: int
    xid: int
    kind: str
    layer: str | None
    unit_id: int | None
    unit_code: str | None
    at: datetime
    payload: dict[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        return (self.xid, self.id)


async def emit(conn: psycopg.AsyncConnection, kind: str, layer: str | None, unit_id: int | None,
               payload: dict[str, Any]) -> int:
    cur = await conn.execute(EMIT_SQL, (kind, layer, unit_id, json.dumps(payload, default=str)))
    return (await cur.fetchone())[0]


async def snapshot_xmin(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return (await cur.fetchone())[0]


async def deliverable(conn: psycopg.AsyncConnection, after: tuple[int, int], limit: int = 1000,
                      upto: tuple[int, int] | None = None) -> tuple[list[Event], bool]:
    """Committed events after the cursor ``after`` that are safe to deliver, in order; and whether more
    events are visible but held back (a transaction with a smaller xid is still in flight) or left over."""
    params = {"xid": after[0], "id": after[1], "n": limit}
    if upto is not None:
        params.update(to_xid=upto[0], to_id=upto[1])
    cur = await conn.execute(FETCH_RANGE_SQL if upto is not None else FETCH_SQL, params)
    rows = await cur.fetchall()
    out: list[Event] = []
    pending = False
    for eid, xid, kind, layer, unit_id, code, at, payload, xmin in rows:
        if eid is None:
            continue
        if xid >= xmin:
            pending = True
            break
        out.append(Event(eid, xid, kind, layer, unit_id, code, at, payload))
    return out, pending or len([r for r in rows if r[0] is not None]) >= limit


async def resume_key(conn: psycopg.AsyncConnection, last_event_id: int) -> tuple[int, int]:
    """The (xid, id) cursor just after the event a client last received."""
    cur = await conn.execute(
        "SELECT coalesce((SELECT xid FROM event WHERE id = %(i)s), "
        "(SELECT max(xid) FROM event WHERE id < %(i)s), 0)", {"i": last_event_id})
    return ((await cur.fetchone())[0], last_event_id)


# A wake-up only (the events are already committed and durable): its own one-statement transaction, so
# waiting for its commit record to reach the disk buys nothing.
WAKE_SQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify('" + CHANNEL + "', '')"


class Waker:
    """One NOTIFY for any number of writes committed meanwhile, sent from a background task of the worker.

    ``poke()`` after a commit: a NOTIFY follows at once, and pokes that arrive while it is being sent are
    covered by one more. If it fails, the hubs' polling (``live_poll_s``) still delivers the events."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self._due = asyncio.Event()
        self._task: asyncio.Task | None = None

    def poke(self) -> None:
        self._due.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._due.is_set():
            self._due.clear()
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(WAKE_SQL)
            except Exception as exc:  # noqa: BLE001 (polling delivers the events later; never fail a write)
                log.warning("live wake-up NOTIFY failed (%s); the hubs' polling delivers the events", exc)
                return

    async def close(self, grace_s: float = 1.0) -> None:
        """Let a wake-up NOTIFY in flight finish, briefly (the pool closes next), then stop."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), grace_s)
            task.cancel()
