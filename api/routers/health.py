"""``GET /health``: is the database reachable, which PostGIS/pgRouting, how many rows per table."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends
from psycopg import sql

from api.database import connection
from data.db.models import Base

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database reachability, extension versions, row counts")
async def health(conn: Annotated[psycopg.AsyncConnection, Depends(connection)]) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT extname, extversion FROM pg_extension WHERE extname IN ('postgis', 'pgrouting')")
    extensions = dict(await cur.fetchall())
    postgis_full = (await (await conn.execute("SELECT postgis_lib_version()")).fetchone())[0]
    tables = sorted(Base.metadata.tables)
    counts_sql = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, count(*) FROM {table}").format(name=sql.Literal(t), table=sql.Identifier(t))
        for t in tables)
    rows = dict(await (await conn.execute(counts_sql)).fetchall())
    units = await (await conn.execute(
        "SELECT era, kind, count(*) FROM admin_unit GROUP BY era, kind ORDER BY era, kind")).fetchall()
    by_era: dict[str, dict[str, int]] = {}
    for era, kind, n in units:
        by_era.setdefault(era, {})[kind] = n
    commune_level, district_level = ("commune", "ward", "township"), ("district", "city", "town")
    summary = {
        "units_2025": sum(n for k, n in by_era.get("2025", {}).items() if k in commune_level),
        "units_pre2025": sum(n for k, n in by_era.get("pre2025", {}).items() if k in commune_level),
        "districts_pre2025": sum(n for k, n in by_era.get("pre2025", {}).items() if k in district_level),
        **{t: rows[t] for t in ("settlement", "road_edge", "station", "patrol_point", "incident")},
    }
    return {
        "status": "ok",
        "summary": summary,
        "database": "reachable",
        "postgis": extensions.get("postgis"),
        "postgis_lib": postgis_full,
        "pgrouting": extensions.get("pgrouting"),
        "admin_units": by_era,
        "rows": rows,
    }
