"""The one GeoJSON Feature builder: a row as the Feature its layer declares (id, geometry at the one declared
precision, the chosen properties), built by the database. Feature pages, the live events and the answers of
the writes (data/ops) and the printed briefing all use it, so a feature reads the same wherever it is read.

The rows come from the layer's source, or from a relation of the same columns (a CTE, ``RETURNING *`` of an
insert) so that a write can build its event in the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from layers import registry
from layers.access import Grant
from layers.model import Layer, Prop
from layers.query import Query
from layers.sql import COORD_DIGITS, order_by, source, timeless, where


def public_props(layer: Layer, names: Sequence[str] | None = None) -> list[Prop]:
    """The layer's properties anyone allowed the layer may see (never the personal ones), all of them or
    those ``names`` in that order."""
    if names is None:
        return [p for p in layer.properties if not p.personal]
    out = []
    for name in names:
        p = layer.prop(name)
        if p is None or p.personal:
            raise KeyError(f"layer {layer.id!r} declares no public property {name!r}")
        out.append(p)
    return out


def declared(layer_id: str) -> Layer:
    layer = registry.get(layer_id)
    if layer is None:
        raise KeyError(f"no layer {layer_id!r} is declared")
    return layer


def feature(layer: Layer, props: Sequence[Prop], relation: str | None = None) -> sql.Composable:
    """The json expression of a row's Feature: of the layer's source, or of ``relation`` (its columns are
    then qualified by it; a property's declared expression is used as declared)."""

    def column(name: str) -> sql.Composable:
        return sql.Identifier(relation, name) if relation else sql.Identifier(name)

    pairs = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(p.name), sql.SQL(p.expr) if p.expr else column(p.name)) for p in props)
    return sql.SQL("json_build_object('type', 'Feature', 'id', {id}, 'geometry', ST_AsGeoJSON({geom}, {digits})::json, "
                   "'properties', json_build_object({pairs}))").format(
        id=column(layer.id_column), geom=column(layer.geom_column), digits=sql.Literal(COORD_DIGITS), pairs=pairs)


def select(layer: Layer, props: Sequence[Prop], cond: sql.Composable) -> sql.Composable:
    """The Features of the source's rows that ``cond`` picks (the caller's condition, not the layer's own
    ``where``), in id order."""
    return sql.SQL("SELECT {f} FROM {src} WHERE {cond} ORDER BY {id}").format(
        f=feature(layer, props), src=source(layer), cond=cond, id=sql.Identifier(layer.id_column))


# -- feature pages (GeoJSON text: Python only joins the rows) -------------------------------------------------

def items(layer: Layer, g: Grant, q: Query, props: list[Prop], limit: int, offset: int
          ) -> tuple[sql.Composable, list[Any]]:
    """One page of (feature text, id as text) rows; it fetches limit + 1 rows: the extra one only says
    whether there is a next page. The id names the features read in the audit log."""
    cond, params = where(layer, g, q)
    # The id text gets a name of its own: ORDER BY "id" would otherwise sort by this text, not the column.
    query = sql.SQL("SELECT {f}::text, {id}::text AS audit_id FROM {src}{cond}{order} LIMIT %s OFFSET %s").format(
        f=feature(layer, props), id=sql.Identifier(layer.id_column), src=source(layer), cond=cond,
        order=order_by(layer))
    return query, [*params, limit + 1, offset]


def item(layer: Layer, g: Grant, props: list[Prop], fid: Any) -> tuple[sql.Composable, list[Any]]:
    # A single feature is found whatever its validity.
    cond, params = where(timeless(layer), g, Query(), fid=fid)
    return sql.SQL("SELECT {f}::text FROM {src}{cond}").format(f=feature(layer, props), src=source(layer),
                                                                cond=cond), params


# -- the public Feature of a written row (live events, write answers) -----------------------------------------

async def public_feature(conn: psycopg.AsyncConnection, layer_id: str, fid: Any) -> dict[str, Any] | None:
    layer = declared(layer_id)
    query = select(layer, public_props(layer), sql.SQL("{} = %s").format(sql.Identifier(layer.id_column)))
    row = await (await conn.execute(query, (fid,))).fetchone()
    return row[0] if row else None


def public_feature_of(layer_id: str, relation: str) -> str:
    """SQL of the layer's public Feature built from the columns of ``relation`` (a CTE over the layer's own
    table, e.g. ``RETURNING *`` of an insert): the event is written in the same statement as the row."""
    layer = declared(layer_id)
    return feature(layer, public_props(layer), relation).as_string(None)
