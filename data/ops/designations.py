"""The key-area designation workflow: a planner (or an admin) proposes and edits, a commander (or an admin)
approves or rejects with a reason, an approved designation has its validity and can be revoked with a reason.

Each step is one transaction: the row locked (FOR UPDATE), its status and version checked (a stale version is
refused with 409, as incidents are), the change with ``version + 1`` and ``updated_at``, one ``audit_log`` row
(``designation.<step>``, target ``designation:{id}``, before and after status, the reason) and one live event
(kind ``designation``, layer ``key-areas``) that open maps receive. A refused step writes nothing.

Approving a designation of a kind for a commune while another approved one of that kind over the same area
is in force over the new validity supersedes it: the older one ends the day before the new one starts (its
own audit row ``designation.supersede`` and event). An older one that starts on or after the new one's start
cannot be ended earlier: that approval is refused (409) until it is revoked. Who proposed and decided are personal
details (data/permissions.py ``personal.read``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops import audit, events
from data.ops.errors import bad_parameter, conflict, forbidden, invalid, not_found
from data.ops.scope import in_scope, require_in_scope, scope_params, sees_details
from data.permissions import Caller, communes_for, may
from geo.designation import basis as designation_basis
from layers import geojson

LAYER = "key-areas"
EVENT = "designation"
KINDS = vocab.codes(vocab.DESIGNATION_KINDS)
STATUSES = vocab.codes(vocab.DESIGNATION_STATUSES)
ORIGINS = vocab.codes(vocab.DESIGNATION_ORIGINS)
# The province's calendar: "today" of a validity is a local date.
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A planner's basis is statistics, not a document: this many characters of JSON at most.
BASIS_CHARS = 20_000
GEOMETRY_POSITIONS = 20_000
READ_ACTION = "layer.restricted"

# What can happen next to a designation of each status, and which action of data/permissions.py a step needs.
STEPS: dict[str, tuple[str, ...]] = {
    "proposed": ("edit", "approve", "reject"),
    "approved": ("revoke",),
    "rejected": (),
    "revoked": (),
}
ACTION_OF = {"propose": "designation.propose", "edit": "designation.propose", "approve": "designation.approve",
             "reject": "designation.approve", "revoke": "designation.approve"}
AUDIT_ACTIONS = [f"designation.{s}" for s in ("propose", "edit", "approve", "reject", "revoke", "supersede")]
# Key of the transaction-level advisory lock that queues concurrent steps on one commune and kind.
_LOCK_SPACE = 0x6465  # "de"


@dataclass(frozen=True)
class Proposal:
    kind: str
    unit_id: int | None = None
    geometry: dict[str, Any] | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: str | None = None
    basis: dict[str, Any] | None = None


def today() -> date:
    return datetime.now(TZ).date()


SELECT_SQL = """
SELECT d.id, d.kind, d.status, d.origin, d.rule, d.unit_id, u.code AS unit_code, u.name AS unit_name, d.basis,
       d.valid_from, d.valid_to, d.note, d.decision_reason, d.revoke_reason, p.username AS proposed_by,
       c.username AS decided_by, d.decided_at, r.username AS revoked_by, d.revoked_at, d.created_at,
       d.updated_at, d.version, d.is_generated,
       d.status = 'approved' AND coalesce(d.valid_from <= %(today)s, true)
         AND coalesce(d.valid_to >= %(today)s, true) AS in_force
  FROM designation d
  LEFT JOIN admin_unit u ON u.id = d.unit_id
  LEFT JOIN app_user p ON p.id = d.proposed_by
  LEFT JOIN app_user c ON c.id = d.decided_by
  LEFT JOIN app_user r ON r.id = d.revoked_by
