"""Small read-only facts about administrative units that the map pages need (extent, codes of a scope)."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from data import vocab


async def current_era(conn: psycopg.AsyncConnection) -> str | None:
    """The era in force: no end date, latest start (``2025`` in the demo)."""
    row = await (await conn.execute(
        "SELECT code FROM admin_era WHERE valid_to IS NULL ORDER BY valid_from DESC NULLS LAST LIMIT 1")).fetchone()
    return row[0] if row else None


async def era_extent(conn: psycopg.AsyncConnection, era: str | None) -> list[float] | None:
    """[xmin, ymin, xmax, ymax] (EPSG:4326) of the units of ``era`` (all units when None); None when empty."""
    row = await (await conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT ST_Extent(geom)::geometry AS e FROM admin_unit WHERE %(era)s::text IS NULL OR era = %(era)s) x",
        {"era": era})).fetchone()
    return None if row is None or row[0] is None else [float(v) for v in row]


async def unit_refs(conn: psycopg.AsyncConnection, ids: Iterable[int]) -> list[dict[str, object]]:
    """{id, code, name} of the given units, by name."""
    rows = await (await conn.execute(
        "SELECT id, code, name FROM admin_unit WHERE id = ANY(%s) ORDER BY name", (list(ids),))).fetchall()
    return [{"id": r[0], "code": r[1], "name": r[2]} for r in rows]


COMMUNE_IDS_SQL = f"""
SELECT code, id FROM admin_unit
 WHERE era = %s AND code = ANY(%s) AND {vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS)}
"""  # noqa: S608 (vocabulary constants)


async def commune_ids(conn: psycopg.AsyncConnection, codes: Iterable[str], era: str) -> dict[str, int]:
    """{code: id} of the commune-level units of ``era`` that have one of ``codes`` (unknown codes are absent)."""
    return dict(await (await conn.execute(COMMUNE_IDS_SQL, (era, list(codes)))).fetchall())
