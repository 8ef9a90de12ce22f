"""What-if scenarios: a planner's saved list of changes to the stations and roads, and its figures beside today's.

A change is one of (``op``):

* ``add_station``: ``lon``, ``lat`` (inside the province), optional ``name``, ``kind`` (STATION_KINDS,
  default commune_police) and ``hq_status`` (HQ_STATUSES, default independent);
* ``remove_station``: ``station_id`` (a station in service);
* ``move_station``: ``station_id``, ``lon``, ``lat``;
* ``set_status``: ``station_id``, ``hq_status``;
* ``add_closure``: ``geometry`` (a GeoJSON Point or LineString on the road, inside the province), optional
  ``reason`` (CLOSURE_REASONS, default other) and ``note``.

Every change is checked when the scenario is written and again when it runs on the current data; a refusal
is 422 naming the change's index (``changes[3]: ...``). A run never touches the live tables: it edits a copy
of the stations frame (geo/coverage/coverage.station_frame) and hands the closures to the travel queries as
hypothetical ones (geo/travel/network.Closures ``extra``), then stores only the scenario's ``last_result``.
Writes (create, update, delete, run) are audited in the same transaction.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops.audit import INSERT_SQL as AUDIT_SQL
from data.ops.errors import conflict, invalid, not_found
from data.permissions import Caller
from geo.coverage.coverage import Coverage, coverage, label, station_frame
from geo.travel.network import Closures, local_today

ACTION = "scenario.manage"
OPS = ("add_station", "remove_station", "move_station", "set_status", "add_closure")
MAX_CHANGES = 200
FIELDS = {
    "add_station": ({"lon", "lat"}, {"name", "kind", "hq_status"}),
    "remove_station": ({"station_id"}, set()),
    "move_station": ({"station_id", "lon", "lat"}, set()),
    "set_status": ({"station_id", "hq_status"}, set()),
    "add_closure": ({"geometry"}, {"reason", "note"}),
}
COLUMNS = "id, name, description, changes, created_by, created_at, updated_at, version, last_run_at, last_result"


def _bad(i: int, detail: str) -> Exception:
    return invalid(f"changes[{i}]: {detail}", field=f"changes[{i}]", change=i)


def _number(i: int, c: dict[str, Any], key: str, lo: float, hi: float) -> float:
    v = c[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise _bad(i, f"{key} must be a number from {lo:g} to {hi:g} (EPSG:4326), not {v!r:.40}")
    return float(v)


def _station_id(i: int, c: dict[str, Any]) -> int:
    v = c["station_id"]
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**31 - 1:
        raise _bad(i, f"station_id must be a station's id (a positive integer), not {v!r:.40}")
    return v


def _term(i: int, c: dict[str, Any], key: str, terms: tuple[vocab.Term, ...], default: str | None) -> str:
    v = c.get(key, default)
    known = vocab.codes(terms)
    if v not in known:
        raise _bad(i, f"{key} {v!r:.40} is not one of {', '.join(known)}")
    return str(v)


def _geometry(i: int, g: Any) -> dict[str, Any]:
    if not isinstance(g, dict) or g.get("type") not in ("Point", "LineString"):
        raise _bad(i, "geometry must be a GeoJSON Point or LineString (EPSG:4326) on the road")
    coords = g.get("coordinates")
    pts = [coords] if g["type"] == "Point" else coords
    if not isinstance(pts, list) or not pts or (g["type"] == "LineString" and len(pts) < 2):
        raise _bad(i, "geometry needs its coordinates (a LineString at least two points)")
    out = []
    for p in pts:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                            and math.isfinite(x) for x in p)
                and -180 <= p[0] <= 180 and -90 <= p[1] <= 90):
            raise _bad(i, f"geometry coordinates must be [lon, lat] pairs in degrees, not {p!r:.60}")
        out.append([float(p[0]), float(p[1])])
    return {"type": g["type"], "coordinates": out[0] if g["type"] == "Point" else out}


def check_shape(changes: Any) -> list[dict[str, Any]]:
    """The changes in their stored form, or a 422 naming the first bad one (without the database)."""
    if not isinstance(changes, list):
        raise invalid("changes must be a list of changes", field="changes")
    if len(changes) > MAX_CHANGES:
        raise invalid(f"at most {MAX_CHANGES} changes in one scenario, not {len(changes)}", field="changes")
    out = []
    for i, c in enumerate(changes):
        if not isinstance(c, dict) or c.get("op") not in OPS:
            raise _bad(i, f"op must be one of {', '.join(OPS)}")
        need, may = FIELDS[c["op"]]
        missing, extra = sorted(need - set(c)), sorted(set(c) - need - may - {"op"})
        if missing:
            raise _bad(i, f"{c['op']} needs {', '.join(missing)}")
        if extra:
            raise _bad(i, f"{c['op']} takes no {', '.join(extra)} (it takes {', '.join(sorted(need | may))})")
        n: dict[str, Any] = {"op": c["op"]}
        if "station_id" in need:
            n["station_id"] = _station_id(i, c)
        if "lon" in need:
            n["lon"], n["lat"] = _number(i, c, "lon", -180, 180), _number(i, c, "lat", -90, 90)
        if c["op"] == "add_station":
            name = c.get("name")
            if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 200):
                raise _bad(i, "name must be text of 1 to 200 characters")
            n["name"] = name or f"new station {i}"
            n["kind"] = _term(i, c, "kind", vocab.STATION_KINDS, "commune_police")
            n["hq_status"] = _term(i, c, "hq_status", vocab.HQ_STATUSES, "independent")
        if c["op"] == "set_status":
            n["hq_status"] = _term(i, c, "hq_status", vocab.HQ_STATUSES, None)
        if c["op"] == "add_closure":
            n["geometry"] = _geometry(i, c["geometry"])
            n["reason"] = _term(i, c, "reason", vocab.CLOSURE_REASONS, "other")
            note = c.get("note")
            if note is not None and (not isinstance(note, str) or len(note) > 2000):
                raise _bad(i, "note must be text of at most 2,000 characters")
            n["note"] = note
        out.append(n)
    return out


def _points(changes: list[dict[str, Any]]) -> tuple[list[int], list[float], list[float]]:
    idx, xs, ys = [], [], []
    for i, c in enumerate(changes):
        if "lon" in c:
            pts = [[c["lon"], c["lat"]]]
        elif "geometry" in c:
            g = c["geometry"]
            pts = [g["coordinates"]] if g["type"] == "Point" else g["coordinates"]
        else:
            continue
        for x, y in pts:
            idx.append(i)
            xs.append(x)
            ys.append(y)
    return idx, xs, ys


INSIDE_SQL = """
SELECT k, sitmap_commune_at(ST_SetSRID(ST_MakePoint(x, y), 4326)) IS NOT NULL
  FROM unnest(%s::int[], %s::float8[], %s::float8[]) AS t(k, x, y)
