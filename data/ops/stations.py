"""Headquarters status of police stations, with history, under the commune scope of the commander."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops import audit, events
from data.ops.errors import conflict, invalid, not_found
from data.ops.scope import require_in_scope, sees_details
from data.permissions import Caller
from layers import geojson

LAYER = "stations"
HQ_STATUSES = vocab.codes(vocab.HQ_STATUSES)

# A station's commune of 2025 is the one containing it (former district police sit in old units): the
# database's one rule for the commune holding a point (sitmap_commune_at, migration 0015).
STATION_SQL = """
SELECT s.id, s.code, s.name, s.hq_status, s.version, s.valid_to, s.valid_to < current_date AS closed,
       coalesce(c.id, s.unit_id) AS unit_id, coalesce(c.code, o.code) AS unit_code,
       coalesce(c.name, o.name) AS unit_name
  FROM station s
  LEFT JOIN admin_unit o ON o.id = s.unit_id
  LEFT JOIN admin_unit c ON c.id = sitmap_commune_at(s.geom)
 WHERE s.id = %s FOR UPDATE OF s
"""


async def set_status(conn: psycopg.AsyncConnection, actor: Caller, station_id: int, hq_status: str,
                     note: str | None, version: int | None, addr: str | None, max_note: int) -> dict[str, Any]:
    """Change the status, with its history row, live event and audit row. A closed station (valid_to in the
    past, as the stations layer counts validity) is refused with 409; the status it has already is a no-op
    that answers the current state and writes nothing."""
    if hq_status not in HQ_STATUSES:
        raise invalid(f"unknown hq_status {hq_status!r}; valid values: {', '.join(HQ_STATUSES)}",
                      field="hq_status", valid=HQ_STATUSES)
    if note is not None and len(note) > max_note:
        raise invalid(f"note has {len(note)} characters; the limit is {max_note}", field="note")
    cur = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        await cur.execute(STATION_SQL, (station_id,))
        st = await cur.fetchone()
        if st is None:
            raise not_found(f"there is no station {station_id}")
        require_in_scope(actor, "station.status", st["unit_id"], f"station {st['code']}", st["unit_name"],
                         st["unit_code"])
        if st["closed"]:
            raise conflict(f"station {st['code']} closed on {st['valid_to'].isoformat()} (valid_to); a closed "
                           "station's headquarters status cannot change. The status vocabulary has no 'reopened': "
                           "to reopen it, import it again with an empty valid_to (sitmap import stations FILE, "
                           "upserted by code)", valid_to=st["valid_to"].isoformat())
        if version is not None and version != st["version"]:
            raise conflict(f"station {st['code']} has changed: your version is {version}, the current one is "
                           f"{st['version']}; reload it", current_version=st["version"])
        if hq_status == st["hq_status"]:
            return _state(st, hq_status, st["hq_status"], st["version"], changed=False)
        await cur.execute("UPDATE station SET hq_status = %s, version = version + 1 WHERE id = %s "
                          "RETURNING version", (hq_status, station_id))
        new_version = (await cur.fetchone())["version"]
        await conn.execute("INSERT INTO station_status_history (station_id, hq_status, changed_at, changed_by, note) "
                           "VALUES (%s, %s, now(), %s, %s)", (station_id, hq_status, actor.user_id, note))
        feature = await geojson.public_feature(conn, LAYER, station_id)
        await events.emit(conn, "station_status", LAYER, st["unit_id"],
                          {"feature": feature, "unit_code": st["unit_code"], "from": st["hq_status"]})
        await audit.record(conn, actor.user_id, actor.username, "station.status", f"station:{station_id}", addr,
                           {"from": st["hq_status"], "to": hq_status, "note": note})
    return _state(st, hq_status, st["hq_status"], new_version, changed=True)


def _state(st: dict[str, Any], hq_status: str, previous: str, version: int, changed: bool) -> dict[str, Any]:
    return {"id": st["id"], "code": st["code"], "name": st["name"], "hq_status": hq_status,
            "previous_status": previous, "version": version, "unit_code": st["unit_code"], "changed": changed}


async def history(conn: psycopg.AsyncConnection, caller: Caller, station_id: int) -> list[dict[str, Any]]:
    """The station's status changes, oldest first; 404 for a station that does not exist (one with no
    change yet answers an empty list). Who changed it is a personal detail (data/permissions.py)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT 1 FROM station WHERE id = %s", (station_id,))
    if await cur.fetchone() is None:
        raise not_found(f"there is no station {station_id}")
    await cur.execute("SELECT h.hq_status, h.changed_at, h.note, u.username AS changed_by "
                      "FROM station_status_history h LEFT JOIN app_user u ON u.id = h.changed_by "
                      "WHERE h.station_id = %s ORDER BY h.id", (station_id,))
    rows = await cur.fetchall()
    if not sees_details(caller):
        for r in rows:
            r["changed_by"] = None
    return rows
