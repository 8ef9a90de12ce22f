"""Patrol schedules: a security team and/or an officer assigned to a patrol point, every N hours or for named
daily shifts (data/vocab.py PATROL_SHIFTS, Asia/Ho_Chi_Minh time), in force from ``valid_from`` to ``valid_to``.

Commune chiefs (commanders) and admins manage them within their communes (``patrol.schedule``). Each write is
one transaction: the row, one ``audit_log`` row (``patrol_schedule.create|edit|delete``, target
``patrol_schedule:{id}``) and one live event (kind ``patrol_schedule``, ``step`` create|edit|delete) carrying the
patrol point's Feature, whose due/overdue the schedule changes. Edits and deletes run at a version (a stale one
is 409). When a point is due and whether it is overdue is never computed here: ``sitmap_patrol_due(at)``
(migration 0021) is the one definition; this module reads it for an officer's route of the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from data import limits as bounds
from data import vocab
from data.ops import audit, events
from data.ops.errors import bad_parameter, conflict, forbidden, invalid, not_found
from data.ops.scope import in_scope, require_in_scope, scope_params
from data.permissions import Caller, always_in_communes, communes_for, may
from layers import geojson

ACTION = "patrol.schedule"
TEAMS_ACTION = "patrol.read"
ROUTE_ACTION = "patrol.check_in"
LAYER = "patrol-points"
EVENT = "patrol_schedule"
SHIFTS = vocab.codes(vocab.PATROL_SHIFTS)
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_EVERY_HOURS = 24 * 90
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EDITABLE = ("team_id", "username", "every_hours", "shifts", "valid_from", "valid_to", "note")

# The schedule a check-in at point %(pid)s at %(at)s by user %(uid)s fulfils: the user's own schedule there in
# force at that time, else their team's, else the point's (the oldest first among equals). data/ops/patrols.py
# stores it with the visit.
FULFILS_SQL = """
(SELECT s.id FROM patrol_schedule s
  WHERE s.patrol_point_id = %(pid)s AND s.valid_from <= %(at)s AND %(at)s < coalesce(s.valid_to, 'infinity')
  ORDER BY coalesce(s.user_id = %(uid)s::int, false) DESC,
           coalesce(s.team_id = (SELECT m.team_id FROM security_team_member m WHERE m.user_id = %(uid)s::int),
                    false) DESC,
           s.id
  LIMIT 1)
"""


@dataclass(frozen=True)
class NewSchedule:
    patrol_point_id: int
    team_id: int | None = None
    username: str | None = None
    every_hours: int | None = None
    shifts: list[str] | None = None
    valid_from: datetime | None = None  # None: now
    valid_to: datetime | None = None    # None: open-ended
    note: str | None = None


SELECT_SQL = """
SELECT s.id, s.patrol_point_id, p.name AS point_name, p.kind AS point_kind, p.unit_id, u.code AS unit_code,
       u.name AS unit_name, s.team_id, t.name AS team_name, s.user_id, au.username, s.every_hours, s.shifts,
       s.valid_from, s.valid_to, s.note, s.version, s.created_at, s.updated_at, cb.username AS created_by
  FROM patrol_schedule s
  JOIN patrol_point p ON p.id = s.patrol_point_id
  LEFT JOIN admin_unit u ON u.id = p.unit_id
  LEFT JOIN security_team t ON t.id = s.team_id
  LEFT JOIN app_user au ON au.id = s.user_id
  LEFT JOIN app_user cb ON cb.id = s.created_by