"""
IN_SERVICE_SQL = """
SELECT id FROM station WHERE id = ANY(%(ids)s)
   AND (valid_from IS NULL OR valid_from <= %(on)s) AND (valid_to IS NULL OR valid_to >= %(on)s)
"""


def _judge(changes: list[dict[str, Any]], inside: list[tuple[int, bool]], in_service: set[int], on: date) -> None:
    outside = sorted({k for k, ok in inside if not ok})
    bad: list[tuple[int, str]] = [(k, "lies outside the province (no commune of 2025 holds "
                                      + ("the point" if "lon" in changes[k] else "every point of the closure")
                                      + ")") for k in outside]
    for i, c in enumerate(changes):
        if "station_id" in c and c["station_id"] not in in_service:
            bad.append((i, f"there is no station {c['station_id']} in service on {on.isoformat()} "
                           "(the stations layer lists them)"))
    # One station removed, then moved or given a status by a later change: that later change has nothing to act on.
    gone: set[int] = set()
    for i, c in enumerate(changes):
        sid = c.get("station_id")
        if sid in gone:
            bad.append((i, f"station {sid} was removed by an earlier change"))
        if c["op"] == "remove_station":
            gone.add(sid)
    if bad:
        i, detail = min(bad)
        raise _bad(i, detail)


def _station_ids(changes: list[dict[str, Any]]) -> list[int]:
    return sorted({c["station_id"] for c in changes if "station_id" in c})


async def check(conn: psycopg.AsyncConnection, changes: Any, on: date | None = None) -> list[dict[str, Any]]:
    """``check_shape`` and then against the data: stations in service on ``on`` (today), points inside."""
    norm = check_shape(changes)
    on = on or local_today()
    idx, xs, ys = _points(norm)
    inside = [(int(k), bool(ok)) for k, ok in await (await conn.execute(INSIDE_SQL, [idx, xs, ys])).fetchall()]
    rows = await (await conn.execute(IN_SERVICE_SQL, {"ids": _station_ids(norm), "on": on})).fetchall()
    _judge(norm, inside, {int(r[0]) for r in rows}, on)
    return norm


def check_sync(conn: psycopg.Connection, changes: Any, on: date) -> list[dict[str, Any]]:
    """``check`` on a synchronous connection (a run re-checks on the current data)."""
    norm = check_shape(changes)
    idx, xs, ys = _points(norm)
    inside = [(int(k), bool(ok)) for k, ok in conn.execute(INSIDE_SQL, [idx, xs, ys]).fetchall()]
    rows = conn.execute(IN_SERVICE_SQL, {"ids": _station_ids(norm), "on": on}).fetchall()
    _judge(norm, inside, {int(r[0]) for r in rows}, on)
    return norm


# ---- reads and writes -------------------------------------------------------------------------------------


def representation(row: dict[str, Any], with_result: bool = True) -> dict[str, Any]:
    out = dict(row)
    if not with_result:
        out.pop("last_result", None)
        out["has_result"] = row.get("last_result") is not None
    return out


async def _fetch(conn: psycopg.AsyncConnection, sid: int, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {COLUMNS} FROM scenario WHERE id = %s" + (" FOR UPDATE" if lock else ""), [sid])  # noqa: S608
    return await cur.fetchone()


async def _audit(conn: psycopg.AsyncConnection, actor: Caller, action: str, sid: int, addr: str | None,
                 detail: dict[str, Any]) -> None:
    await conn.execute(AUDIT_SQL, (actor.user_id, actor.username, action, f"scenario:{sid}", addr,
                                   json.dumps(detail, default=str)))


def _text(value: Any, field: str, most: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise invalid(f"{field} is required", field=field)
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > most:
        raise invalid(f"{field} must be text of {'1' if required else '0'} to {most:,} characters", field=field)
    return value


async def create(conn: psycopg.AsyncConnection, actor: Caller, name: str, description: str | None,
                 changes: Any, addr: str | None) -> dict[str, Any]:
    name = _text(name, "name", 200, True)
    description = _text(description, "description", 4000, False)
    norm = await check(conn, changes)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"INSERT INTO scenario (name, description, changes, created_by) VALUES "  # noqa: S608
                          f"(%s, %s, %s::jsonb, %s) RETURNING {COLUMNS}",
                          [name, description, json.dumps(norm), actor.user_id])
        row = await cur.fetchone()
        await _audit(conn, actor, "scenario.create", row["id"], addr, {"name": name, "changes": len(norm)})
    return representation(row)


async def read(conn: psycopg.AsyncConnection, sid: int) -> dict[str, Any]:
    row = await _fetch(conn, sid)
    if row is None:
        raise not_found(f"there is no scenario {sid}; GET /scenarios lists them")
    return representation(row)


async def search(conn: psycopg.AsyncConnection, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {COLUMNS}, count(*) OVER () AS total FROM scenario "  # noqa: S608
                      "ORDER BY updated_at DESC, id DESC LIMIT %s OFFSET %s", [limit, offset])
    rows = await cur.fetchall()
    total = rows[0]["total"] if rows else (await (await conn.execute("SELECT count(*) FROM scenario")).fetchone())[0]
    items = [representation({k: v for k, v in r.items() if k != "total"}, with_result=False) for r in rows]
    return {"items": items, "count": len(items), "total": total}


async def update(conn: psycopg.AsyncConnection, actor: Caller, sid: int, version: int, fields: dict[str, Any],
                 addr: str | None, replace: bool) -> dict[str, Any]:
    """PUT (``replace``: name and changes required, a missing description is cleared) or PATCH (the fields
    sent), at the caller's version (409 when stale)."""
    allowed = {"name", "description", "changes"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise invalid(f"cannot change {', '.join(unknown)}; a scenario has name, description and changes",
                      field=unknown[0])
    if replace:
        fields = {"description": None, **fields}
        for f in ("name", "changes"):
            if f not in fields:
                raise invalid(f"PUT replaces the scenario: send its {f} (or PATCH only what changes)", field=f)
    elif not fields:
        raise invalid("nothing to change: send name, description or changes with the version you read")
    sets: dict[str, Any] = {}
    if "name" in fields:
        sets["name"] = _text(fields["name"], "name", 200, True)
    if "description" in fields:
        sets["description"] = _text(fields["description"], "description", 4000, False)
    if "changes" in fields:
        sets["changes"] = json.dumps(await check(conn, fields["changes"]))
    async with conn.transaction():
        row = await _fetch(conn, sid, lock=True)
        if row is None:
            raise not_found(f"there is no scenario {sid}; GET /scenarios lists them")
        if row["version"] != version:
            raise conflict(f"scenario {sid} has changed: your version is {version}, the current one is "
                           f"{row['version']}; reload it (GET /scenarios/{sid}) and apply your change again",
                           current_version=row["version"])
        assign = ", ".join(f"{k} = %({k})s" + ("::jsonb" if k == "changes" else "") for k in sets)
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"UPDATE scenario SET {assign}, version = version + 1, updated_at = now() "  # noqa: S608
                          f"WHERE id = %(id)s RETURNING {COLUMNS}", {**sets, "id": sid})
        new = await cur.fetchone()
        await _audit(conn, actor, "scenario.update", sid, addr,
                     {"fields": sorted(sets), "version": new["version"]})
    return representation(new)