"""
PERSONAL = ("proposed_by", "decided_by", "revoked_by")


def allowed_steps(actor: Caller, row: dict[str, Any]) -> list[str]:
    """The steps this caller may take on the designation now (its status, the caller's role and communes)."""
    out = []
    for step in STEPS[row["status"]]:
        action = ACTION_OF[step]
        units = communes_for(actor, action)
        if may(actor, action) and (units is None or row["unit_id"] in units):
            out.append(step)
    return out


def representation(row: dict[str, Any], actor: Caller) -> dict[str, Any]:
    out = {k: v for k, v in row.items()}
    out["reason"] = designation_basis.normalise(row["basis"])
    out["allowed_steps"] = allowed_steps(actor, row)
    if not sees_details(actor):
        for k in PERSONAL:
            out[k] = None
        out["redacted"] = list(PERSONAL)
    return out


async def _fetch(conn: psycopg.AsyncConnection, did: int, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE d.id = %(id)s" + (" FOR UPDATE OF d" if lock else ""),
                      {"id": did, "today": today()})
    return await cur.fetchone()


# ---------------------------------------------------------------------------------------------- checks

def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise invalid(f"unknown kind {kind!r}; valid values: {', '.join(KINDS)}", field="kind", valid=KINDS)


def _check_dates(valid_from: date | None, valid_to: date | None) -> None:
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise invalid(f"valid_to {valid_to.isoformat()} is before valid_from {valid_from.isoformat()}: a validity "
                      "ends on or after the day it starts", field="valid_to")


def _check_basis(basis: Any) -> None:
    if basis is None:
        return
    if not isinstance(basis, dict):
        raise invalid("basis must be a JSON object of the statistics behind the proposal, e.g. "
                      '{"values": {...}, "thresholds": {...}, "window": ["2025-01-01", "2025-12-31"]}', field="basis")
    size = len(json.dumps(basis, default=str))
    if size > BASIS_CHARS:
        raise invalid(f"basis has {size} characters of JSON; the limit is {BASIS_CHARS}: keep the statistics, "
                      "leave the data out", field="basis", limit=BASIS_CHARS)


def _reason(reason: str | None, step: str) -> str:
    if reason is None or not reason.strip():
        raise invalid(f"a {step} needs a reason: send a non-empty \"reason\" saying why (it is kept in the audit "
                      "log and shown on the map)", field="reason")
    return reason.strip()


def _check_geometry(g: dict[str, Any]) -> None:
    """The shape of a GeoJSON Polygon or MultiPolygon (PostGIS judges validity and extent next)."""
    kind = g.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise invalid(f"geometry must be a GeoJSON Polygon or MultiPolygon in lon/lat (EPSG:4326), not {kind!r}",
                      field="geometry")
    polys = [g.get("coordinates")] if kind == "Polygon" else g.get("coordinates")
    if not isinstance(polys, list) or not polys:
        raise invalid("geometry has no coordinates", field="geometry")
    positions = 0
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            raise invalid("each polygon of geometry is a list of rings", field="geometry")
        for ring in poly:
            ok = isinstance(ring, list) and all(
                isinstance(p, list) and len(p) in (2, 3) and all(
                    isinstance(c, int | float) and not isinstance(c, bool) for c in p) for p in ring)
            if not ok or len(ring) < 4:
                raise invalid("each ring of geometry is a list of at least 4 [lon, lat] positions",
                              field="geometry")
            if ring[0][:2] != ring[-1][:2]:
                raise invalid("each ring of geometry must be closed: its last position repeats its first",
                              field="geometry")
            positions += len(ring)
    if positions > GEOMETRY_POSITIONS:
        raise invalid(f"geometry has {positions} positions; the limit is {GEOMETRY_POSITIONS}: simplify it",
                      field="geometry", limit=GEOMETRY_POSITIONS)


UNIT_SQL = """
SELECT id, code, name, kind, era, ST_Multi(geom) AS geom FROM admin_unit WHERE id = %s
"""

DRAWN_SQL = """
WITH g AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%(g)s), 4326) AS g),
     prov AS (SELECT geom, name FROM admin_unit WHERE era = '2025' AND kind = 'province' ORDER BY id LIMIT 1)
SELECT ST_IsValid(g.g) AS valid, ST_IsValidReason(g.g) AS why, ST_Multi(g.g) AS geom,
       (SELECT name FROM prov) AS province, (SELECT ST_CoveredBy(g.g, geom) FROM prov) AS inside
  FROM g
"""

DRAWN_UNIT_SQL = """
SELECT u.id, u.code, u.name, u.kind, u.era, %(geom)s::geometry AS geom,
       %(scope_all)s OR ST_CoveredBy(%(geom)s::geometry,
                                     (SELECT ST_Union(s.geom) FROM admin_unit s
                                       WHERE s.id = ANY(%(scope_units)s::int[]))) AS in_scope
  FROM admin_unit u WHERE u.id = sitmap_commune_at(ST_PointOnSurface(%(geom)s::geometry))
"""


async def _unit(conn: psycopg.AsyncConnection, unit_id: int) -> dict[str, Any]:
    """A commune or ward of 2025 with its outline, or a 422 saying what the id names instead."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(UNIT_SQL, (unit_id,))
    u = await cur.fetchone()
    if u is None:
        raise invalid(f"there is no administrative unit {unit_id}; designations name a commune or ward of 2025 "
                      "(the communes layer's id)", field="unit_id")
    if u["era"] != "2025" or u["kind"] not in vocab.COMMUNE_LEVEL_KINDS:
        raise invalid(f"unit {unit_id} ({u['name']}, {u['code']}) is a {u['kind']} of {u['era']}; designations "
                      "name a commune or ward of 2025 (the communes layer's id)", field="unit_id")
    return u


async def _drawn(conn: psycopg.AsyncConnection, actor: Caller, geometry: dict[str, Any]) -> dict[str, Any]:
    """The commune of a drawn polygon (the one holding a point of its surface), the polygon inside the province
    and, for a commune-scoped caller, inside the caller's communes."""
    _check_geometry(geometry)
    cur = conn.cursor(row_factory=dict_row)
    try:
        async with conn.transaction():  # a savepoint: PostGIS refusing the GeoJSON must not end the step
            await cur.execute(DRAWN_SQL, {"g": json.dumps(geometry)})
            drawn = await cur.fetchone()
    except psycopg.Error as exc:
        raise invalid(f"geometry could not be read as GeoJSON: {exc.diag.message_primary or exc}",
                      field="geometry") from exc
    if not drawn["valid"]:
        raise invalid(f"geometry is not a valid polygon ({drawn['why']}); redraw it without self-intersections",
                      field="geometry")
    if drawn["province"] is None:
        raise invalid("no province outline of 2025 is loaded to check the drawn polygon against; name a commune "
                      "(unit_id) instead", field="geometry")
    if not drawn["inside"]:
        raise invalid(f"geometry is not inside {drawn['province']}: draw the area within the province "
                      "(lon/lat, EPSG:4326)", field="geometry")
    await cur.execute(DRAWN_UNIT_SQL, {"geom": drawn["geom"], **scope_params(actor, "designation.propose")})
    unit = await cur.fetchone()
    if unit is None:
        raise invalid("geometry lies in the province but in no commune of 2025", field="geometry")
    if not unit["in_scope"]:
        raise forbidden(f"the drawn area reaches outside your communes (it lies mostly in {unit['name']}, "
                        f"{unit['code']}): draw it within them", unit_code=unit["code"])
    return unit


async def _lock_commune(conn: psycopg.AsyncConnection, unit_id: int | None, kind: str) -> None:
    """Queue concurrent proposals and approvals of one commune and kind (the duplicate and overlap checks
    below read rows another transaction may be about to write)."""
    if unit_id is not None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text || ':' || %s::text))",
                           (_LOCK_SPACE, unit_id, kind))