"""


# ---------------------------------------------------------------------------------------------- checks

def _check_time(name: str, at: datetime | None) -> None:
    if at is None:
        return
    if at.tzinfo is None:
        raise invalid(f"{name} needs a UTC offset, e.g. 2025-08-01T06:00:00+07:00", field=name)
    if not bounds.BOUNDARIES_FROM <= at < LATEST:
        raise invalid(f"{name} {at.isoformat()} must lie between {bounds.BOUNDARIES_FROM.isoformat()} and "
                      f"{LATEST.isoformat()}", field=name)


def _check_rhythm(every_hours: int | None, shifts: list[str] | None) -> None:
    if (every_hours is None) == (shifts is None):
        raise invalid("give exactly one rhythm: every_hours (e.g. 24) or shifts (e.g. [\"morning\", \"night\"])",
                      field="every_hours")
    if every_hours is not None and not 1 <= every_hours <= MAX_EVERY_HOURS:
        raise invalid(f"every_hours must be 1 to {MAX_EVERY_HOURS}", field="every_hours", limit=MAX_EVERY_HOURS)
    if shifts is not None:
        bad = [s for s in shifts if s not in SHIFTS]
        if bad or not shifts or len(set(shifts)) != len(shifts):
            raise invalid(f"shifts must be distinct names among {', '.join(SHIFTS)}"
                          + (f"; unknown: {', '.join(map(repr, bad))}" if bad else ""), field="shifts", valid=SHIFTS)


def _check_period(valid_from: datetime, valid_to: datetime | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise invalid(f"valid_to {valid_to.isoformat()} must be after valid_from {valid_from.isoformat()}; leave "
                      "it out for a schedule without end", field="valid_to")


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > bounds.NOTE_CHARS:
        raise invalid(f"note has {len(note)} characters; the limit is {bounds.NOTE_CHARS}", field="note")


def _ordered(shifts: list[str] | None) -> list[str] | None:
    return None if shifts is None else sorted(shifts, key=SHIFTS.index)


async def _point(conn: psycopg.AsyncConnection, actor: Caller, point_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT p.id, p.name, p.unit_id, u.code AS unit_code, u.name AS unit_name FROM patrol_point p "
                      "LEFT JOIN admin_unit u ON u.id = p.unit_id WHERE p.id = %s", (point_id,))
    point = await cur.fetchone()
    if point is None:
        raise invalid(f"there is no patrol point {point_id}", field="patrol_point_id")
    require_in_scope(actor, ACTION, point["unit_id"], f"patrol point {point_id}", point["unit_name"],
                     point["unit_code"])
    return point


async def _team(conn: psycopg.AsyncConnection, actor: Caller, team_id: int) -> None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT t.id, t.unit_id, u.code AS unit_code, u.name AS unit_name FROM security_team t "
                      "LEFT JOIN admin_unit u ON u.id = t.unit_id WHERE t.id = %s", (team_id,))
    team = await cur.fetchone()
    if team is None:
        raise invalid(f"there is no security team {team_id}", field="team_id")
    require_in_scope(actor, ACTION, team["unit_id"], f"security team {team_id}", team["unit_name"], team["unit_code"])


async def _officer(conn: psycopg.AsyncConnection, username: str, point: dict[str, Any]) -> int:
    """The user id of ``username``, who must be enabled and allowed to check in at the point."""
    row = await (await conn.execute("SELECT id, role, disabled, (SELECT array_agg(unit_id) FROM app_user_unit "
                                    "WHERE user_id = app_user.id) FROM app_user WHERE username = %s",
                                    (username,))).fetchone()
    if row is None or row[2]:
        raise invalid(f"there is no enabled user {username!r}", field="username")
    uid, role, _disabled, units = row
    scoped = bool(units) or always_in_communes(role)
    who = Caller(uid, username, role, frozenset(units or ()) if scoped else None)
    if not may(who, "patrol.check_in"):
        raise invalid(f"{username} is a {role} and may not check in at patrol points", field="username")
    scope = communes_for(who, "patrol.check_in")
    if scope is not None and point["unit_id"] not in scope:
        raise invalid(f"{username} may not check in at {point['unit_name']} ({point['unit_code']}), outside their "
                      "communes", field="username")
    return uid


async def _fetch(conn: psycopg.AsyncConnection, sid: int, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE s.id = %s" + (" FOR UPDATE OF s" if lock else ""), (sid,))
    return await cur.fetchone()


async def _emit(conn: psycopg.AsyncConnection, step: str, row: dict[str, Any]) -> None:
    feature = await geojson.public_feature(conn, LAYER, row["patrol_point_id"])
    await events.emit(conn, EVENT, LAYER, row["unit_id"], {"feature": feature, "unit_code": row["unit_code"],
                                                           "step": step, "schedule_id": row["id"]})


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("patrol_point_id", "team_id", "username", "every_hours", "shifts", "valid_from",
                                "valid_to")}


# ---------------------------------------------------------------------------------------------- writes

async def create(conn: psycopg.AsyncConnection, actor: Caller, item: NewSchedule, addr: str | None
                 ) -> dict[str, Any]:
    """Assign a team and/or an officer to a patrol point; 422 for a bad rhythm, period, team or officer; 403
    outside the actor's communes."""
    if item.team_id is None and item.username is None:
        raise invalid("name who patrols: team_id, username or both", field="team_id")
    _check_rhythm(item.every_hours, item.shifts)
    _check_time("valid_from", item.valid_from)
    _check_time("valid_to", item.valid_to)
    _check_note(item.note)
    async with conn.transaction():
        now = (await (await conn.execute("SELECT now()")).fetchone())[0]
        valid_from = item.valid_from or now
        _check_period(valid_from, item.valid_to)
        point = await _point(conn, actor, item.patrol_point_id)
        if item.team_id is not None:
            await _team(conn, actor, item.team_id)
        uid = await _officer(conn, item.username, point) if item.username is not None else None
        sid = (await (await conn.execute(
            "INSERT INTO patrol_schedule (patrol_point_id, team_id, user_id, every_hours, shifts, valid_from, "
            "valid_to, note, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (item.patrol_point_id, item.team_id, uid, item.every_hours, _ordered(item.shifts), valid_from,
             item.valid_to, item.note, actor.user_id))).fetchone())[0]
        row = await _fetch(conn, sid)
        await _emit(conn, "create", row)
        await audit.record(conn, actor.user_id, actor.username, "patrol_schedule.create", f"patrol_schedule:{sid}",
                           addr, _summary(row))
    return row