async def delete(conn: psycopg.AsyncConnection, actor: Caller, sid: int, addr: str | None) -> None:
    async with conn.transaction():
        row = await (await conn.execute("DELETE FROM scenario WHERE id = %s RETURNING name", [sid])).fetchone()
        if row is None:
            raise not_found(f"there is no scenario {sid}; GET /scenarios lists them")
        await _audit(conn, actor, "scenario.delete", sid, addr, {"name": row[0]})


# ---- a run --------------------------------------------------------------------------------------------------


def apply(stations: pd.DataFrame, changes: list[dict[str, Any]]) -> pd.DataFrame:
    """A copy of ``stations`` (``station_frame``) with the station changes applied; new stations get negative
    ids (-1, -2, ... in the order of the changes) and no commune, as they are no commune's own station."""
    st = stations.copy()
    added = 0
    for c in changes:
        op = c["op"]
        if op == "add_station":
            added += 1
            row = {"station_id": -added, "station_code": f"SCENARIO-{added}", "station": c["name"],
                   "kind": c["kind"], "unit_id": None, "lon": c["lon"], "lat": c["lat"], "hq_status": c["hq_status"]}
            st = pd.concat([st, pd.DataFrame([row])], ignore_index=True)
        elif op == "remove_station":
            st = st[st["station_id"] != c["station_id"]]
        elif op == "move_station":
            at = st["station_id"] == c["station_id"]
            st.loc[at, "lon"], st.loc[at, "lat"] = c["lon"], c["lat"]
        elif op == "set_status":
            st.loc[st["station_id"] == c["station_id"], "hq_status"] = c["hq_status"]
    return st.reset_index(drop=True)


