"""Notifications: each user's inbox (read/unread), and the sweep that notifies overdue patrol points.

Incident notifications are written by the database trigger of migration 0022 in the incident's own
transaction; the sweep here writes those of overdue patrol points, once per (rule, point, overdue spell),
guarded by an advisory lock so that one worker of many does it. Either way a notification is also one live
event of kind ``notification`` that only its recipient's streams receive (api/live_stream.py), and a rule with a
webhook queues a ``webhook_delivery`` in the same transaction (data/ops/webhooks.py sends it).

A notification carries what the map shows without asking again (category, severity, commune, number, position;
a point's name and how overdue it is) and no personal details (no descriptions, reporters or assignees), so
reading the inbox is not a personal read. Marking read is a write: audited, and a ``notification_read`` event
tells the user's other open maps.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from data.ops import audit, events
from data.ops.errors import not_found
from data.permissions import Caller

EVENT = "notification"
READ_EVENT = "notification_read"
# Only these events' recipient (payload user_id) receives them on the live stream.
PERSONAL_EVENTS = frozenset({EVENT, READ_EVENT})
# The sweep's advisory lock (pg_try_advisory_xact_lock): one worker sweeps, the others skip that round.
SWEEP_LOCK = 0x5173_0022


def _own_scope(actor: Caller) -> dict[str, Any]:
    # The inbox is the caller's own; a notification of a commune the caller no longer serves is hidden.
    return {"uid": actor.user_id, "all": actor.unit_ids is None, "units": sorted(actor.unit_ids or ())}


INBOX_SQL = """
SELECT n.id, n.trigger, n.incident_id, n.patrol_point_id, n.subject, n.created_at, n.read_at, r.name AS rule
  FROM notification n JOIN alert_rule r ON r.id = n.rule_id
 WHERE n.user_id = %(uid)s AND (%(all)s OR n.unit_id = ANY(%(units)s::int[]))
   AND (NOT %(unread)s OR n.read_at IS NULL)
 ORDER BY n.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
UNREAD_SQL = """
SELECT count(*) FROM notification n
 WHERE n.user_id = %(uid)s AND n.read_at IS NULL AND (%(all)s OR n.unit_id = ANY(%(units)s::int[]))
"""


async def inbox(conn: psycopg.AsyncConnection, actor: Caller, *, unread: bool = False, limit: int = 50,
                offset: int = 0) -> dict[str, Any]:
    """The caller's notifications, newest first, and how many are unread."""
    params = {**_own_scope(actor), "unread": unread, "limit": limit, "offset": offset}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(INBOX_SQL, params)
    items = await cur.fetchall()
    count = (await (await conn.execute(UNREAD_SQL, params)).fetchone())[0]
    for n in items:
        n["incident_id"] = str(n["incident_id"]) if n["incident_id"] is not None else None
    return {"items": items, "count": len(items), "unread": count}


MARK_SQL = """
UPDATE notification n SET read_at = now()
 WHERE n.user_id = %(uid)s AND n.read_at IS NULL AND (%(all)s OR n.unit_id = ANY(%(units)s::int[]))
   AND (%(id)s::bigint IS NULL OR n.id = %(id)s)
RETURNING n.id
"""


async def _marked(conn: psycopg.AsyncConnection, actor: Caller, ids: list[int], addr: str | None,
                  what: str) -> None:
    if not ids:
        return
    await audit.record(conn, actor.user_id, actor.username, "notification.read", what, addr, {"ids": ids[:1000],
                                                                                           "count": len(ids)})
    await events.emit(conn, READ_EVENT, None, None, {"user_id": actor.user_id, "ids": ids[:1000]})


async def mark_read(conn: psycopg.AsyncConnection, actor: Caller, notification_id: int,
                    addr: str | None) -> dict[str, Any]:
    """Mark one of the caller's notifications read (marking it again changes nothing); 404 for another's."""
    scope = _own_scope(actor)
    async with conn.transaction():
        cur = await conn.execute(MARK_SQL, {**scope, "id": notification_id})
        ids = [r[0] for r in await cur.fetchall()]
        if not ids:
            row = await (await conn.execute(
                "SELECT read_at FROM notification n WHERE n.id = %(id)s AND n.user_id = %(uid)s AND "
                "(%(all)s OR n.unit_id = ANY(%(units)s::int[]))", {**scope, "id": notification_id})).fetchone()
            if row is None:
                raise not_found(f"you have no notification {notification_id}; see GET /notifications")
        await _marked(conn, actor, ids, addr, f"notification:{notification_id}")
        unread = (await (await conn.execute(UNREAD_SQL, scope)).fetchone())[0]
    return {"id": notification_id, "read": True, "unread": unread}


async def mark_all_read(conn: psycopg.AsyncConnection, actor: Caller, addr: str | None) -> dict[str, Any]:
    async with conn.transaction():
        cur = await conn.execute(MARK_SQL, {**_own_scope(actor), "id": None})
        ids = [r[0] for r in await cur.fetchall()]
        await _marked(conn, actor, ids, addr, f"notifications:{len(ids)}")
    return {"marked": len(ids), "unread": 0}