async def _locked(conn: psycopg.AsyncConnection, actor: Caller, sid: int, version: int) -> dict[str, Any]:
    row = await _fetch(conn, sid, lock=True)
    if row is None:
        raise not_found(f"there is no patrol schedule {sid}")
    require_in_scope(actor, ACTION, row["unit_id"], f"patrol schedule {sid}", row["unit_name"], row["unit_code"])
    if row["version"] != version:
        raise conflict(f"patrol schedule {sid} has changed: your version is {version}, the current one is "
                       f"{row['version']}; reload it and apply your change again", current_version=row["version"])
    return row


async def edit(conn: psycopg.AsyncConnection, actor: Caller, sid: int, version: int, changes: dict[str, Any],
               addr: str | None) -> dict[str, Any]:
    """Change who patrols, the rhythm (giving every_hours clears shifts and the other way round), the period or
    the note; 409 for a stale version."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise invalid(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}", field=unknown[0])
    if not changes:
        raise invalid(f"nothing to change: send one of {', '.join(EDITABLE)}")
    for k in ("valid_from", "valid_to"):
        if k in changes:
            _check_time(k, changes[k])
    if "note" in changes:
        _check_note(changes["note"])
    if changes.get("every_hours") is not None:
        changes.setdefault("shifts", None)
    if changes.get("shifts") is not None:
        changes.setdefault("every_hours", None)
    async with conn.transaction():
        row = await _locked(conn, actor, sid, version)
        new = {**row, **changes}
        if new["valid_from"] is None:
            raise invalid("valid_from cannot be null", field="valid_from")
        _check_rhythm(new["every_hours"], new["shifts"])
        _check_period(new["valid_from"], new["valid_to"])
        if new["team_id"] is None and new["username"] is None:
            raise invalid("a schedule needs a team, an officer or both", field="team_id")
        if changes.get("team_id") is not None:
            await _team(conn, actor, changes["team_id"])
        uid = row["user_id"]
        if "username" in changes:
            point = {"unit_id": row["unit_id"], "unit_name": row["unit_name"], "unit_code": row["unit_code"]}
            uid = await _officer(conn, changes["username"], point) if changes["username"] is not None else None
        await conn.execute(
            "UPDATE patrol_schedule SET team_id = %s, user_id = %s, every_hours = %s, shifts = %s, valid_from = %s, "
            "valid_to = %s, note = %s, version = version + 1, updated_at = now() WHERE id = %s",
            (new["team_id"], uid, new["every_hours"], _ordered(new["shifts"]), new["valid_from"], new["valid_to"],
             new["note"], sid))
        out = await _fetch(conn, sid)
        await _emit(conn, "edit", out)
        detail = {k: (v if k != "note" else "(changed)") for k, v in changes.items()}
        await audit.record(conn, actor.user_id, actor.username, "patrol_schedule.edit", f"patrol_schedule:{sid}",
                           addr, {**detail, "from": _summary(row)})
    return out


async def delete(conn: psycopg.AsyncConnection, actor: Caller, sid: int, version: int, addr: str | None) -> None:
    """Delete a schedule (its visits keep their time; they no longer name it); 409 for a stale version."""
    async with conn.transaction():
        row = await _locked(conn, actor, sid, version)
        await conn.execute("DELETE FROM patrol_schedule WHERE id = %s", (sid,))
        await _emit(conn, "delete", row)
        await audit.record(conn, actor.user_id, actor.username, "patrol_schedule.delete", f"patrol_schedule:{sid}",
                           addr, _summary(row))


# ---------------------------------------------------------------------------------------------- reads

async def read(conn: psycopg.AsyncConnection, actor: Caller, sid: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE s.id = %(id)s AND " + in_scope("p.unit_id"),
                      {"id": sid, **scope_params(actor, ACTION)})
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no patrol schedule {sid} in your communes")
    return row


async def search(conn: psycopg.AsyncConnection, actor: Caller, *, unit_code: str | None = None,
                 point_id: int | None = None, team_id: int | None = None, in_force_at: datetime | None = None,
                 limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The schedules of the points in the caller's communes, filtered; newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        SELECT_SQL + " WHERE " + in_scope("p.unit_id")
        + " AND (%(code)s::text IS NULL OR u.code = %(code)s) AND (%(pid)s::int IS NULL OR s.patrol_point_id = %(pid)s)"
          " AND (%(tid)s::int IS NULL OR s.team_id = %(tid)s)"
          " AND (%(at)s::timestamptz IS NULL OR (s.valid_from <= %(at)s"
          "      AND %(at)s < coalesce(s.valid_to, 'infinity')))"
          " ORDER BY s.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"code": unit_code, "pid": point_id, "tid": team_id, "at": in_force_at, "limit": limit, "offset": offset,
         **scope_params(actor, ACTION)})
    return await cur.fetchall()


TEAMS_SQL = """
SELECT t.id, t.name, t.members, t.unit_id, u.code AS unit_code, u.name AS unit_name, t.settlement_id,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat,
       (SELECT coalesce(array_agg(x.id ORDER BY x.id), '{}') FROM (
          SELECT p.id FROM patrol_point p WHERE p.team_id = t.id
          UNION SELECT s.patrol_point_id FROM patrol_schedule s
                 WHERE s.team_id = t.id AND s.valid_from <= now() AND now() < coalesce(s.valid_to, 'infinity')) x
       ) AS patrol_point_ids,
       (SELECT count(*) FROM patrol_schedule s WHERE s.team_id = t.id AND s.valid_from <= now()
           AND now() < coalesce(s.valid_to, 'infinity')) AS schedules
  FROM security_team t LEFT JOIN admin_unit u ON u.id = t.unit_id
