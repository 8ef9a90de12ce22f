"""What ``GET /health`` reports: extension versions, row counts per table, administrative units per era."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from data import vocab
from data.db.models import Base

SUMMARY_TABLES = ("settlement", "road_edge", "station", "patrol_point", "incident")


async def report(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT extname, extversion FROM pg_extension WHERE extname IN ('postgis', 'pgrouting')")
    extensions = dict(await cur.fetchall())
    postgis_full = (await (await conn.execute("SELECT postgis_lib_version()")).fetchone())[0]
    counts_sql = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, count(*) FROM {table}").format(name=sql.Literal(t), table=sql.Identifier(t))
        for t in sorted(Base.metadata.tables))
    rows = dict(await (await conn.execute(counts_sql)).fetchall())
    units = await (await conn.execute(
        "SELECT era, kind, count(*) FROM admin_unit GROUP BY era, kind ORDER BY era, kind")).fetchall()
    by_era: dict[str, dict[str, int]] = {}
    for era, kind, n in units:
        by_era.setdefault(era, {})[kind] = n

    def count(era: str, kinds: tuple[str, ...]) -> int:
        return sum(n for k, n in by_era.get(era, {}).items() if k in kinds)

    summary = {
        "units_2025": count("2025", vocab.COMMUNE_LEVEL_KINDS),
        "units_pre2025": count("pre2025", vocab.COMMUNE_LEVEL_KINDS),
        "districts_pre2025": count("pre2025", vocab.DISTRICT_LEVEL_KINDS),
        **{t: rows[t] for t in SUMMARY_TABLES},
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
