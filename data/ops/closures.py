"""Road closures: record one (a point or a line on the road, a reason, from/to), edit when it ends, reopen it,
read them. A closure in force closes every road edge within SITMAP_CLOSURE_SNAP_M of it in every travel
analysis (geo/travel/network.py over the SQL function of migration 0020), so one farther than that from
every edge would close nothing and is refused, saying how far it is.

Each write is one transaction: the row (a retry with the same ``client_id`` returns the stored closure, never a
second one), one ``audit_log`` row (``closure.create|edit|reopen``, target ``closure:{id}``) and one live event
(kind ``closure``, its ``step`` create|edit|reopen) on the ``road-closures`` layer that open maps draw.
Edits and reopening run under optimistic concurrency (a stale version is 409). The commune of a closure is
the one holding a point of it at its start (trigger); a commune-scoped caller manages only the closures of its
communes. Who recorded and reopened a closure are personal details (data/permissions.py ``personal.read``).
"""

from __future__ import annotations

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
from data.ops.errors import bad_parameter, conflict, invalid, not_found
from data.ops.scope import in_scope, require_in_scope, scope_params, sees_details
from data.permissions import Caller
from layers import geojson

LAYER = "road-closures"
# One live event kind for every step (``step`` in the payload says which), as designations have.
EVENT = "closure"
ACTION = "closure.manage"
READ_ACTION = "layer.restricted"
REASONS = vocab.codes(vocab.CLOSURE_REASONS)
PERSONAL = ("created_by", "reopened_by")
# A closure is drawn on a map: a point or a line of at most this many positions.
MAX_POSITIONS = 2000
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NewClosure:
    reason: str
    geometry: dict[str, Any]
    note: str | None = None
    starts_at: datetime | None = None  # None: now
    ends_at: datetime | None = None    # None: until reopened
    client_id: uuid.UUID | None = None


SELECT_SQL = """
SELECT c.id, c.reason, c.note, c.starts_at, c.ends_at, c.reopened_at,
       sitmap_closure_in_force(c.starts_at, c.ends_at, c.reopened_at, now()) AS in_force,
       ST_AsGeoJSON(c.geom, 7)::json AS geometry, c.unit_id, u.code AS unit_code, u.name AS unit_name,
       c.version, c.client_id, c.created_at, c.updated_at, c.is_generated,
       cb.username AS created_by, rb.username AS reopened_by
  FROM road_closure c
  LEFT JOIN admin_unit u ON u.id = c.unit_id
  LEFT JOIN app_user cb ON cb.id = c.created_by
  LEFT JOIN app_user rb ON rb.id = c.reopened_by
"""


def representation(row: dict[str, Any], actor: Caller) -> dict[str, Any]:
    out = dict(row)
    out["client_id"] = str(row["client_id"]) if row["client_id"] is not None else None
    if not sees_details(actor):
        for k in PERSONAL:
            out[k] = None
        out["redacted"] = list(PERSONAL)
    return out


