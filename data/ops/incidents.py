"""Incidents: validated, idempotent creation (client UUID), workflow under optimistic concurrency, scoped
reads with personal details redacted for roles that may not see them. Every write also writes its
``incident_history`` row, its ``event`` (live stream) and its ``audit_log`` row in the same transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import limits as bounds
from data import vocab
from data.ops import audit, events
from data.ops.errors import OpsError, bad_parameter, conflict, forbidden, invalid, not_found
from data.ops.field_checks import Limits, check_accuracy, check_point, check_time
from data.ops.scope import in_scope, require_in_scope, scope_params, sees_details
from data.permissions import Caller, may
from layers import geojson

LAYER = "incidents"
CATEGORIES = vocab.codes(vocab.INCIDENT_CATEGORIES)
SEVERITIES = vocab.codes(vocab.INCIDENT_SEVERITIES)
SOURCES = vocab.codes(vocab.INCIDENT_SOURCES)
STATUSES = vocab.codes(vocab.INCIDENT_STATUSES)
# A new incident this serious or worse alerts the commune's commanders on the live stream.
ALERT_SEVERITIES = frozenset(SEVERITIES[SEVERITIES.index("serious"):])
PERSONAL_FIELDS = ("description", "reporter_name", "assignee", "created_by")

# The workflow: new → assigned → in_progress → closed, or transferred to the province.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "transferred"}),
    "assigned": frozenset({"assigned", "in_progress", "transferred"}),
    "in_progress": frozenset({"closed", "transferred"}),
    "transferred": frozenset({"assigned", "closed"}),
    "closed": frozenset(),
}
# What an officer may do with an incident assigned to them.
OFFICER_TRANSITIONS = {("assigned", "in_progress"), ("in_progress", "closed")}


@dataclass(frozen=True)
class NewIncident:
    id: uuid.UUID
    category: str
    severity: str
    occurred_at: datetime
    lon: float
    lat: float
    accuracy_m: float | None = None
    description: str | None = None
    source: str = "officer"
    reporter_name: str | None = None

    def body_hash(self) -> str:
        # Canonical form: a retry that spells the same instant or number differently is still the same body.
        canon = {"id": str(self.id), "category": self.category, "severity": self.severity,
                 "occurred_at": self.occurred_at.astimezone(UTC).isoformat(), "lon": round(self.lon, 9),
                 "lat": round(self.lat, 9), "accuracy_m": self.accuracy_m, "description": self.description,
                 "source": self.source, "reporter_name": self.reporter_name}
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()


def _valid_list(name: str, value: str, valid: list[str]) -> None:
    if value not in valid:
        raise invalid(f"unknown {name} {value!r}; valid values: {', '.join(valid)}", field=name, valid=valid)


def _check_length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise invalid(f"{name} has {len(value)} characters; the limit is {limit}: shorten it", field=name,
                      limit=limit)


def check_fields(item: NewIncident, limits: Limits, now: datetime | None = None) -> None:
    """Everything that can be checked without the database; raises OpsError saying what to fix. The request
    models refuse most of it first; this holds for any caller of data/ops."""
    _valid_list("category", item.category, CATEGORIES)
    _valid_list("severity", item.severity, SEVERITIES)
    _valid_list("source", item.source, SOURCES)
    check_time("occurred_at", item.occurred_at, limits, now)
    _check_length("description", item.description, limits.max_description_chars)
    _check_length("reporter_name", item.reporter_name, bounds.PERSON_NAME_CHARS)
    check_point(item.lon, item.lat)
    check_accuracy(item.accuracy_m)


# The commune at the incident's time by the same database function the incident trigger stores (migration
# 0015), so the scope check and the stored unit_id cannot disagree; a NULL time means now.
UNIT_AT_SQL = """
SELECT u.id, u.code, u.name FROM admin_unit u
 WHERE u.id = sitmap_commune_at(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(occurred_at)s::timestamptz)
"""

OUTSIDE_SQL = """
SELECT ST_Distance(p.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography),
       ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(%(lat)s, %(lon)s), 4326)), p.name
  FROM admin_unit p WHERE p.era = '2025' AND p.kind = 'province' ORDER BY p.id LIMIT 1