def closures_of(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["geometry"] for c in changes if c["op"] == "add_closure"]


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def _access(cov: Coverage) -> dict[str, float | None]:
    v = cov.villages
    out: dict[str, float | None] = {}
    for col in ("nearest_min", "own_min"):
        ok = v[v[col].notna() & (v["population"] > 0)]
        out[f"{col}_weighted_mean"] = (float(np.average(ok[col], weights=ok["population"])) if len(ok) else None)
    return out


def _figures(cov: Coverage) -> dict[str, Any]:
    prov = cov.province.iloc[0]
    within = {label(m): {"population": int(prov[f"population_within_{label(m)}"]),
                         "villages": int(prov[f"villages_within_{label(m)}"]),
                         "share": _num(prov[f"share_within_{label(m)}"])} for m in cov.minutes}
    return {"stations": int(cov.attrs.get("stations", 0)), "population": int(prov["population"]),
            "within": within, "unreachable": {"villages": int(prov["villages_unreachable"]),
                                              "population": int(prov["population_unreachable"])},
            **_access(cov), "closed_edges": len(cov.attrs.get("closed_edges", []))}


def _communes(today: Coverage, scen: Coverage) -> list[dict[str, Any]]:
    ms = [label(m) for m in today.minutes]
    a = today.communes.set_index(["commune_code", "commune"])
    b = scen.communes.set_index(["commune_code", "commune"])
    rows = []
    for key in a.index.union(b.index):
        r: dict[str, Any] = {"commune_code": key[0], "commune": key[1]}
        for m in ms:
            col = f"population_within_{m}"
            t = int(a[col].get(key, 0))
            s = int(b[col].get(key, 0))
            r[f"today_within_{m}"], r[f"scenario_within_{m}"], r[f"change_within_{m}"] = t, s, s - t
        rows.append(r)
    return rows