# Overdue patrol points at now() (sitmap_patrol_due, migration 0021: the one definition of overdue) under each
# enabled patrol_overdue rule; a spell is the due time (or 'never' for a point never visited), recorded in
# alert_spell so the same spell is notified once; one notification per recipient and spell however many rules
# match; a webhook delivery per rule with a webhook; one live event per notification.
SWEEP_SQL = """
WITH due AS (
  SELECT DISTINCT ON (d.patrol_point_id, d.due_at) d.patrol_point_id, d.unit_id, d.due_at, d.last_visit_at,
         d.overdue_hours, coalesce((extract(epoch FROM d.due_at))::bigint::text, 'never') AS spell,
         p.name, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, u.code AS unit_code, u.name AS unit_name
    FROM sitmap_patrol_due(now()) d
    JOIN patrol_point p ON p.id = d.patrol_point_id
    LEFT JOIN admin_unit u ON u.id = d.unit_id
   WHERE d.overdue AND d.unit_id IS NOT NULL
   ORDER BY d.patrol_point_id, d.due_at
), m AS (
  SELECT r.id AS rule_id, r.name AS rule, r.recipients, r.user_ids, r.webhook_url, due.*
    FROM alert_rule r JOIN due ON (r.unit_ids IS NULL OR due.unit_id = ANY(r.unit_ids))
         AND coalesce(due.overdue_hours, 'infinity'::float8) > coalesce(r.overdue_hours, 0)
   WHERE r.enabled AND r.trigger = 'patrol_overdue'
), sp AS (
  INSERT INTO alert_spell (rule_id, patrol_point_id, spell)
  SELECT rule_id, patrol_point_id, spell FROM m
  ON CONFLICT DO NOTHING
  RETURNING rule_id, patrol_point_id, spell
), fresh AS (
  SELECT m.*, jsonb_build_object('patrol_point_id', m.patrol_point_id, 'name', m.name, 'lon', m.lon, 'lat', m.lat,
                                 'unit_code', m.unit_code, 'unit_name', m.unit_name, 'due_at', m.due_at,
                                 'last_visit_at', m.last_visit_at, 'overdue_hours', m.overdue_hours) AS subject
    FROM m JOIN sp USING (rule_id, patrol_point_id, spell)
), rc AS (
  SELECT DISTINCT ON (f.patrol_point_id, x.uid) x.uid, f.rule_id, f.patrol_point_id, f.unit_id,
         f.subject || jsonb_build_object('rules', (SELECT jsonb_agg(g.rule ORDER BY g.rule_id) FROM fresh g
                                                    WHERE g.patrol_point_id = f.patrol_point_id)) AS subject
    FROM fresh f CROSS JOIN LATERAL sitmap_alert_recipients(f.recipients, f.user_ids, f.unit_id) AS x(uid)
   ORDER BY f.patrol_point_id, x.uid, f.rule_id
), n AS (
  INSERT INTO notification (user_id, rule_id, trigger, patrol_point_id, unit_id, subject)
  SELECT uid, rule_id, 'patrol_overdue', patrol_point_id, unit_id, subject FROM rc
  RETURNING *
), ev AS (
  INSERT INTO event (kind, layer, unit_id, payload)
  SELECT 'notification', NULL, n.unit_id,
         jsonb_build_object('user_id', n.user_id, 'notification', jsonb_build_object(
           'id', n.id, 'trigger', n.trigger, 'created_at', n.created_at, 'read_at', NULL, 'subject', n.subject))
    FROM n
), wh AS (
  INSERT INTO webhook_delivery (rule_id, notification_ids, body)
  SELECT f.rule_id,
         coalesce((SELECT array_agg(n.id ORDER BY n.id) FROM n WHERE n.patrol_point_id = f.patrol_point_id), '{}'),
         jsonb_build_object('trigger', 'patrol_overdue', 'rule', jsonb_build_object('id', f.rule_id, 'name', f.rule),
                            'subject', f.subject, 'created_at', now(),
                            'recipients', coalesce((SELECT jsonb_agg(a.username ORDER BY a.username)
                                                      FROM sitmap_alert_recipients(f.recipients, f.user_ids, f.unit_id)
                                                           AS x(uid) JOIN app_user a ON a.id = x.uid), '[]'::jsonb))
    FROM fresh f WHERE f.webhook_url IS NOT NULL
  RETURNING id
)
SELECT (SELECT count(*) FROM sp) AS spells, (SELECT count(*) FROM n) AS notifications,
       (SELECT count(*) FROM wh) AS deliveries
"""


async def sweep_overdue(conn: psycopg.AsyncConnection) -> dict[str, int] | None:
    """One sweep in its own transaction; None when another worker holds the sweep's lock (it sweeps)."""
    async with conn.transaction():
        got = (await (await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (SWEEP_LOCK,))).fetchone())[0]
        if not got:
            return None
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(SWEEP_SQL)
        counts = dict(await cur.fetchone())
        if counts["notifications"]:
            await conn.execute("SELECT pg_notify(%s, '')", (events.CHANNEL,))
    return counts
