"""What the health routes report. ``GET /health``: extension versions, row counts per table, administrative
units per era. ``GET /health/ready``: whether this worker can serve now (``readiness``)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from psycopg import sql

from data import vocab
from data.db.migrate import alembic_config
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


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revision(s) of the migrations this code ships (read once: they change only with the code)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())


async def _database(pool: Any, timeout_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trivial query and the schema version, within ``timeout_s`` in all (waiting for a connection too)."""
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
                versions = await (await conn.execute("SELECT version_num FROM alembic_version")).fetchall()
    except TimeoutError:
        return {"ok": False, "detail": f"no answer within {timeout_s:g} s"}, {"ok": False, "detail": "unknown"}
    except (psycopg.Error, OSError) as exc:
        # A connection refused, a pool timeout, a missing alembic_version: all mean "not ready", said plainly.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"ok": False, "detail": reason[:300]}, {"ok": False, "detail": "unknown"}
    have, want = frozenset(v for (v,) in versions), migration_heads()
    migrations = {"ok": have == want, "database": sorted(have), "code": sorted(want)}
    if have != want:
        migrations["detail"] = "run `sitmap db migrate`" if have else "the database has no schema version"
    return {"ok": True}, migrations


async def readiness(pool: Any, timeout_s: float, listener_connected: bool) -> dict[str, Any]:
    """Whether this worker can serve: the database answers, its LISTEN connection (the live stream, the
    sign-in cache's evictions) is up, and the schema is the one this code expects. Nothing is written."""
    database, migrations = await _database(pool, timeout_s)
    listener: dict[str, Any] = {"ok": listener_connected}
    if not listener_connected:
        listener["detail"] = "the worker's LISTEN connection is not connected (reconnecting)"
    checks = {"database": database, "listener": listener, "migrations": migrations}
    failing = [name for name, check in checks.items() if not check["ok"]]
    return {"status": "ready" if not failing else "not ready", "failing": failing, "checks": checks}