"""


async def locate(conn: psycopg.AsyncConnection, lon: float, lat: float) -> dict[str, Any]:
    """The commune of 2025 containing the point, or an OpsError saying how far outside it is."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(UNIT_AT_SQL, {"lon": lon, "lat": lat, "occurred_at": None})
    unit = await cur.fetchone()
    if unit is not None:
        return unit
    row = await (await conn.execute(OUTSIDE_SQL, {"lon": lon, "lat": lat})).fetchone()
    if row is None:
        raise invalid(f"the point lon={lon}, lat={lat} lies in no commune of 2025 (no province outline is "
                      "loaded to measure the distance)", field="lon")
    dist_m, swapped_inside, province = row
    if swapped_inside:
        raise invalid(f"the point lon={lon}, lat={lat} is outside {province}, but lon={lat}, lat={lon} is "
                      "inside: the coordinates look swapped; send lon (east, x) then lat (north, y)",
                      field="lon", swapped=True)
    if dist_m > 1.0:
        km = round(dist_m / 1000, 1)
        raise invalid(f"the point lon={lon}, lat={lat} is {km} km outside {province}; check the GPS fix",
                      field="lon", distance_km=km)
    raise invalid(f"the point lon={lon}, lat={lat} lies in {province} but in no commune of 2025", field="lon")


SELECT_SQL = """
SELECT i.id, i.number, i.category, i.severity, i.status, i.occurred_at, i.reported_at, ST_X(i.geom) AS lon,
       ST_Y(i.geom) AS lat, i.accuracy_m, i.unit_id, u.code AS unit_code, u.name AS unit_name, i.source,
       i.version, i.updated_at, i.description, i.reporter_name, a.username AS assignee, i.assignee_id,
       c.username AS created_by, i.body_hash, i.is_generated
  FROM incident i
  LEFT JOIN admin_unit u ON u.id = i.unit_id
  LEFT JOIN app_user a ON a.id = i.assignee_id
  LEFT JOIN app_user c ON c.id = i.created_by
"""


# The audit row of a new incident, written by its own INSERT statement.
_AUDIT_CREATE = audit.insert_per_row("incident.create", "ins", "'incident:' || id", "jsonb_build_object("
                                     "'unit_id', unit_id, 'category', %(category)s, 'severity', %(severity)s)")


@functools.cache
def create_sql() -> str:
    """One statement (one round trip, atomic on its own): the commune containing the point, the incident
    (only inside the actor's communes: the scope is in the SQL), its history row, its audit row and its live
    event(s) built from the inserted row as the incidents layer declares it; it returns the commune found and
    the stored incident as ``SELECT_SQL`` shapes it (NULLs when nothing was inserted). No row at all: the
    point lies in no commune. It does not NOTIFY: see ``events.Waker``."""
    return """
WITH loc AS (""" + UNIT_AT_SQL + """), ins AS (
  INSERT INTO incident (id, category, severity, occurred_at, accuracy_m, source, description, reporter_name,
                        created_by, body_hash, geom)
  SELECT %(id)s, %(category)s, %(severity)s, %(occurred_at)s, %(accuracy_m)s, %(source)s, %(description)s,
         %(reporter_name)s, %(uid)s, %(body_hash)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
    FROM loc WHERE """ + in_scope("loc.id") + """
     -- A retry selects no row, so it draws no number from the identity sequence (a row that reaches
     -- ON CONFLICT has drawn one already): the numbers people quote stay contiguous.
     AND NOT EXISTS (SELECT FROM incident WHERE id = %(id)s)
  ON CONFLICT (id) DO NOTHING
  RETURNING *
), hist AS (
  INSERT INTO incident_history (incident_id, user_id, version, from_status, to_status, changes)
  SELECT id, %(uid)s, version, NULL, status, '{"created": true}'::jsonb FROM ins
), aud AS (
  """ + _AUDIT_CREATE + """
), ev AS (
  INSERT INTO event (kind, layer, unit_id, payload)
  SELECT k.kind, '""" + LAYER + """', ins.unit_id,
         jsonb_build_object('feature', """ + geojson.public_feature_of(LAYER, "ins") + """,
                            'unit_code', (SELECT code FROM admin_unit WHERE id = ins.unit_id))
    FROM ins CROSS JOIN unnest(%(kinds)s::text[]) AS k(kind)
)
SELECT loc.id AS loc_id, loc.code AS loc_code, loc.name AS loc_name, r.*
  FROM loc LEFT JOIN (""" + SELECT_SQL.replace("FROM incident i", "FROM ins i") + """) r ON true
"""  # noqa: S608 - fragments come from declarations and constants; every value is a bound parameter


def representation(row: dict[str, Any], actor: Caller) -> dict[str, Any]:
    out = {k: row[k] for k in ("number", "category", "severity", "status", "occurred_at", "reported_at", "lon",
                               "lat", "accuracy_m", "unit_code", "unit_name", "source", "version", "updated_at",
                               *PERSONAL_FIELDS)}
    out["id"] = str(row["id"])
    if not sees_details(actor):
        for f in PERSONAL_FIELDS:
            out[f] = None
        out["redacted"] = list(PERSONAL_FIELDS)
    return out