"""


async def teams(conn: psycopg.AsyncConnection, actor: Caller, *, unit_code: str | None = None,
                limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The security teams of the caller's communes with the points they look after (the point's own team and
    the schedules in force now)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(TEAMS_SQL + " WHERE " + in_scope("t.unit_id")
                      + " AND (%(code)s::text IS NULL OR u.code = %(code)s) ORDER BY t.id LIMIT %(limit)s "
                        "OFFSET %(offset)s",
                      {"code": unit_code, "limit": limit, "offset": offset, **scope_params(actor, TEAMS_ACTION)})
    return await cur.fetchall()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), ZONE)
    return start, start + timedelta(days=1)


def shift_windows(day: date, shifts: list[str]) -> list[tuple[str, datetime, datetime]]:
    """The windows of ``shifts`` that overlap local day ``day``: those starting on it and the night shift that
    began the evening before and ends this morning."""
    day_start, day_end = day_bounds(day)
    out = []
    for d in (day - timedelta(days=1), day):
        for s in shifts:
            a, b = vocab.PATROL_SHIFT_HOURS[s]
            start = datetime.combine(d, time(a), ZONE)
            end = start + timedelta(hours=(b - a) % 24)
            if end > day_start and start < day_end:
                out.append((s, start, end))
    return sorted(out, key=lambda w: w[1])


ROUTE_SQL = """
WITH me AS (SELECT (SELECT team_id FROM security_team_member WHERE user_id = %(uid)s) AS team_id),
mine AS (
  SELECT s.* FROM patrol_schedule s, me
   WHERE (s.user_id = %(uid)s OR (me.team_id IS NOT NULL AND s.team_id = me.team_id))
     AND s.valid_from < %(day_end)s AND %(day_start)s < coalesce(s.valid_to, 'infinity')
)
SELECT m.id AS schedule_id, m.patrol_point_id, p.name, p.kind, p.unit_id, u.code AS unit_code, u.name AS unit_name,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, m.team_id, t.name AS team_name,
       coalesce(m.user_id = %(uid)s, false) AS assigned_to_me, m.every_hours, m.shifts, m.valid_from, m.valid_to,
       d.last_visit_at, d.due_at, coalesce(d.overdue, false) AS overdue, d.overdue_hours,
       (SELECT coalesce(jsonb_agg(v.visited_at ORDER BY v.visited_at), '[]') FROM patrol_visit v
         WHERE v.patrol_point_id = m.patrol_point_id AND v.accepted AND v.visited_at >= %(day_start)s - interval '1 day'
           AND v.visited_at < %(day_end)s + interval '1 day'
           AND (v.schedule_id IS NULL OR v.schedule_id = m.id)) AS visits
  FROM mine m
  JOIN patrol_point p ON p.id = m.patrol_point_id
  LEFT JOIN admin_unit u ON u.id = p.unit_id
  LEFT JOIN security_team t ON t.id = m.team_id
  LEFT JOIN sitmap_patrol_due(%(at)s) d ON d.schedule_id = m.id
 WHERE """ + in_scope("p.unit_id") + """
 ORDER BY coalesce(d.overdue, false) DESC, d.due_at NULLS FIRST, p.id, m.id
