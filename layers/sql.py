"""SQL built from a declaration: one WHERE shared by features and tiles, then the SELECTs of tiles, CSV,
counts and extents (GeoJSON Features: layers/geojson.py).

Identifiers and SQL fragments come from declarations only; every client value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from psycopg import sql

from layers.access import Grant
from layers.model import Layer, Prop
from layers.query import Query

MVT_EXTENT = 4096
MVT_BUFFER = 64
WEB_MERCATOR_HALF = 20037508.342789244
# Every coordinate sitmap writes out (GeoJSON, CSV, WKT) has this many decimals: about 1 cm at the equator.
COORD_DIGITS = 7


def source(layer: Layer) -> sql.Composable:
    if layer.source.lstrip()[:6].upper() == "SELECT":
        return sql.SQL("({}) AS src").format(sql.SQL(layer.source))  # noqa: S608 (trusted declaration)
    return sql.SQL("{} AS src").format(sql.Identifier(layer.source))


def prop_expr(p: Prop) -> sql.Composable:
    return sql.SQL(p.expr) if p.expr else sql.Identifier(p.name)


def _time_type(layer: Layer, column: str) -> str:
    p = layer.prop(column)
    return "date" if p is not None and p.type == "date" else "timestamptz"


def where(layer: Layer, g: Grant, q: Query, *, tile: tuple[int, int, int] | None = None,
          fid: Any = None) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = []
    params: list[Any] = []
    if layer.where:
        conds.append(sql.SQL("({})").format(sql.SQL(layer.where)))
    if g.unit_ids is not None and layer.access.unit_column:
        conds.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(layer.access.unit_column)))
        params.append(list(g.unit_ids))
    if tile is not None:
        z, x, y = tile
        column = layer.tile_geom_column
        env = sql.SQL("ST_TileEnvelope(%s, %s, %s, margin => %s)")
        if column:
            conds.append(sql.SQL("{} && {}").format(sql.Identifier(column), env))
        else:
            conds.append(sql.SQL("{} && ST_Transform({}, 4326)").format(sql.Identifier(layer.geom_column), env))
        params += [z, x, y, MVT_BUFFER / MVT_EXTENT]
    if q.bbox is not None:
        conds.append(sql.SQL("ST_Intersects({}, ST_MakeEnvelope(%s, %s, %s, %s, 4326))").format(
            sql.Identifier(layer.geom_column)))
        params += list(q.bbox)
    conds += _time(layer, q, params)
    for name, value in q.filters.items():
        prop = layer.prop(name)
        assert prop is not None  # parse_filters only lets declared properties through
        conds.append(sql.SQL("{} = %s").format(prop_expr(prop)))
        params.append(value)
    if fid is not None:
        conds.append(sql.SQL("{} = %s").format(sql.Identifier(layer.id_column)))
        params.append(fid)
    if not conds:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds), params


def _time(layer: Layer, q: Query, params: list[Any]) -> list[sql.Composable]:
    if not layer.time_start:
        return []
    start_col = sql.Identifier(layer.time_start)
    if layer.time_end is None:  # an instant per feature
        if q.time is None:
            return []
        out = []
        if q.time.start is not None:
            out.append(sql.SQL("{} >= %s").format(start_col))
            params.append(q.time.start)
        if q.time.end is not None:
            out.append(sql.SQL("{} <= %s").format(start_col))
            params.append(q.time.end)
        return out
    # A validity interval per feature, NULL ends open: keep the features whose interval meets the query's.
    end_col = sql.Identifier(layer.time_end)
    cast_s = sql.SQL(_time_type(layer, layer.time_start))
    cast_e = sql.SQL(_time_type(layer, layer.time_end))
    if q.time is None:
        if not layer.default_current:
            return []
        return [sql.SQL("({s} IS NULL OR {s} <= now()::{cs}) AND ({e} IS NULL OR {e} >= now()::{ce})").format(
            s=start_col, e=end_col, cs=cast_s, ce=cast_e)]
    out = []
    if q.time.end is not None:
        out.append(sql.SQL("({s} IS NULL OR {s} <= %s::{cs})").format(s=start_col, cs=cast_s))
        params.append(q.time.end)
    if q.time.start is not None:
        out.append(sql.SQL("({e} IS NULL OR {e} >= %s::{ce})").format(e=end_col, ce=cast_e))
        params.append(q.time.start)
    return out


def order_by(layer: Layer) -> sql.Composable:
    return sql.SQL(" ORDER BY {}").format(sql.Identifier(layer.id_column))


def timeless(layer: Layer) -> Layer:
    """The layer without its "valid now" default: a single feature is found whatever its validity."""
    return replace(layer, default_current=False)


def bounded_count(layer: Layer, g: Grant, q: Query, bound: int) -> tuple[sql.Composable, list[Any]]:
    """Count the matches up to ``bound`` (a count at the bound means "at least", and is not reported)."""
    cond, params = where(layer, g, q)
    return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {src}{cond} LIMIT %s) AS c").format(
        src=source(layer), cond=cond), [*params, bound]


def csv_rows(layer: Layer, g: Grant, q: Query, props: list[Prop], limit: int, offset: int
             ) -> tuple[sql.Composable, list[Any]]:
    geom = sql.Identifier(layer.geom_column)
    if layer.is_point:
        shape = sql.SQL("round(ST_X({g})::numeric, {d}), round(ST_Y({g})::numeric, {d})").format(
            g=geom, d=sql.Literal(COORD_DIGITS))
    else:
        shape = sql.SQL("ST_AsText({g}, {d})").format(g=geom, d=sql.Literal(COORD_DIGITS))
    cols = sql.SQL(", ").join(prop_expr(p) for p in props)
    cond, params = where(layer, g, q)
    query = sql.SQL("SELECT {id}::text AS csv_id, {cols}, {shape} FROM {src}{cond}{order} LIMIT %s OFFSET %s").format(
        id=sql.Identifier(layer.id_column), cols=cols, shape=shape, src=source(layer), cond=cond,
        order=order_by(layer))
    return query, [*params, limit + 1, offset]


def tile_value(p: Prop) -> sql.Composable:
    """A property as a tile carries it: datetimes as integer seconds since 1970 (UTC). ST_AsMVT would write
    each timestamp as text through its output function, which cost about a tenth of a capped incident tile;
    an integer is also what a client filters on ("the last 24 hours")."""
    if p.type == "datetime":
        return sql.SQL("floor(date_part('epoch', {n}))::bigint AS {n}").format(n=sql.Identifier(p.name))
    return sql.Identifier(p.name)


def tile(layer: Layer, g: Grant, q: Query, props: list[Prop], z: int, x: int, y: int
         ) -> tuple[sql.Composable, list[Any]]:
    """The whole tile in one statement: (mvt bytes, number of candidates up to cap + 1).

    The candidates are filtered by the tile envelope widened by the MVT buffer, ordered by the declared
    priority and cut at cap + 1 rows (the extra row only tells that the tile was capped); only the first
    ``cap`` rows are clipped and encoded.
    """
    cond, params = where(layer, g, q, tile=(z, x, y))
    tgeom: sql.Composable = (sql.Identifier(layer.tile_geom_column) if layer.tile_geom_column
                             else sql.SQL("ST_Transform({}, 3857)").format(sql.Identifier(layer.geom_column)))
    geom_params: list[Any] = []
    if layer.simplify_px > 0 and not layer.is_point:
        tgeom = sql.SQL("ST_Simplify({}, %s, true)").format(tgeom)
        geom_params.append(layer.simplify_px * 2 * WEB_MERCATOR_HALF / (2 ** z) / MVT_EXTENT)
    order = sql.SQL(layer.priority) if layer.priority else sql.Identifier(layer.id_column)
    fid = layer.tile_id_column
    # The feature's identity: the integer MVT feature id, or else the id as a text property.
    ident = (sql.SQL("{} AS _fid").format(sql.Identifier(fid)) if fid
             else sql.SQL("{}::text AS {}").format(sql.Identifier(layer.id_column), sql.Identifier("id")))
    inner_cols = sql.SQL(", ").join(
        [sql.SQL("{} AS _g").format(tgeom), ident]
        + [sql.SQL("{} AS {}").format(prop_expr(p), sql.Identifier(p.name)) for p in props])
    outer_cols = sql.SQL(", ").join([sql.Identifier("_fid" if fid else "id")] + [tile_value(p) for p in props])
    mvt_fid = sql.SQL(", '_fid'") if fid else sql.SQL("")
    query = sql.SQL(
        "WITH s AS (SELECT row_number() OVER () AS _n, q.* FROM ("
        "SELECT {inner} FROM {src}{cond} ORDER BY {order} LIMIT %s) AS q) "
        "SELECT (SELECT ST_AsMVT(m, %s, {extent}, 'geom'{mvt_fid}) FROM ("
        "SELECT ST_AsMVTGeom(_g, ST_TileEnvelope(%s, %s, %s), {extent}, {buffer}, true) AS geom, {outer} "
        "FROM s WHERE _n <= %s) AS m), (SELECT count(*) FROM s)").format(
        inner=inner_cols, src=source(layer), cond=cond, order=order, outer=outer_cols, mvt_fid=mvt_fid,
        extent=sql.Literal(MVT_EXTENT), buffer=sql.Literal(MVT_BUFFER))
    return query, [*geom_params, *params, layer.tile_cap + 1, layer.id, z, x, y, layer.tile_cap]


def versions() -> sql.Composable:
    # A table's version is the sum of its slots (migration 0008).
    return sql.SQL("SELECT table_name, sum(version)::bigint FROM data_version GROUP BY table_name")


def extent(layer: Layer) -> sql.Composable:
    cond, _ = where(timeless(layer), Grant(layer.id, None, False), Query())
    return sql.SQL("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                   "(SELECT ST_Extent({g}) AS e FROM {src}{cond}) AS x").format(
        g=sql.Identifier(layer.geom_column), src=source(layer), cond=cond)