def compute(conn: psycopg.Connection, changes: list[dict[str, Any]], *, on: date, minutes: tuple[float, ...],
            max_snap_m: float, walk_kmh: float) -> tuple[dict[str, Any], Coverage, Coverage]:
    """Today's coverage and the scenario's, side by side, without writing anything."""
    st = station_frame(conn, on)
    kw = {"on": on, "minutes": minutes, "max_snap_m": max_snap_m, "walk_kmh": walk_kmh}
    today = coverage(conn, stations=st, closures=Closures.on_day(on), **kw)
    scen = coverage(conn, stations=apply(st, changes), closures=Closures.on_day(on, closures_of(changes)), **kw)
    t, s = _figures(today), _figures(scen)
    side = [{"limit_min": float(m), "today_population": t["within"][m]["population"],
             "scenario_population": s["within"][m]["population"],
             "change_population": s["within"][m]["population"] - t["within"][m]["population"],
             "today_share": t["within"][m]["share"], "scenario_share": s["within"][m]["share"]}
            for m in t["within"]]
    doc = {"on": on.isoformat(), "minutes": list(minutes), "today": t, "scenario": s, "table": side,
           "communes": _communes(today, scen),
           "curves": {"today": today.curve[["minutes", "share"]].to_dict("list"),
                      "scenario": scen.curve[["minutes", "share"]].to_dict("list")},
           "roads_generated": today.attrs.get("roads_generated"), "note": today.attrs.get("note")}
    return doc, today, scen


def changed_villages(today: Coverage, scen: Coverage) -> pd.DataFrame:
    """The villages whose trip to the nearest station the scenario changes: by a minute or more either way
    (outside TRIP_CHANGES' "unchanged" band), or reachable on one side only. Minutes as computed (float)."""
    cols = ["village_id", "village", "population", "unit_id", "lon", "lat", "nearest_min", "nearest_station_code"]
    both = today.villages[cols].merge(scen.villages[["village_id", "nearest_min", "nearest_station_code"]],
                                      on="village_id", suffixes=("_today", "_scenario"))
    t, s = both["nearest_min_today"], both["nearest_min_scenario"]
    both["change_min"] = s - t
    both["change_band"] = [vocab.band_of(v, vocab.TRIP_CHANGES, vocab.TRIP_CHANGE_LIMITS) for v in both["change_min"]]
    both["reason"] = np.select([t.notna() & s.isna(), t.isna() & s.notna()],
                               ["unreachable in the scenario", "reachable only in the scenario"], "")
    keep = (both["reason"] != "") | (both["change_band"].notna() & (both["change_band"] != "unchanged"))
    return both[keep].reset_index(drop=True)


STORE_VILLAGE_SQL = (
    "INSERT INTO scenario_village (scenario_id, settlement_id, unit_id, village, population, today_min, scenario_min,"
    " change_min, change_band, today_station_code, scenario_station_code, reason, roads_generated, run_at, geom)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))")


