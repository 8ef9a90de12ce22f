"""Headquarters status of police stations, with history, under the commune scope of the commander."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops import events, features
from data.ops.errors import conflict, invalid, not_found
from data.ops.scope import Actor, require_in_scope

LAYER = "stations"
HQ_STATUSES = vocab.codes(vocab.HQ_STATUSES)

# A station's commune of 2025 is the one containing it (former district police sit in old units).
STATION_SQL = """
SELECT s.id, s.code, s.name, s.hq_status, s.version,
       coalesce(c.id, s.unit_id) AS unit_id, coalesce(c.code, o.code) AS unit_code,
       coalesce(c.name, o.name) AS unit_name
  FROM station s
  LEFT JOIN admin_unit o ON o.id = s.unit_id
  LEFT JOIN LATERAL (SELECT id, code, name FROM admin_unit u WHERE u.era = '2025'
                        AND u.kind IN ('commune', 'ward', 'township') AND ST_Intersects(u.geom, s.geom)
                      ORDER BY u.id LIMIT 1) c ON true
 WHERE s.id = %s FOR UPDATE OF s
"""


async def set_status(conn: psycopg.AsyncConnection, actor: Actor, station_id: int, hq_status: str,
                     note: str | None, version: int | None, addr: str | None, max_note: int) -> dict[str, Any]:
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
        require_in_scope(actor, st["unit_id"], f"station {st['code']}", st["unit_name"], st["unit_code"])
        if version is not None and version != st["version"]:
            raise conflict(f"station {st['code']} has changed: your version is {version}, the current one is "
                           f"{st['version']}; reload it", current_version=st["version"])
        await cur.execute("UPDATE station SET hq_status = %s, version = version + 1 WHERE id = %s "
                          "RETURNING version", (hq_status, station_id))
        new_version = (await cur.fetchone())["version"]
        await conn.execute("INSERT INTO station_status_history (station_id, hq_status, changed_at, changed_by, note) "
                           "VALUES (%s, %s, now(), %s, %s)", (station_id, hq_status, actor.user_id, note))
        feature = await features.public_feature(conn, LAYER, station_id)
        await events.emit(conn, "station_status", LAYER, st["unit_id"],
                          {"feature": feature, "unit_code": st["unit_code"], "from": st["hq_status"]})
        await conn.execute(
            "INSERT INTO audit_log (user_id, username, action, target, remote_addr, detail) "
            "VALUES (%s, %s, 'station.status', %s, %s, %s::jsonb)",
            (actor.user_id, actor.username, f"station:{station_id}", addr,
             json.dumps({"from": st["hq_status"], "to": hq_status, "note": note})))
    return {"id": station_id, "code": st["code"], "name": st["name"], "hq_status": hq_status,
            "previous_status": st["hq_status"], "version": new_version, "unit_code": st["unit_code"]}


async def history(conn: psycopg.AsyncConnection, station_id: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT h.hq_status, h.changed_at, h.note, u.username AS changed_by "
                      "FROM station_status_history h LEFT JOIN app_user u ON u.id = h.changed_by "
                      "WHERE h.station_id = %s ORDER BY h.id", (station_id,))
    return await cur.fetchall()