async def fetch(conn: psycopg.AsyncConnection, incident_id: uuid.UUID, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE i.id = %s" + (" FOR UPDATE OF i" if lock else ""), (incident_id,))
    return await cur.fetchone()


async def create(conn: psycopg.AsyncConnection, actor: Caller, item: NewIncident, limits: Limits,
                 addr: str | None) -> tuple[int, dict[str, Any]]:
    """Store a new incident once. Returns (201, incident) when stored now, (200, incident) for a retry of the
    same body; raises OpsError 409 for the same id with another body, 403 outside the actor's communes."""
    check_fields(item, limits)
    scope = scope_params(actor, "incident.create")
    digest = item.body_hash()
    params = {"id": item.id, "category": item.category, "severity": item.severity,
              "occurred_at": item.occurred_at, "accuracy_m": item.accuracy_m, "source": item.source,
              "description": item.description, "reporter_name": item.reporter_name, "uid": actor.user_id,
              "username": actor.username, "body_hash": digest, "lon": item.lon, "lat": item.lat,
              "addr": addr, **scope}
    params["kinds"] = ["incident_created", *(["alert"] if item.severity in ALERT_SEVERITIES else [])]
    # One round trip for the usual case (locate, scope, insert, history, audit, event, the stored row).
    # ON CONFLICT DO NOTHING waits for a concurrent insert of the same id to finish, so exactly one request
    # stores it and every other one compares bodies against the committed row. The statement commits on its
    # own (autocommit) before we answer; in a batch it runs inside the batch's transaction and savepoint.
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(create_sql(), params)
    found = await cur.fetchone()
    if found is None:  # in no commune: locate() says how far outside, or that lon/lat look swapped
        await locate(conn, item.lon, item.lat)
        raise invalid(f"the point lon={item.lon}, lat={item.lat} lies in no commune of 2025", field="lon")
    if found["id"] is not None:
        return 201, {k: v for k, v in found.items() if not k.startswith("loc_")}
    require_in_scope(actor, "incident.create", found["loc_id"], "the point", found["loc_name"], found["loc_code"])
    row = await fetch(conn, item.id)
    if row is None:  # the WHERE refused it: cannot happen after the check above unless units changed meanwhile
        raise forbidden("the point lies outside your communes")
    if row["body_hash"] != digest:
        raise conflict(f"incident {item.id} exists with a different body; a retry must resend the same body, "
                       "a new report needs a new id", id=str(item.id))
    return 200, row


def _assignee_sql() -> str:
    return ("SELECT u.id, u.role, array_agg(uu.unit_id) FILTER (WHERE uu.unit_id IS NOT NULL) FROM app_user u "
            "LEFT JOIN app_user_unit uu ON uu.user_id = u.id WHERE u.username = %s AND NOT u.disabled GROUP BY u.id")


async def update(conn: psycopg.AsyncConnection, actor: Caller, incident_id: uuid.UUID, version: int,
                 changes: dict[str, Any], addr: str | None, limits: Limits) -> dict[str, Any]:
    """Apply a workflow step or an edit under optimistic concurrency (stale version → 409)."""
    async with conn.transaction():
        row = await fetch(conn, incident_id, lock=True)
        if row is None:
            raise not_found(f"there is no incident {incident_id}")
        require_in_scope(actor, "incident.patch", row["unit_id"], f"incident {incident_id}", row["unit_name"],
                         row["unit_code"])
        if row["version"] != version:
            raise conflict(f"incident {incident_id} has changed: your version is {version}, the current one is "
                           f"{row['version']}; reload it and apply your change again", current_version=row["version"])
        sets: dict[str, Any] = {}
        status = changes.get("status")
        if "assignee" in changes and changes["assignee"] is not None and status is None:
            status = "assigned"
        if status is not None:
            _valid_list("status", status, STATUSES)
            allowed = TRANSITIONS[row["status"]]
            if status not in allowed:
                raise conflict(f"an incident that is {row['status']!r} cannot become {status!r}; allowed next: "
                               f"{', '.join(sorted(allowed)) or 'none (closed)'}", allowed=sorted(allowed))
            if not may(actor, "incident.assign"):
                mine = row["assignee_id"] is not None and row["assignee_id"] == actor.user_id
                if not mine or (row["status"], status) not in OFFICER_TRANSITIONS:
                    raise forbidden("an officer may only start (assigned → in_progress) and close (in_progress → "
                                    "closed) incidents assigned to them; commanders assign and transfer")
            sets["status"] = status
        if status == "assigned":
            name = changes.get("assignee")
            if not name:
                raise invalid("assigning needs an assignee: the user name of an officer of this commune",
                              field="assignee")
            found = await (await conn.execute(_assignee_sql(), (name,))).fetchone()
            if found is None:
                raise invalid(f"there is no active user {name!r} to assign", field="assignee")
            if found[2] is not None and row["unit_id"] not in found[2]:
                raise invalid(f"{name!r} does not serve in {row['unit_name']} ({row['unit_code']})", field="assignee")
            sets["assignee_id"] = found[0]
        for field in ("category", "severity", "description", "reporter_name"):
            if changes.get(field) is not None:
                if not may(actor, "incident.edit"):
                    raise forbidden(f"only commanders edit {field}")
                if field == "category":
                    _valid_list("category", changes[field], CATEGORIES)
                if field == "severity":
                    _valid_list("severity", changes[field], SEVERITIES)
                if field == "description":
                    _check_length(field, changes[field], limits.max_description_chars)
                if field == "reporter_name":
                    _check_length(field, changes[field], bounds.PERSON_NAME_CHARS)
                sets[field] = changes[field]
        if not sets:
            raise invalid("nothing to change: send status, assignee, category, severity or description")
        assign = ", ".join(f"{k} = %({k})s" for k in sets)
        await conn.execute(f"UPDATE incident SET {assign}, version = version + 1, updated_at = now() "  # noqa: S608
                           "WHERE id = %(id)s", {**sets, "id": incident_id})
        logged = {k: (v if k != "description" else "(changed)") for k, v in changes.items() if v is not None}
        await conn.execute(
            "INSERT INTO incident_history (incident_id, user_id, version, from_status, to_status, changes) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
            (incident_id, actor.user_id, version + 1, row["status"], sets.get("status", row["status"]),
             json.dumps(logged, default=str)))
        new = await fetch(conn, incident_id)
        await events.emit(conn, "incident_updated", LAYER, new["unit_id"],
                          {"feature": await geojson.public_feature(conn, LAYER, incident_id),
                           "unit_code": new["unit_code"]})
        await audit.record(conn, actor.user_id, actor.username, "incident.update", f"incident:{incident_id}", addr,
                           logged)
    return new


async def read(conn: psycopg.AsyncConnection, actor: Caller, incident_id: uuid.UUID,
               addr: str | None) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE i.id = %(id)s AND " + in_scope("i.unit_id"),
                      {"id": incident_id, **scope_params(actor, "incident.read")})
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no incident {incident_id} in your communes")
    if sees_details(actor):
        await _audit_read(conn, actor, [str(incident_id)], addr)
    return representation(row, actor)


