"""Feature pages of a layer: GeoJSON text built by the database, CSV for spreadsheets, exact-or-omitted
``numberMatched``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import psycopg

from layers import geojson
from layers import sql as layer_sql
from layers.access import Grant, visible_props
from layers.model import Layer
from layers.query import Query

# Counting beyond this many matches is not worth its time: numberMatched is then left out, never guessed.
COUNT_BOUND = 100_000


@dataclass
class Page:
    features: list[str]  # GeoJSON Feature texts
    has_next: bool
    number_matched: int | None
    ids: list[str]  # the features' ids, as text


async def page(conn: psycopg.AsyncConnection, layer: Layer, g: Grant, q: Query, limit: int, offset: int
               ) -> Page:
    query, params = geojson.items(layer, g, q, visible_props(layer, g), limit, offset)
    cur = await conn.execute(query, params)
    page_rows = await cur.fetchall()
    has_next = len(page_rows) > limit
    page_rows = page_rows[:limit]
    rows = [r[0] for r in page_rows]
    matched: int | None
    if not has_next and (rows or offset == 0):
        matched = offset + len(rows)  # the last page: the total is known without counting
    else:
        cquery, cparams = layer_sql.bounded_count(layer, g, q, COUNT_BOUND)
        n = (await (await conn.execute(cquery, cparams)).fetchone())[0]
        matched = n if n < COUNT_BOUND else None
    return Page(rows, has_next, matched, [r[1] for r in page_rows])


async def one(conn: psycopg.AsyncConnection, layer: Layer, g: Grant, fid: Any) -> str | None:
    query, params = geojson.item(layer, g, visible_props(layer, g), fid)
    row = await (await conn.execute(query, params)).fetchone()
    return row[0] if row else None


async def csv_page(conn: psycopg.AsyncConnection, layer: Layer, g: Grant, q: Query, limit: int, offset: int
                   ) -> tuple[str, bool, list[str]]:
    """CSV text with a BOM (Excel then reads UTF-8, so Vietnamese names stay intact), whether there is more,
    and the ids of the rows."""
    props = visible_props(layer, g)
    query, params = layer_sql.csv_rows(layer, g, q, props, limit, offset)
    rows = await (await conn.execute(query, params)).fetchall()
    has_next = len(rows) > limit
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    shape = ["lon", "lat"] if layer.is_point else ["wkt"]
    writer.writerow(["id", *(p.name for p in props), *shape])
    for row in rows[:limit]:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue(), has_next, [row[0] for row in rows[:limit]]


async def bbox(conn: psycopg.AsyncConnection, layer: Layer) -> list[float] | None:
    row = await (await conn.execute(layer_sql.extent(layer))).fetchone()
    return [round(v, 6) for v in row] if row and row[0] is not None else None