"""  # noqa: S608 - constant scope fragment, bound parameters


async def route(conn: psycopg.AsyncConnection, actor: Caller, day: date | None) -> dict[str, Any]:
    """The caller's (and their team's) scheduled points for local day ``day`` (default today), each with its due
    time, last visit and status as of now (as of the day's end for a past day): ``overdue``, ``due`` (a visit is
    needed by the day's end) or ``done``; a shifts schedule lists the day's windows and whether each was visited."""
    if actor.user_id is None:
        raise forbidden("a route belongs to a signed-in user")
    now = datetime.now(UTC)
    day = day or now.astimezone(ZONE).date()
    if not bounds.BOUNDARIES_FROM.date() <= day < LATEST.date():
        raise bad_parameter(f"date {day.isoformat()} must lie between {bounds.BOUNDARIES_FROM.date().isoformat()} "
                            f"and {LATEST.date().isoformat()}", "date")
    start, end = day_bounds(day)
    at = min(now, end)
    cur = conn.cursor(row_factory=dict_row)
    team = await (await conn.execute(
        "SELECT t.id, t.name FROM security_team_member m JOIN security_team t ON t.id = m.team_id "
        "WHERE m.user_id = %s", (actor.user_id,))).fetchone()
    await cur.execute(ROUTE_SQL, {"uid": actor.user_id, "day_start": start, "day_end": end, "at": at,
                                  **scope_params(actor, ROUTE_ACTION)})
    items = []
    for r in await cur.fetchall():
        visits = [datetime.fromisoformat(v) for v in r.pop("visits")]
        windows = []
        valid_from, valid_to = r.pop("valid_from"), r.pop("valid_to") or LATEST
        for name, ws, we in shift_windows(day, r["shifts"] or []):
            if we <= valid_from or ws >= valid_to:
                continue
            hit = next((v for v in visits if ws <= v < we and v <= at), None)
            state = ("visited" if hit else "missed" if we <= at else "open" if ws <= at else "upcoming")
            windows.append({"shift": name, "starts_at": ws, "ends_at": we, "visited_at": hit, "status": state})
        if r["overdue"]:
            status = "overdue"
        elif r["due_at"] is not None and r["due_at"] < end:
            status = "due"
        else:
            status = "done"
        items.append({**r, "status": status, "windows": windows})
    return {"date": day.isoformat(), "as_of": at, "user": actor.username,
            "team": {"id": team[0], "name": team[1]} if team else None, "items": items, "count": len(items)}


async def set_member(conn: psycopg.AsyncConnection, username: str, team_id: int | None) -> None:
    """Put ``username`` in security team ``team_id`` (None: in none); the local CLI's and the demo's write."""
    async with conn.transaction():
        row = await (await conn.execute("SELECT id FROM app_user WHERE username = %s", (username,))).fetchone()
        if row is None:
            raise not_found(f"there is no user {username!r}")
        if team_id is None:
            await conn.execute("DELETE FROM security_team_member WHERE user_id = %s", (row[0],))
        else:
            if await (await conn.execute("SELECT 1 FROM security_team WHERE id = %s", (team_id,))).fetchone() is None:
                raise not_found(f"there is no security team {team_id}")
            await conn.execute("INSERT INTO security_team_member (user_id, team_id) VALUES (%s, %s) "
                               "ON CONFLICT (user_id) DO UPDATE SET team_id = excluded.team_id", (row[0], team_id))
        await audit.record(conn, None, "cli", "security_team.member", f"app_user:{row[0]}", None,
                           {"username": username, "team_id": team_id})