async def _audit_read(conn: psycopg.AsyncConnection, actor: Caller, ids: list[str], addr: str | None) -> None:
    target = f"incident:{ids[0]}" if len(ids) == 1 else f"incidents:{len(ids)}"
    await audit.record(conn, actor.user_id, actor.username, "incident.read_personal", target, addr,
                       {"ids": ids[:500]})


async def search(conn: psycopg.AsyncConnection, actor: Caller, addr: str | None, *, status: str | None = None,
                 unit_code: str | None = None, since: datetime | None = None, limit: int = 100,
                 offset: int = 0) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise bad_parameter(f"unknown status {status!r}; valid values: {', '.join(STATUSES)}", "status",
                            valid=STATUSES)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        SELECT_SQL + " WHERE " + in_scope("i.unit_id")
        + " AND (%(status)s::text IS NULL OR i.status = %(status)s)"
          " AND (%(code)s::text IS NULL OR u.code = %(code)s)"
          " AND (%(since)s::timestamptz IS NULL OR i.occurred_at >= %(since)s)"
          " ORDER BY i.occurred_at DESC, i.id LIMIT %(limit)s OFFSET %(offset)s",
        {"status": status, "code": unit_code, "since": since, "limit": limit, "offset": offset,
         **scope_params(actor, "incident.read")})
    rows = await cur.fetchall()
    if rows and sees_details(actor):
        await _audit_read(conn, actor, [str(r["id"]) for r in rows], addr)
    return [representation(r, actor) for r in rows]


HISTORY_SQL = """
SELECT h.at, h.version, h.from_status, h.to_status, h.changes, u.username FROM incident_history h
  JOIN incident i ON i.id = h.incident_id LEFT JOIN app_user u ON u.id = h.user_id
 WHERE h.incident_id = %(id)s AND """ + in_scope("i.unit_id") + """ ORDER BY h.id
"""  # noqa: S608


async def history(conn: psycopg.AsyncConnection, actor: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(HISTORY_SQL, {"id": incident_id, **scope_params(actor, "incident.read")})
    rows = await cur.fetchall()
    if not rows:
        raise not_found(f"there is no incident {incident_id} in your communes")
    if not sees_details(actor):
        for r in rows:
            r["username"] = None
            r["changes"] = {k: v for k, v in r["changes"].items() if k not in ("assignee", "description",
                                                                              "reporter_name")}
    return rows


__all__ = ["OpsError", "NewIncident", "Limits", "create", "update", "read", "search", "history"]