async def _no_open_proposal(conn: psycopg.AsyncConnection, unit_id: int, kind: str, unit: dict[str, Any],
                            but: int | None = None) -> None:
    row = await (await conn.execute(
        "SELECT id FROM designation WHERE unit_id = %s AND kind = %s AND status = 'proposed' AND id <> %s "
        "ORDER BY id LIMIT 1", (unit_id, kind, but or 0))).fetchone()
    if row is not None:
        label = vocab.labels("designation_kinds")[kind]["en"]
        raise conflict(f"{unit['name']} ({unit['code']}) already has an open proposal of this kind ({label}): "
                       f"designation {row[0]}; edit it (PATCH /designations/{row[0]}) or have it decided first",
                       existing_id=row[0])


# ---------------------------------------------------------------------------------------------- the steps

async def _finish(conn: psycopg.AsyncConnection, actor: Caller, did: int, step: str, before: str | None,
                  addr: str | None, detail: dict[str, Any]) -> dict[str, Any]:
    """The event and the audit row of a step, in its transaction; the row as it now is."""
    row = await _fetch(conn, did)
    feature = await geojson.public_feature(conn, LAYER, did)
    await events.emit(conn, EVENT, LAYER, row["unit_id"],
                      {"feature": feature, "unit_code": row["unit_code"], "action": step, "designation_id": did,
                       "status": row["status"], "from": before})
    await audit.record(conn, actor.user_id, actor.username, f"designation.{step}", f"designation:{did}", addr,
                       {"from": before, "to": row["status"], "version": row["version"], "kind": row["kind"],
                        "unit_code": row["unit_code"], **detail})
    return row