async def _fetch(conn: psycopg.AsyncConnection, cid: int, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE c.id = %s" + (" FOR UPDATE OF c" if lock else ""), (cid,))
    return await cur.fetchone()


# ---------------------------------------------------------------------------------------------- checks

def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise invalid(f"unknown reason {reason!r}; valid values: {', '.join(REASONS)}", field="reason",
                      valid=REASONS)


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > bounds.NOTE_CHARS:
        raise invalid(f"note has {len(note)} characters; the limit is {bounds.NOTE_CHARS}: shorten it",
                      field="note", limit=bounds.NOTE_CHARS)


def _position(p: Any) -> bool:
    return (isinstance(p, list) and len(p) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
            and -180 <= p[0] <= 180 and -90 <= p[1] <= 90)


def _check_geometry(g: Any) -> None:
    """A GeoJSON Point or LineString in lon/lat (PostGIS judges validity next)."""
    if not isinstance(g, dict) or g.get("type") not in ("Point", "LineString"):
        kind = g.get("type") if isinstance(g, dict) else type(g).__name__
        raise invalid(f"geometry must be a GeoJSON Point or LineString in lon/lat (EPSG:4326) drawn on the road, "
                      f"not {kind!r}", field="geometry")
    coords = g.get("coordinates")
    if g["type"] == "Point":
        if not _position(coords):
            raise invalid("a Point's coordinates are one [lon, lat] position (lon in [-180, 180], lat in "
                          "[-90, 90])", field="geometry")
        return
    if not isinstance(coords, list) or len(coords) < 2 or not all(_position(p) for p in coords):
        raise invalid("a LineString's coordinates are at least 2 [lon, lat] positions (lon in [-180, 180], lat "
                      "in [-90, 90])", field="geometry")
    if len(coords) > MAX_POSITIONS:
        raise invalid(f"geometry has {len(coords)} positions; the limit is {MAX_POSITIONS}: simplify it",
                      field="geometry", limit=MAX_POSITIONS)


def _check_time(name: str, at: datetime | None) -> None:
    if at is None:
        return
    if at.tzinfo is None:
        raise invalid(f"{name} needs a UTC offset, e.g. 2025-08-01T14:30:00+07:00", field=name)
    if not bounds.BOUNDARIES_FROM <= at < LATEST:
        raise invalid(f"{name} {at.isoformat()} must lie between {bounds.BOUNDARIES_FROM.isoformat()} (the "
                      f"commune boundaries of 2025) and {LATEST.isoformat()}", field=name)


def _check_period(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise invalid(f"ends_at {ends_at.isoformat()} must be after starts_at {starts_at.isoformat()}; leave it "
                      "out for a closure in force until it is reopened", field="ends_at")


# The drawn geometry, its validity, its commune at the start and how far it lies from the nearest road edge
# (geodesic metres, among the 8 edges the index finds nearest).
DRAWN_SQL = """
WITH g AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%(g)s), 4326) AS g)
SELECT ST_IsValid(g.g) AS valid, ST_IsValidReason(g.g) AS why,
       (SELECT min(ST_Distance(e.geom::geography, g.g::geography))
          FROM (SELECT geom FROM road_edge ORDER BY geom <-> g.g LIMIT 8) e) AS road_m,
       u.id AS unit_id, u.code AS unit_code, u.name AS unit_name
  FROM g LEFT JOIN admin_unit u ON u.id = sitmap_commune_at(ST_PointOnSurface(g.g), %(at)s::timestamptz)
"""

INSERT_SQL = """
INSERT INTO road_closure (reason, note, starts_at, ends_at, created_by, client_id, geom)
VALUES (%(reason)s, %(note)s, %(starts_at)s, %(ends_at)s, %(uid)s, %(client_id)s,
        ST_SetSRID(ST_GeomFromGeoJSON(%(g)s), 4326))
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""

# The edges the closure closes while in force: the one rule (migration 0020) asked about this geometry alone
# (at -infinity no stored closure is in force).
CLOSES_SQL = ("SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM sitmap_closed_edges('-infinity', %s, "
              "ARRAY[ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)]) AS x")


async def _closed_edges(conn: psycopg.AsyncConnection, geometry: Any, snap_m: float) -> list[int]:
    g = geometry if isinstance(geometry, str) else json.dumps(geometry)
    return list((await (await conn.execute(CLOSES_SQL, (snap_m, g))).fetchone())[0])


async def _same_body(conn: psycopg.AsyncConnection, row: dict[str, Any], item: NewClosure) -> bool:
    same_geom = (await (await conn.execute(
        "SELECT ST_Equals(geom, ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)) FROM road_closure WHERE id = %s",
        (json.dumps(item.geometry), row["id"]))).fetchone())[0]
    return (same_geom and row["reason"] == item.reason and row["note"] == item.note
            and row["ends_at"] == item.ends_at and (item.starts_at is None or row["starts_at"] == item.starts_at))


async def _emit(conn: psycopg.AsyncConnection, step: str, row: dict[str, Any]) -> None:
    feature = await geojson.public_feature(conn, LAYER, row["id"])
    await events.emit(conn, EVENT, LAYER, row["unit_id"], {"feature": feature, "unit_code": row["unit_code"],
                                                           "step": step})


async def create(conn: psycopg.AsyncConnection, actor: Caller, item: NewClosure, addr: str | None,
                 snap_m: float) -> tuple[int, dict[str, Any]]:
    """Record a closure. (201, closure) when stored now, (200, closure) for a retry with the same client_id
    and body; 409 for that client_id with another body; 422 for a geometry farther than ``snap_m`` metres from
    every road edge or outside every commune; 403 outside the actor's communes."""
    _check_reason(item.reason)
    _check_note(item.note)
    _check_geometry(item.geometry)
    _check_time("starts_at", item.starts_at)
    _check_time("ends_at", item.ends_at)
    starts_at = item.starts_at or datetime.now(UTC)
    _check_period(starts_at, item.ends_at)
    g = json.dumps(item.geometry)
    cur = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        if item.client_id is not None:
            # Retries of one closure queue here, so exactly one inserts and the others read its row.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (str(item.client_id),))
            await cur.execute(SELECT_SQL + " WHERE c.client_id = %s", (item.client_id,))
            found = await cur.fetchone()
            if found is not None:
                require_in_scope(actor, READ_ACTION, found["unit_id"], f"closure {found['id']}",
                                 found["unit_name"], found["unit_code"])
                if not await _same_body(conn, found, item):
                    raise conflict(f"closure client_id {item.client_id} was recorded with a different body (closure "
                                   f"{found['id']}); a retry must resend the same body, a new closure needs a new "
                                   "client_id", id=found["id"])
                return 200, representation(found, actor)
        await cur.execute(DRAWN_SQL, {"g": g, "at": starts_at})
        drawn = await cur.fetchone()
        if not drawn["valid"]:
            raise invalid(f"geometry is not valid: {drawn['why']}; draw the closure again", field="geometry")
        if drawn["road_m"] is None:
            raise invalid("there are no roads to close: import roads first (`sitmap import roads FILE`)",
                          field="geometry")
        if drawn["road_m"] > snap_m:
            raise invalid(f"the closure lies {drawn['road_m']:,.0f} m from the nearest road, farther than the "
                          f"{snap_m:,.0f} m a closure may lie from the road it closes (SITMAP_CLOSURE_SNAP_M); draw "
                          "it on the road", field="geometry", distance_m=round(drawn["road_m"], 1), max_m=snap_m)
        if drawn["unit_id"] is None:
            raise invalid("the closure lies in no commune of 2025 (at its start): draw it inside the province",
                          field="geometry")
        require_in_scope(actor, ACTION, drawn["unit_id"], "the closure", drawn["unit_name"], drawn["unit_code"])
        await cur.execute(INSERT_SQL, {"reason": item.reason, "note": item.note, "starts_at": starts_at,
                                       "ends_at": item.ends_at, "uid": actor.user_id, "client_id": item.client_id,
                                       "g": g})
        cid = (await cur.fetchone())["id"]
        row = await _fetch(conn, cid)
        closes = await _closed_edges(conn, g, snap_m)
        await _emit(conn, "create", row)
        await audit.record(conn, actor.user_id, actor.username, "closure.create", f"closure:{cid}", addr,
                           {"reason": item.reason, "unit_id": row["unit_id"], "starts_at": starts_at,
                            "ends_at": item.ends_at, "closes_edges": closes})
    return 201, {**representation(row, actor), "closes_edges": closes}


async def _locked(conn: psycopg.AsyncConnection, actor: Caller, cid: int, version: int) -> dict[str, Any]:
    row = await _fetch(conn, cid, lock=True)
    if row is None:
        raise not_found(f"there is no closure {cid}")
    require_in_scope(actor, ACTION, row["unit_id"], f"closure {cid}", row["unit_name"], row["unit_code"])
    if row["version"] != version:
        raise conflict(f"closure {cid} has changed: your version is {version}, the current one is "
                       f"{row['version']}; reload it and apply your change again", current_version=row["version"])
    if row["reopened_at"] is not None:
        raise conflict(f"closure {cid} was reopened at {row['reopened_at'].isoformat()}; record a new closure if "
                       "the road is closed again", reopened_at=row["reopened_at"].isoformat())
    return row


async def reopen(conn: psycopg.AsyncConnection, actor: Caller, cid: int, version: int,
                 addr: str | None) -> dict[str, Any]:
    """Reopen the road now (a closure not yet started is thereby cancelled); 409 for a stale version, one
    already reopened or one that has ended."""
    async with conn.transaction():
        row = await _locked(conn, actor, cid, version)
        now = (await (await conn.execute("SELECT now()")).fetchone())[0]
        if row["ends_at"] is not None and row["ends_at"] <= now:
            raise conflict(f"closure {cid} ended at {row['ends_at'].isoformat()}; there is nothing to reopen",
                           ends_at=row["ends_at"].isoformat())
        await conn.execute("UPDATE road_closure SET reopened_at = now(), reopened_by = %s, version = version + 1, "
                           "updated_at = now() WHERE id = %s", (actor.user_id, cid))
        new = await _fetch(conn, cid)
        await _emit(conn, "reopen", new)
        await audit.record(conn, actor.user_id, actor.username, "closure.reopen", f"closure:{cid}", addr,
                           {"reason": row["reason"], "unit_id": row["unit_id"], "was_in_force": row["in_force"]})
    return representation(new, actor)


async def edit(conn: psycopg.AsyncConnection, actor: Caller, cid: int, version: int, changes: dict[str, Any],
               addr: str | None) -> dict[str, Any]:
    """Change when the closure ends (``ends_at``; null: until reopened) and its ``note``; 409 for a stale
    version or a reopened closure."""
    if not changes:
        raise invalid("nothing to change: send ends_at (null: until reopened) or note")
    if "ends_at" in changes:
        _check_time("ends_at", changes["ends_at"])
    if "note" in changes:
        _check_note(changes["note"])
    async with conn.transaction():
        row = await _locked(conn, actor, cid, version)
        if "ends_at" in changes:
            _check_period(row["starts_at"], changes["ends_at"])
        sets = {k: changes[k] for k in ("ends_at", "note") if k in changes}
        assign = ", ".join(f"{k} = %({k})s" for k in sets)
        await conn.execute(f"UPDATE road_closure SET {assign}, version = version + 1, updated_at = now() "  # noqa: S608
                           "WHERE id = %(id)s", {**sets, "id": cid})
        new = await _fetch(conn, cid)
        await _emit(conn, "edit", new)
        detail = {k: (v if k != "note" else "(changed)") for k, v in sets.items()}
        await audit.record(conn, actor.user_id, actor.username, "closure.edit", f"closure:{cid}", addr,
                           {**detail, "from_ends_at": row["ends_at"]})
    return representation(new, actor)


async def read(conn: psycopg.AsyncConnection, actor: Caller, cid: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE c.id = %(id)s AND " + in_scope("c.unit_id"),
                      {"id": cid, **scope_params(actor, READ_ACTION)})
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no closure {cid} in your communes")
    return representation(row, actor)


async def search(conn: psycopg.AsyncConnection, actor: Caller, *, in_force_at: datetime | None = None,
                 unit_code: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The closures of the caller's communes (of commune ``unit_code`` when given), newest start first; those
    in force at ``in_force_at`` only when given (an ISO time with an offset)."""
    if in_force_at is not None and in_force_at.tzinfo is None:
        raise bad_parameter("in_force_at needs a UTC offset, e.g. 2025-08-01T14:30:00+07:00", "in_force_at")
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        SELECT_SQL + " WHERE " + in_scope("c.unit_id")
        + " AND (%(at)s::timestamptz IS NULL"
          " OR sitmap_closure_in_force(c.starts_at, c.ends_at, c.reopened_at, %(at)s::timestamptz))"
          " AND (%(code)s::text IS NULL OR u.code = %(code)s)"
          " ORDER BY c.starts_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"at": in_force_at, "code": unit_code, "limit": limit, "offset": offset, **scope_params(actor, READ_ACTION)})
    return [representation(r, actor) for r in await cur.fetchall()]
