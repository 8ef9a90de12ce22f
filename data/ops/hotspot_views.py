"""Stored hot-spot runs as a caller may see them, and a run on a caller's behalf (data/ops/hotspot_runs.py
computes and stores it).

A run covers the province (Gi* needs every cell's neighbours), so any run can be read by any signed-in
caller; but a commune-scoped caller sees the cells, and the class and pattern counts, of its own communes
only (``hotspot_cell.unit_id``, as the hotspots layers filter them), and naming a commune outside them is
refused (403). Who ran a run is a personal detail (``personal.read``). Running a run is a write: it is
audited as ``analysis.hotspots`` with the run id, in the run's own transaction.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops import audit
from data.ops.errors import bad_parameter, not_found
from data.ops.hotspot_runs import CATEGORIES, HotspotParams, run
from data.ops.scope import require_in_scope, sees_details
from data.permissions import Caller, communes_for

READ_ACTION = "layer.restricted"
RUN_ACTION = "analysis.run"
AUDIT_ACTION = "analysis.hotspots"
PERSONAL = ("created_by",)

COMMUNE_SQL = (f"SELECT id, code, name FROM admin_unit WHERE era = '2025' AND "  # noqa: S608 (vocabulary)
               f"{vocab.kinds_sql('kind', vocab.COMMUNE_LEVEL_KINDS)} AND code = %s")
RUN_SQL = """SELECT r.id, r.analysis, r.cells, r.category, r.categories, r.method, r.params, r.cell_size_m,
                    r.period_start, r.period_end, r.created_at, u.username AS created_by, r.incident_count,
                    r.cell_count, r.incidents_generated, r.notes, r.summary
               FROM hotspot_run r LEFT JOIN app_user u ON u.id = r.created_by"""
# The classes and patterns of the cells a scoped caller may see, per run.
COUNTS_SQL = """SELECT run_id, "class", trend, count(*) FROM hotspot_cell
                 WHERE run_id = ANY(%(runs)s) AND unit_id = ANY(%(units)s) GROUP BY 1, 2, 3"""
CELLS_SQL = """SELECT json_build_object(
                   'type', 'Feature', 'id', c.id, 'geometry', ST_AsGeoJSON(c.geom, 6)::json,
                   'properties', json_build_object(
                       'cell', c.cell, 'count', c.count, 'z', c.z, 'p', c.p, 'class', c."class", 'trend', c.trend,
                       'trend_z', c.trend_z, 'trend_p', c.trend_p, 'hot_bins', c.hot_bins, 'cold_bins', c.cold_bins,
                       'bins', c.bins, 'neighbours', c.neighbours, 'unit_id', c.unit_id, 'run_id', c.run_id))::text
                 FROM hotspot_cell c
                WHERE c.run_id = %(run)s AND (%(units)s::int[] IS NULL OR c.unit_id = ANY(%(units)s))
                ORDER BY c.id LIMIT %(limit)s OFFSET %(offset)s"""
CELLS_COUNT_SQL = """SELECT count(*) FROM hotspot_cell c
                      WHERE c.run_id = %(run)s AND (%(units)s::int[] IS NULL OR c.unit_id = ANY(%(units)s))"""


def _visible(row: tuple[Any, ...] | None, caller: Caller, action: str, code: str) -> list[int]:
    if row is None:
        raise bad_parameter(f"there is no commune of 2025 with the code {code[:40]!r}; use a code of the communes "
                            "layer", "commune")
    require_in_scope(caller, action, row[0], f"the commune {row[1]}", row[2], row[1])
    return [row[0]]


def units_sync(conn: psycopg.Connection, caller: Caller, action: str, commune: str | None) -> list[int] | None:
    """The communes whose cells the caller sees (one when named; None: every cell)."""
    if commune is not None:
        return _visible(conn.execute(COMMUNE_SQL, [commune]).fetchone(), caller, action, commune)
    units = communes_for(caller, action)
    return None if units is None else sorted(units)


async def units(conn: psycopg.AsyncConnection, caller: Caller, action: str, commune: str | None
                ) -> list[int] | None:
    if commune is not None:
        cur = await conn.execute(COMMUNE_SQL, [commune])
        return _visible(await cur.fetchone(), caller, action, commune)
    found = communes_for(caller, action)
    return None if found is None else sorted(found)


def _tally(rows: list[tuple[Any, ...]]) -> dict[int, dict[str, dict[str, int]]]:
    out: dict[int, dict[str, dict[str, int]]] = {}
    for run_id, cls, trend, n in rows:
        t = out.setdefault(run_id, {"classes": {}, "patterns": {}, "cells": {"": 0}})
        t["classes"][cls] = t["classes"].get(cls, 0) + n
        if trend is not None:
            t["patterns"][trend] = t["patterns"].get(trend, 0) + n
        t["cells"][""] += n
    return out


def representation(row: dict[str, Any], caller: Caller, seen: list[int] | None,
                   tally: dict[int, dict[str, dict[str, int]]]) -> dict[str, Any]:
    """A run as the caller may see it: counts of its visible cells when scoped, who ran it when allowed."""
    out = dict(row)
    summary = out.pop("summary") or {}
    out["classes"], out["patterns"] = summary.get("classes", {}), summary.get("patterns", {})
    out["visible_cells"] = out["cell_count"]
    out["scope"] = None if seen is None else {"unit_ids": seen}
    if seen is not None:
        t = tally.get(row["id"], {"classes": {}, "patterns": {}, "cells": {"": 0}})
        out["classes"], out["patterns"], out["visible_cells"] = t["classes"], t["patterns"], t["cells"][""]
    out["links"] = {"self": f"/hotspot-runs/{row['id']}", "cells": f"/hotspot-runs/{row['id']}/cells",
                    "layer": "/collections/" + ("hotspots" if row["analysis"] == "gi_star" else "emerging-hotspots")
                             + "/items"}
    if not sees_details(caller):
        for k in PERSONAL:
            out[k] = None
        out["redacted"] = list(PERSONAL)
    return out


def category_key(category: str) -> str:
    """A category filter as a run's key: 'all', or known categories comma-separated (400 otherwise)."""
    if category == "all":
        return category
    parts = sorted({c.strip() for c in category.split(",")})
    unknown = [c for c in parts if c not in CATEGORIES]
    if unknown:
        raise bad_parameter(f"unknown incident categories {unknown}; use 'all' or any of {list(CATEGORIES)}, "
                            "comma-separated", "category")
    return ",".join(parts)


