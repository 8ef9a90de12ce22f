"""Vector tiles (OGC API - Tiles, WebMercatorQuad; XYZ alias), TileJSON 3 and tile-set metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import TMS, ConnDep, PrincipalDep, bad, base_url, lang, layer_bbox, resolve, tile_service, tile_template
from api.deps import reads as read_routing
from api.problems import Problem
from api.security import optional_principal
from layers import registry
from layers.access import visible_props
from layers.model import Layer
from layers.query import BadQuery, parse_query
from layers.tiles import MVT_MEDIA_TYPE

router = APIRouter(tags=["Vector tiles"])
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MAX_ZOOM = 24


def needs_principal(layer: Layer | None) -> bool:
    """Whether the caller changes what this layer's tiles hold (access, commune scope, personal properties)."""
    return layer is None or not layer.access.public or any(p.personal for p in layer.properties)


async def _tile(request: Request, collection_id: str, z: int, x: int, y: int) -> Response:
    # No session lookup (one round trip) for a public layer's tiles: they are the same for everyone.
    principal = await optional_principal(request) if needs_principal(registry.get(collection_id)) else None
    layer, g = await resolve(request, collection_id, principal)
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise Problem(400, "Invalid tile", f"tile {z}/{x}/{y} does not exist: zoom 0..{MAX_ZOOM} and x, y "
                      f"0..2^zoom-1", type_="invalid-tile")
    try:
        q = parse_query(layer, request.query_params, visible_props(layer, g, tiles=True))
    except BadQuery as exc:
        raise bad(exc) from None
    if z < layer.minzoom or z > layer.maxzoom:
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=3600"})
    # A replica may answer (within the lag bound, not a caller who just wrote; layers/tiles.py checks that its
    # versions are not behind the leader's and keys the tile by them).
    r = read_routing(request)
    replica = await r.replica_for(principal.user_id if principal else None)
    result = await tile_service(request).tile(r.leader, layer, g, q, z, x, y, request.headers.get("if-none-match"),
                                              replica=replica, routed=r.replica is not None)
    if result.status == 200:
        return Response(result.body, media_type=MVT_MEDIA_TYPE, headers=result.headers)
    return Response(status_code=result.status, headers=result.headers)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}",
            summary="A vector tile (MVT); 204 when the tile is empty", response_class=Response)
async def tile(request: Request, collection_id: str, z: int, y: int, x: int) -> Response:
    return await _tile(request, collection_id, z, x, y)


@router.get("/tiles/{collection_id}/{z}/{x}/{y}.mvt", summary="XYZ alias of the vector tile",
            response_class=Response)
async def tile_xyz(request: Request, collection_id: str, z: int, x: int, y: int) -> Response:
    return await _tile(request, collection_id, z, x, y)


def _fields(layer: Layer, props) -> dict[str, str]:
    kinds = {"integer": "Number", "number": "Number", "boolean": "Boolean", "datetime": "Number"}  # see tile_value
    ident = {} if layer.tile_id_column else {"id": "String"}  # else the id is the MVT feature id
    return {**ident, **{p.name: kinds.get(p.type, "String") for p in props}}


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad", summary="TileJSON 3 of a layer")
async def tilejson(request: Request, collection_id: str, principal: PrincipalDep, conn: ConnDep
                   ) -> dict[str, Any]:
    layer, g = await resolve(request, collection_id, principal)
    bounds = await layer_bbox(request, conn, layer)
    en = lang(request) == "en"
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": layer.title_en if en else layer.title_vi,
        "description": layer.description,
        "scheme": "xyz",
        "tiles": [tile_template(request, layer)],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "vector_layers": [{"id": layer.id, "description": layer.title_en if en else layer.title_vi,
                           "minzoom": layer.minzoom, "maxzoom": layer.maxzoom,
                           "fields": _fields(layer, visible_props(layer, g, tiles=True))}],
    }
    if bounds:
        doc["bounds"] = bounds
        doc["center"] = [round((bounds[0] + bounds[2]) / 2, 5), round((bounds[1] + bounds[3]) / 2, 5),
                         max(layer.minzoom, 8)]
    return doc


@router.get("/collections/{collection_id}/tiles", summary="Tile sets of a layer (OGC API - Tiles)")
async def tilesets(request: Request, collection_id: str, principal: PrincipalDep) -> dict[str, Any]:
    layer, _ = await resolve(request, collection_id, principal)
    url = f"{base_url(request)}/collections/{layer.id}/tiles"
    return {
        "links": [{"href": url, "rel": "self", "type": "application/json"}],
        "tilesets": [{
            "title": layer.title_en if lang(request) == "en" else layer.title_vi,
            "dataType": "vector",
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "tileMatrixSetURI": TMS_URI,
            "links": [
                {"href": f"{url}/{TMS}", "rel": "self", "type": "application/json", "title": "TileJSON"},
                {"href": TMS_URI, "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"},
                {"href": f"{url}/{TMS}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "rel": "item",
                 "type": MVT_MEDIA_TYPE, "templated": True, "title": "Vector tiles"},
            ],
        }],
    }
