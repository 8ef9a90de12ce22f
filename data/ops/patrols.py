"""Patrol check-ins: stored once per client UUID, accepted within the check-in radius of the point, else
stored flagged with the distance. The patrol-points layer shows the last accepted visit and overdue."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import limits as bounds
from data.ops import audit, events
from data.ops.errors import conflict, invalid, not_found
from data.ops.field_checks import Limits, check_accuracy, check_point, check_time
from data.ops.patrol_schedules import FULFILS_SQL
from data.ops.scope import in_scope, require_in_scope, scope_params
from data.permissions import Caller
from layers import geojson

LAYER = "patrol-points"

POINT_SQL = """
SELECT p.id, p.name, p.kind, p.unit_id, u.code AS unit_code, u.name AS unit_name, p.visit_interval_hours,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
       ST_Distance(p.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) AS distance_m
  FROM patrol_point p LEFT JOIN admin_unit u ON u.id = p.unit_id WHERE p.id = %(pid)s
"""

# The visit records the schedule it fulfils (data/ops/patrol_schedules.py FULFILS_SQL: the caller's own, else
# their team's, else the point's schedule in force at the visit's time).
INSERT_SQL = """
INSERT INTO patrol_visit (client_id, patrol_point_id, visited_at, user_id, accuracy_m, distance_m, accepted, note,
                          geom, schedule_id)
VALUES (%(cid)s, %(pid)s, %(at)s, %(uid)s, %(acc)s, %(dist)s, %(ok)s, %(note)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), """ + FULFILS_SQL + """)
ON CONFLICT (client_id) DO NOTHING RETURNING id, schedule_id
"""

VISIT_SQL = """
SELECT v.client_id AS id, v.patrol_point_id, v.visited_at, v.accuracy_m, v.distance_m, v.accepted, v.note,
       ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat, v.user_id, v.schedule_id
  FROM patrol_visit v WHERE v.client_id = %s
"""

STATUS_SQL = """
SELECT p.id, p.name, p.kind, u.code AS unit_code, p.visit_interval_hours, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
       d.last_visit_at, d.due_at, coalesce(d.overdue, true) AS overdue, d.overdue_hours, d.schedules,
       (SELECT count(*) FROM patrol_visit f WHERE f.patrol_point_id = p.id AND NOT f.accepted) AS flagged_visits
  FROM patrol_point p LEFT JOIN admin_unit u ON u.id = p.unit_id
  -- sitmap_patrol_due (migration 0021), the one definition of overdue: the point's most pressing schedule
  LEFT JOIN LATERAL (SELECT max(last_visit_at) AS last_visit_at, min(due_at) AS due_at, bool_or(overdue) AS overdue,
                            max(overdue_hours) AS overdue_hours, count(schedule_id) AS schedules
                       FROM sitmap_patrol_due(now()) WHERE patrol_point_id = p.id) d ON true
 WHERE p.id = %(pid)s AND """ + in_scope("p.unit_id") + """
"""  # noqa: S608 - constant scope fragment, bound parameters


async def check_in(conn: psycopg.AsyncConnection, actor: Caller, point_id: int, visit_id: uuid.UUID, lon: float,
                   lat: float, accuracy_m: float | None, visited_at: datetime | None, note: str | None,
                   radius_m: float, addr: str | None, limits: Limits | None = None) -> tuple[int, dict[str, Any]]:
    """Store a check-in once (201), answer a retry with the stored one (200); the same rules for the point, the
    accuracy and the time as for incidents (data/ops/field_checks.py)."""
    limits = limits or Limits()
    check_point(lon, lat)
    check_accuracy(accuracy_m)
    if note is not None and len(note) > bounds.NOTE_CHARS:
        raise invalid(f"note has {len(note)} characters; the limit is {bounds.NOTE_CHARS}", field="note")
    now = datetime.now(UTC)
    if visited_at is not None:
        check_time("visited_at", visited_at, limits, now)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(POINT_SQL, {"pid": point_id, "lon": lon, "lat": lat})
    point = await cur.fetchone()
    if point is None:
        raise not_found(f"there is no patrol point {point_id}")
    require_in_scope(actor, "patrol.check_in", point["unit_id"], f"patrol point {point_id}", point["unit_name"],
                     point["unit_code"])
    dist = float(point["distance_m"])
    accepted = dist <= radius_m
    params = {"cid": visit_id, "pid": point_id, "at": visited_at or now, "uid": actor.user_id, "acc": accuracy_m,
              "dist": dist, "ok": accepted, "note": note, "lon": lon, "lat": lat}
    async with conn.transaction():
        inserted = await (await conn.execute(INSERT_SQL, params)).fetchone()
        await cur.execute(VISIT_SQL, (visit_id,))
        visit = await cur.fetchone()
        if inserted is not None:
            feature = await geojson.public_feature(conn, LAYER, point_id)
            await events.emit(conn, "patrol_visit", LAYER, point["unit_id"],
                              {"feature": feature, "unit_code": point["unit_code"],
                               "visit": {"id": str(visit_id), "accepted": accepted, "distance_m": round(dist, 1)}})
            await audit.record(conn, actor.user_id, actor.username, "patrol.visit", f"patrol_point:{point_id}", addr,
                               {"visit": str(visit_id), "accepted": accepted, "distance_m": round(dist, 1),
                                **({"schedule_id": inserted[1]} if inserted[1] is not None else {})})
    out = _visit_out(visit, radius_m)
    if inserted is not None:
        return 201, out
    if visit["patrol_point_id"] != point_id or visit["user_id"] != actor.user_id:
        raise conflict(f"visit {visit_id} was already recorded for another point or user; a new check-in needs "
                       "a new id", id=str(visit_id))
    return 200, out


def _visit_out(v: dict[str, Any], radius_m: float) -> dict[str, Any]:
    return {"id": str(v["id"]), "patrol_point_id": v["patrol_point_id"], "visited_at": v["visited_at"],
            "lon": v["lon"], "lat": v["lat"], "accuracy_m": v["accuracy_m"],
            "distance_m": round(v["distance_m"], 1), "accepted": v["accepted"], "radius_m": radius_m,
            "schedule_id": v["schedule_id"],
            "flag": None if v["accepted"] else f"{round(v['distance_m'])} m from the point, beyond the "
                                                f"{round(radius_m)} m check-in radius"}


async def status(conn: psycopg.AsyncConnection, actor: Caller, point_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(STATUS_SQL, {"pid": point_id, **scope_params(actor, "patrol.read")})
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no patrol point {point_id} in your communes")
    return row