async def search(conn: psycopg.AsyncConnection, caller: Caller, *, analysis: str | None, category: str | None,
                 commune: str | None, limit: int, offset: int) -> dict[str, Any]:
    """Runs newest first; ``category`` matches a run of exactly those categories or, for one category, any run
    that counted it."""
    if analysis is not None and analysis not in vocab.codes(vocab.HOTSPOT_ANALYSES):
        raise bad_parameter(f"analysis must be one of {vocab.codes(vocab.HOTSPOT_ANALYSES)}", "analysis")
    key = category_key(category) if category is not None else None
    seen = await units(conn, caller, READ_ACTION, commune)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        RUN_SQL + """ WHERE (%(a)s::text IS NULL OR r.analysis = %(a)s)
                        AND (%(k)s::text IS NULL OR r.category = %(k)s OR %(k)s = ANY(r.categories))
                      ORDER BY r.created_at DESC, r.id DESC LIMIT %(n)s OFFSET %(o)s""",
        {"a": analysis, "k": key, "n": limit, "o": offset})
    rows = await cur.fetchall()
    tally: dict[int, dict[str, dict[str, int]]] = {}
    if seen is not None and rows:
        counted = await conn.execute(COUNTS_SQL, {"runs": [r["id"] for r in rows], "units": seen})
        tally = _tally(await counted.fetchall())
    items = [representation(r, caller, seen, tally) for r in rows]
    return {"items": items, "count": len(items), "limit": limit, "offset": offset}


async def _run_row(conn: psycopg.AsyncConnection, run_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(RUN_SQL + " WHERE r.id = %s", [run_id])
    row = await cur.fetchone()
    if row is None:
        raise not_found(f"there is no hot-spot run {run_id}; GET /hotspot-runs lists them")
    return row


async def read(conn: psycopg.AsyncConnection, caller: Caller, run_id: int, commune: str | None) -> dict[str, Any]:
    row = await _run_row(conn, run_id)
    seen = await units(conn, caller, READ_ACTION, commune)
    tally: dict[int, dict[str, dict[str, int]]] = {}
    if seen is not None:
        counted = await conn.execute(COUNTS_SQL, {"runs": [run_id], "units": seen})
        tally = _tally(await counted.fetchall())
    return representation(row, caller, seen, tally)


async def cells(conn: psycopg.AsyncConnection, caller: Caller, run_id: int, commune: str | None, limit: int,
                offset: int) -> str:
    """The run's visible cells as a GeoJSON FeatureCollection (text: the features are built by PostGIS)."""
    row = await _run_row(conn, run_id)
    seen = await units(conn, caller, READ_ACTION, commune)
    args = {"run": run_id, "units": seen, "limit": limit, "offset": offset}
    matched = (await (await conn.execute(CELLS_COUNT_SQL, args)).fetchone())[0]
    features = [r[0] for r in await (await conn.execute(CELLS_SQL, args)).fetchall()]
    meta = {"run_id": run_id, "analysis": row["analysis"], "cells": row["cells"], "category": row["category"],
            "incidents_generated": row["incidents_generated"], "notes": row["notes"],
            "numberMatched": matched, "numberReturned": len(features)}
    head = json.dumps({k: v for k, v in meta.items() if k.startswith("number")})[1:-1]
    return (f'{{"type": "FeatureCollection", {head}, "metadata": {json.dumps(meta, default=str)}, '
            f'"features": [{",".join(features)}]}}')


def run_for(conn: psycopg.Connection, caller: Caller, params: HotspotParams, commune: str | None,
            addr: str | None) -> dict[str, Any]:
    """Compute, store and audit one run in one transaction on ``conn`` (the runner's connections autocommit, and
    the run's temporary table lives until commit); the run as the caller may see it, with ``run_id`` and the
    report's lines (a scoped caller gets the notes only: the class lines count the province)."""
    with conn.transaction():
        seen = units_sync(conn, caller, RUN_ACTION, commune)
        report = run(conn, params, created_by=caller.user_id)
        conn.execute(audit.INSERT_SQL, (caller.user_id, caller.username, AUDIT_ACTION, f"hotspot_run:{report.run_id}",
                                        addr, json.dumps({"analysis": report.analysis, "cells": report.cells,
                                                          "category": report.category,
                                                          "incidents": report.incident_count})))
        row = conn.cursor(row_factory=dict_row).execute(RUN_SQL + " WHERE r.id = %s", [report.run_id]).fetchone()
        tally = (_tally(conn.execute(COUNTS_SQL, {"runs": [report.run_id], "units": seen}).fetchall())
                 if seen is not None else {})
    doc = {"run_id": report.run_id, **representation(row, caller, seen, tally)}
    doc["lines"] = report.lines() if seen is None else [ln for ln in report.lines() if ln.startswith("note:")]
    return doc