def _store_villages(conn: psycopg.Connection, sid: int, changed: pd.DataFrame, generated: bool, at: Any) -> None:
    conn.execute("DELETE FROM scenario_village WHERE scenario_id = %s", [sid])

    def text(v: Any) -> str | None:
        return None if pd.isna(v) else str(v)

    rows = [(sid, int(r.village_id), None if pd.isna(r.unit_id) else int(r.unit_id), r.village,
             int(r.population or 0), _num(r.nearest_min_today), _num(r.nearest_min_scenario), _num(r.change_min),
             r.change_band, text(r.nearest_station_code_today), text(r.nearest_station_code_scenario), r.reason,
             generated, at, float(r.lon), float(r.lat)) for r in changed.itertuples()]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(STORE_VILLAGE_SQL, rows)


def run(conn: psycopg.Connection, actor: Caller, sid: int, addr: str | None, *, minutes: tuple[float, ...],
        max_snap_m: float, walk_kmh: float) -> dict[str, Any]:
    """Re-check the scenario's changes on the current data, compute, store ``last_result`` and audit it, in
    one transaction of this (synchronous) connection."""
    with conn.transaction():
        row = conn.execute("SELECT changes, version FROM scenario WHERE id = %s", [sid]).fetchone()
        if row is None:
            raise not_found(f"there is no scenario {sid}; GET /scenarios lists them")
        on = local_today()
        changes = check_sync(conn, row[0], on)
        doc, today, scen = compute(conn, changes, on=on, minutes=minutes, max_snap_m=max_snap_m, walk_kmh=walk_kmh)
        changed = changed_villages(today, scen)
        doc = {"scenario_id": sid, "scenario_version": row[1], **doc,
               "villages_changed": {"villages": len(changed), "population": int(changed["population"].sum())}}
        stored = conn.execute("UPDATE scenario SET last_result = %s::jsonb, last_run_at = now() WHERE id = %s "
                              "RETURNING last_run_at", [json.dumps(doc, default=str), sid]).fetchone()
        if stored is None:  # deleted while it ran
            raise not_found(f"scenario {sid} was deleted while it ran")
        _store_villages(conn, sid, changed, bool(doc.get("roads_generated")), stored[0])
        conn.execute(AUDIT_SQL, (actor.user_id, actor.username, "scenario.run", f"scenario:{sid}", addr,
                                 json.dumps({"version": row[1], "changes": len(changes)})))
    return {**doc, "last_run_at": stored[0].isoformat()}


DEMO_SCENARIO = "Demo: QL12 cut by a landslide (generated roads)"


def store_for_demo(conn: psycopg.Connection) -> int:
    """The demo's example what-if, run once so that the scenario-villages layer shows something: a landslide
    on QL12 at the edge 35 % of the way through its edges by id (deterministic per seed; on the default seed
    north of Mường Chà, where the generated detour is long). Returns the villages it changes."""
    from data.settings import get_settings

    at = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, 0.5) AS p FROM road_edge"
                      " WHERE ref = 'QL12' ORDER BY id"
                      " OFFSET (SELECT count(*) * 35 / 100 FROM road_edge WHERE ref = 'QL12') LIMIT 1) x").fetchone()
    if at is None:
        return 0
    changes = check_shape([{"op": "add_closure", "reason": "landslide", "geometry": {
        "type": "Point", "coordinates": [at[0], at[1]]}, "note": "An example what-if on the demo's generated roads"}])
    sid = conn.execute("INSERT INTO scenario (name, description, changes) VALUES (%s, %s, %s::jsonb) RETURNING id",
                       [DEMO_SCENARIO, "Coverage today beside coverage with QL12 closed at one point.",
                        json.dumps(changes)]).fetchone()[0]
    s = get_settings()
    doc = run(conn, Caller(None, "demo", "admin"), sid, None, minutes=s.coverage_minutes,
              max_snap_m=s.travel_snap_max_m, walk_kmh=s.travel_walk_kmh)
    return int(doc["villages_changed"]["villages"])