async def propose(conn: psycopg.AsyncConnection, actor: Caller, item: Proposal, addr: str | None) -> dict[str, Any]:
    """A planner's proposal, of a commune of 2025 (``unit_id``) or a drawn area inside the province."""
    _check_kind(item.kind)
    if (item.unit_id is None) == (item.geometry is None):
        raise invalid("send either unit_id (a commune or ward of 2025) or geometry (a drawn polygon inside the "
                      "province), not both and not neither", field="unit_id")
    _check_dates(item.valid_from, item.valid_to)
    _check_basis(item.basis)
    async with conn.transaction():
        unit = await _unit(conn, item.unit_id) if item.unit_id is not None else await _drawn(conn, actor,
                                                                                             item.geometry)
        require_in_scope(actor, "designation.propose", unit["id"], "the designation", unit["name"], unit["code"])
        await _lock_commune(conn, unit["id"], item.kind)
        if item.geometry is None:
            await _no_open_proposal(conn, unit["id"], item.kind, unit)
        cur = await conn.execute(
            "INSERT INTO designation (kind, unit_id, status, origin, basis, valid_from, valid_to, proposed_by, note, "
            "geom) VALUES (%s, %s, 'proposed', 'planner', %s::jsonb, %s, %s, %s, %s, %s) RETURNING id",
            (item.kind, unit["id"], json.dumps(item.basis or {}, default=str), item.valid_from, item.valid_to,
             actor.user_id, item.note, unit["geom"]))
        did = (await cur.fetchone())[0]
        row = await _finish(conn, actor, did, "propose", None, addr,
                            {"note": item.note, "drawn": item.geometry is not None})
    return representation(row, actor)


async def _locked(conn: psycopg.AsyncConnection, actor: Caller, did: int, version: int,
                  step: str) -> dict[str, Any]:
    """The designation locked for ``step``: in the caller's communes, in a status that allows the step, at the
    caller's version."""
    row = await _fetch(conn, did, lock=True)
    if row is None:
        raise not_found(f"there is no designation {did}")
    require_in_scope(actor, ACTION_OF[step], row["unit_id"], f"designation {did}", row["unit_name"] or "no commune",
                     row["unit_code"] or "-")
    allowed = STEPS[row["status"]]
    if step not in allowed:
        nxt = ", ".join(allowed) or f"none: {row['status']} is final (propose anew with POST /designations)"
        raise conflict(f"designation {did} is {row['status']!r}; it cannot be {_past(step)}. Allowed next: {nxt}",
                       current_status=row["status"], allowed=list(allowed))
    if row["version"] != version:
        raise conflict(f"designation {did} has changed: your version is {version}, the current one is "
                       f"{row['version']}; reload it (GET /designations/{did}) and apply your change again",
                       current_version=row["version"])
    return row


def _past(step: str) -> str:
    return {"edit": "edited", "approve": "approved", "reject": "rejected", "revoke": "revoked"}[step]


EDITABLE = ("kind", "unit_id", "geometry", "valid_from", "valid_to", "note", "basis")
# A rule's proposal keeps what the rule saw: its commune, its kind and its statistics.
RULE_FIXED = ("kind", "unit_id", "geometry", "basis")


