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


def feature_expr(layer_id: str, relation: str) -> str:
    """SQL expression building the layer's public Feature from the columns of ``relation`` (a CTE over the
    layer's own table, e.g. ``RETURNING *`` of an insert): the event is written in the same statement."""
    layer = registry.get(layer_id)
    if layer is None:
        raise KeyError(f"no layer {layer_id!r} is declared")
    rel = sql.Identifier(relation)
    pairs = [sql.SQL("{}, {}").format(sql.Literal(p.name), sql.SQL(p.expr) if p.expr else sql.Identifier(
        relation, p.name)) for p in layer.properties if not p.personal]
    return sql.SQL(
        "jsonb_build_object('type', 'Feature', 'id', {rel}.{id}, 'geometry', ST_AsGeoJSON({rel}.{geom}, 7)::jsonb, "
        "'properties', jsonb_build_object({pairs}))"
    ).format(rel=rel, id=sql.Identifier(layer.id_column), geom=sql.Identifier(layer.geom_column),
             pairs=sql.SQL(", ").join(pairs)).as_string(None)
