"""A row as its layer's public GeoJSON Feature, built from the layer's declaration in layers/ (never
personal properties): what the live stream carries, so a map can draw it like any other feature."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from layers import registry
from layers.sql import prop_expr, source


def _feature_sql(layer_id: str) -> sql.Composable:
    layer = registry.get(layer_id)
    if layer is None:
        raise KeyError(f"no layer {layer_id!r} is declared")
    pairs = [sql.SQL("{}, {}").format(sql.Literal(p.name), prop_expr(p)) for p in layer.properties
             if not p.personal]
    return sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', {id}, 'geometry', ST_AsGeoJSON({geom}, 7)::json, "
        "'properties', json_build_object({pairs})) FROM {src} WHERE {id} = %s"
    ).format(id=sql.Identifier(layer.id_column), geom=sql.Identifier(layer.geom_column),
             pairs=sql.SQL(", ").join(pairs), src=source(layer))


async def public_feature(conn: psycopg.AsyncConnection, layer_id: str, fid: Any) -> dict[str, Any] | None:
    row = await (await conn.execute(_feature_sql(layer_id), (fid,))).fetchone()
    return row[0] if row else None