async def edit(conn: psycopg.AsyncConnection, actor: Caller, did: int, version: int, changes: dict[str, Any],
               addr: str | None) -> dict[str, Any]:
    """Change an open proposal (only while 'proposed'): the fields sent (null clears dates and the note)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise invalid(f"cannot edit {', '.join(unknown)}; editable: {', '.join(EDITABLE)}", field=unknown[0])
    if not changes:
        raise invalid(f"nothing to change: send one of {', '.join(EDITABLE)} with the version you read")
    if "kind" in changes:
        if changes["kind"] is None:
            raise invalid("kind cannot be cleared", field="kind")
        _check_kind(changes["kind"])
    if changes.get("unit_id") is not None and changes.get("geometry") is not None:
        raise invalid("send either unit_id or geometry, not both", field="unit_id")
    if ("unit_id" in changes and changes["unit_id"] is None) or ("geometry" in changes and changes["geometry"] is None):
        raise invalid("a designation always has its commune or area: send another unit_id or geometry, or leave "
                      "them out", field="unit_id" if "unit_id" in changes else "geometry")
    _check_basis(changes.get("basis"))
    async with conn.transaction():
        row = await _locked(conn, actor, did, version, "edit")
        if row["origin"] == "rule":
            fixed = [f for f in RULE_FIXED if f in changes]
            if fixed:
                raise conflict(f"designation {did} was proposed by the rule {row['rule']!r}: its {', '.join(fixed)} "
                               "are what the rule saw and stay as they are; edit its dates or note, or propose "
                               "another designation (POST /designations)", current_status=row["status"], fixed=fixed)
        sets: dict[str, Any] = {}
        kind = changes.get("kind", row["kind"])
        unit = None
        if changes.get("unit_id") is not None:
            unit = await _unit(conn, changes["unit_id"])
        elif changes.get("geometry") is not None:
            unit = await _drawn(conn, actor, changes["geometry"])
        if unit is not None:
            require_in_scope(actor, "designation.propose", unit["id"], "the designation", unit["name"], unit["code"])
            sets.update(unit_id=unit["id"], geom=unit["geom"])
        if "kind" in changes:
            sets["kind"] = kind
        if unit is not None or "kind" in changes:
            target = unit or {"id": row["unit_id"], "name": row["unit_name"], "code": row["unit_code"]}
            await _lock_commune(conn, target["id"], kind)
            if changes.get("geometry") is None and target["id"] is not None:
                await _no_open_proposal(conn, target["id"], kind, target, but=did)
        vf = changes["valid_from"] if "valid_from" in changes else row["valid_from"]
        vt = changes["valid_to"] if "valid_to" in changes else row["valid_to"]
        _check_dates(vf, vt)
        for f in ("valid_from", "valid_to", "note"):
            if f in changes:
                sets[f] = changes[f]
        if "basis" in changes:
            sets["basis"] = json.dumps(changes["basis"] or {}, default=str)
        assign = ", ".join(f"{k} = %({k})s" + ("::jsonb" if k == "basis" else "") for k in sets)
        await conn.execute(f"UPDATE designation SET {assign}, version = version + 1, updated_at = now() "  # noqa: S608
                           "WHERE id = %(id)s", {**sets, "id": did})
        logged = {k: ("(changed)" if k in ("geometry", "basis") else changes[k]) for k in changes}
        new = await _finish(conn, actor, did, "edit", row["status"], addr, {"changes": logged})
    return representation(new, actor)


async def approve(conn: psycopg.AsyncConnection, actor: Caller, did: int, version: int, valid_from: date | None,
                  valid_to: date | None, valid_to_sent: bool, reason: str | None,
                  addr: str | None) -> dict[str, Any]:
    """Approve a proposal from ``valid_from`` (else the proposal's, else today) until ``valid_to`` (else the
    proposal's; null sent: open-ended), superseding the approved one of its kind in force for the commune."""
    reason = reason.strip() if reason and reason.strip() else None
    async with conn.transaction():
        row = await _locked(conn, actor, did, version, "approve")
        vf = valid_from or row["valid_from"] or today()
        vt = valid_to if valid_to_sent else row["valid_to"]
        _check_dates(vf, vt)
        await _lock_commune(conn, row["unit_id"], row["kind"])
        superseded = await _supersede(conn, actor, row, vf, vt, addr)
        await conn.execute(
            "UPDATE designation SET status = 'approved', valid_from = %s, valid_to = %s, decided_by = %s, "
            "decided_at = now(), decision_reason = %s, version = version + 1, updated_at = now() WHERE id = %s",
            (vf, vt, actor.user_id, reason, did))
        new = await _finish(conn, actor, did, "approve", row["status"], addr,
                            {"reason": reason, "valid_from": vf, "valid_to": vt, "superseded": superseded})
    return representation(new, actor) | {"superseded": superseded}


async def _supersede(conn: psycopg.AsyncConnection, actor: Caller, row: dict[str, Any], vf: date,
                     vt: date | None, addr: str | None) -> list[int]:
    """End the approved designations of the same kind over the same area (the commune, or the same drawn
    polygon: a drawn part of a commune does not end the commune's designation) whose validity meets [vf, vt]
    the day before ``vf``; refuse (409, nothing written) when one starts on or after ``vf``."""
    if row["unit_id"] is None:
        return []
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, valid_from, valid_to FROM designation WHERE unit_id = %(u)s AND kind = %(k)s "
        "AND status = 'approved' AND id <> %(id)s AND (valid_to IS NULL OR valid_to >= %(vf)s) "
        "AND (%(vt)s::date IS NULL OR valid_from IS NULL OR valid_from <= %(vt)s) "
        "AND ST_Equals(geom, (SELECT n.geom FROM designation n WHERE n.id = %(id)s)) ORDER BY id FOR UPDATE",
        {"u": row["unit_id"], "k": row["kind"], "id": row["id"], "vf": vf, "vt": vt})
    older = await cur.fetchall()
    later = [o for o in older if o["valid_from"] is not None and o["valid_from"] >= vf]
    if later:
        o = later[0]
        raise conflict(f"{row['unit_name']} ({row['unit_code']}) has an approved designation of this kind, "
                       f"designation {o['id']}, in force from {o['valid_from'].isoformat()}, not before this "
                       f"approval's valid_from {vf.isoformat()}: it cannot be superseded by ending it earlier. Revoke "
                       f"it (POST /designations/{o['id']}/revoke) or approve from a later valid_from",
                       current_status=row["status"], conflicting_id=o["id"])
    ended = vf - timedelta(days=1)
    for o in older:
        await conn.execute("UPDATE designation SET valid_to = %s, version = version + 1, updated_at = now() "
                           "WHERE id = %s", (ended, o["id"]))
        await _finish(conn, actor, o["id"], "supersede", "approved", addr,
                      {"by": row["id"], "valid_to_before": o["valid_to"], "valid_to": ended})
    return [o["id"] for o in older]


async def reject(conn: psycopg.AsyncConnection, actor: Caller, did: int, version: int, reason: str | None,
                 addr: str | None) -> dict[str, Any]:
    reason = _reason(reason, "rejection")
    async with conn.transaction():
        row = await _locked(conn, actor, did, version, "reject")
        await conn.execute(
            "UPDATE designation SET status = 'rejected', decided_by = %s, decided_at = now(), decision_reason = %s, "
            "version = version + 1, updated_at = now() WHERE id = %s", (actor.user_id, reason, did))
        new = await _finish(conn, actor, did, "reject", row["status"], addr, {"reason": reason})
    return representation(new, actor)


async def revoke(conn: psycopg.AsyncConnection, actor: Caller, did: int, version: int, reason: str | None,
                 addr: str | None) -> dict[str, Any]:
    """Revoke an approved designation; one in force ends today (its valid_to), one not yet in force keeps
    the dates it was approved with."""
    reason = _reason(reason, "revocation")
    day = today()
    async with conn.transaction():
        row = await _locked(conn, actor, did, version, "revoke")
        ends = day if row["in_force"] and (row["valid_to"] is None or row["valid_to"] > day) else row["valid_to"]
        await conn.execute(
            "UPDATE designation SET status = 'revoked', revoked_by = %s, revoked_at = now(), revoke_reason = %s, "
            "valid_to = %s, version = version + 1, updated_at = now() WHERE id = %s",
            (actor.user_id, reason, ends, did))
        new = await _finish(conn, actor, did, "revoke", row["status"], addr,
                            {"reason": reason, "valid_to_before": row["valid_to"], "valid_to": ends})
    return representation(new, actor)


# ---------------------------------------------------------------------------------------------- reads

HISTORY_SQL = """
SELECT at, username, action, detail FROM audit_log
 WHERE action = ANY(%s) AND target = %s ORDER BY id
"""


async def read(conn: psycopg.AsyncConnection, actor: Caller, did: int) -> dict[str, Any]:
    """One designation in the caller's communes with its history (the audit log's steps, oldest first)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE d.id = %(id)s AND " + in_scope("d.unit_id"),
                      {"id": did, "today": today(), **scope_params(actor, READ_ACTION)})
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no designation {did} in your communes")
    await cur.execute(HISTORY_SQL, (AUDIT_ACTIONS, f"designation:{did}"))
    history = [{"at": h["at"], "step": h["action"].split(".", 1)[1], "by": h["username"],
                "from": h["detail"].get("from"), "to": h["detail"].get("to"), "reason": h["detail"].get("reason"),
                "detail": h["detail"]}
               for h in await cur.fetchall()]
    if not sees_details(actor):
        for h in history:
            h["by"] = None
    return representation(row, actor) | {"history": history}


# What is decided first (approved), then what awaits a decision, then the rest; kinds in vocabulary order.
ORDER_SQL = (f" ORDER BY d.status = 'approved' DESC, {vocab.rank_sql('d.status', vocab.DESIGNATION_STATUSES)}, "
             f"{vocab.rank_sql('d.kind', vocab.DESIGNATION_KINDS)}, d.updated_at DESC, d.id DESC")


def _valid(name: str, value: str | None, valid: list[str]) -> None:
    if value is not None and value not in valid:
        raise bad_parameter(f"unknown {name} {value!r}; valid values: {', '.join(valid)}", name, valid=valid)


async def search(conn: psycopg.AsyncConnection, actor: Caller, *, status: str | None = None,
                 kind: str | None = None, origin: str | None = None, unit_code: str | None = None,
                 limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    _valid("status", status, STATUSES)
    _valid("kind", kind, KINDS)
    _valid("origin", origin, ORIGINS)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        SELECT_SQL + " WHERE " + in_scope("d.unit_id")
        + " AND (%(status)s::text IS NULL OR d.status = %(status)s) AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)"
          " AND (%(origin)s::text IS NULL OR d.origin = %(origin)s) AND (%(code)s::text IS NULL OR u.code = %(code)s)"
        + ORDER_SQL + " LIMIT %(limit)s OFFSET %(offset)s",
        {"status": status, "kind": kind, "origin": origin, "code": unit_code, "limit": limit, "offset": offset,
         "today": today(), **scope_params(actor, READ_ACTION)})
    return [representation(r, actor) for r in await cur.fetchall()]


async def for_unit(conn: psycopg.AsyncConnection, actor: Caller, unit_id: int, limit: int = 100) -> dict[str, Any]:
    """A commune's designations, in force and proposed first, with why (the map's commune popup)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT id, code, name, kind, era FROM admin_unit WHERE id = %s", (unit_id,))
    unit = await cur.fetchone()
    if unit is None:
        raise not_found(f"there is no administrative unit {unit_id}")
    require_in_scope(actor, READ_ACTION, unit["id"], f"unit {unit_id}", unit["name"], unit["code"])
    await cur.execute(SELECT_SQL + " WHERE d.unit_id = %(u)s" + ORDER_SQL + " LIMIT %(n)s",
                      {"u": unit_id, "n": limit, "today": today()})
    items = [representation(r, actor) for r in await cur.fetchall()]
    return {"unit": unit, "items": items, "count": len(items)}
