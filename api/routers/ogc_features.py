"""OGC API - Features, Part 1 Core (GeoJSON, OpenAPI 3.0): landing page, conformance, collections, items.

Thin: parsing and access go through ``layers/``; this module only shapes HTTP responses and links.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import ConnDep, PrincipalDep, ReadConnDep, bad, base_url, lang, layer_bbox, read_headers, resolve
from api.problems import Problem
from api.security import remote_addr
from data.ops import audit
from data.permissions import Caller
from layers import feature_pages, registry
from layers.access import Grant, may_see, reads_personal, visible_props
from layers.model import Layer
from layers.query import BadQuery, next_limit, parse_id, parse_limit, parse_offset, parse_query

router = APIRouter(tags=["OGC API - Features"])

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]
# The audit action of a feature read that returned personal details (target: "<layer>:<id>" for one feature,
# "<layer>:<count>" for a page; the ids and the query are in the row's detail).
READ_ACTION = "layer.read_personal"


def output_format(request: Request, allowed: tuple[str, ...] = ("json", "geojson", "csv")) -> str:
    f = request.query_params.get("f")
    if f is None:
        accept = request.headers.get("accept", "")
        return "csv" if "text/csv" in accept and "csv" in allowed else "json"
    if f not in allowed:
        raise Problem(400, "Invalid query parameter", f"f={f!r} is not offered here; use one of: "
                      f"{', '.join(allowed)}", type_="invalid-parameter", parameter="f")
    return f


@router.get("/", summary="Landing page (OGC API); browsers get the map")
async def landing(request: Request) -> Response:
    html_index = request.app.state.html_index  # set by api/routers/web.py's install
    accept = request.headers.get("accept", "")
    if html_index is not None and "f" not in request.query_params and "text/html" in accept \
            and "json" not in accept.split(",")[0]:
        return html_index(request)
    base = base_url(request)
    return JSONResponse({
        "title": "sitmap",
        "description": "Situational-awareness map server: police layers as OGC API Features and vector tiles.",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "This document"},
            {"href": f"{base}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "The API definition"},
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "The API documentation"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "Conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "Collections"},
            {"href": f"{base}/layers", "rel": "alternate", "type": "application/json",
             "title": "Map layers with styles and legends"},
        ],
    })


@router.get("/conformance", summary="Conformance classes")
async def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def collection_doc(request: Request, layer: Layer, bbox: list[float] | None) -> dict[str, Any]:
    base = base_url(request)
    url = f"{base}/collections/{layer.id}"
    en = lang(request) == "en"
    doc: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title_en if en else layer.title_vi,
        "description": layer.description,
        "titles": {"vi": layer.title_vi, "en": layer.title_en},
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": "This collection"},
            {"href": f"{url}/items", "rel": "items", "type": GEOJSON, "title": "Features (GeoJSON)"},
            {"href": f"{url}/items?f=csv", "rel": "items", "type": "text/csv", "title": "Features (CSV)"},
            {"href": f"{url}/tiles", "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
             "type": "application/json", "title": "Vector tile sets"},
            {"href": f"{url}/tiles/WebMercatorQuad", "rel": "describedby", "type": "application/json",
             "title": "TileJSON"},
        ],
    }
    if bbox:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get("/collections", summary="The layers the caller may see")
async def collections(request: Request, principal: PrincipalDep, conn: ConnDep) -> dict[str, Any]:
    base = base_url(request)
    docs = [collection_doc(request, layer, await layer_bbox(request, conn, layer))
            for layer in registry.all_layers() if may_see(layer, principal)]
    return {"links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": docs}


@router.get("/collections/{collection_id}", summary="One layer's metadata")
async def collection(request: Request, collection_id: str, principal: PrincipalDep, conn: ConnDep
                     ) -> dict[str, Any]:
    layer, _ = await resolve(request, collection_id, principal)
    doc = collection_doc(request, layer, await layer_bbox(request, conn, layer))
    doc["properties"] = {p.name: {"type": "string" if p.type in ("date", "datetime") else p.type,
                                  **({"format": "date-time" if p.type == "datetime" else "date"}
                                     if p.type in ("date", "datetime") else {}),
                                  "title": p.title_en if lang(request) == "en" else p.title_vi,
                                  **({"enum": [t.code for t in p.terms]} if p.terms else {})}
                         for p in layer.properties}
    return doc


def _page_links(request: Request, has_next: bool, limit: int, offset: int, fmt: str) -> list[dict[str, str]]:
    url = request.url
    media = "text/csv" if fmt == "csv" else GEOJSON
    links = [{"href": str(url), "rel": "self", "type": media, "title": "This page"}]
    if has_next:
        links.append({"href": str(url.include_query_params(offset=offset + limit, limit=next_limit(limit))),
                      "rel": "next",
                      "type": media, "title": "Next page"})
    if offset > 0:
        links.append({"href": str(url.include_query_params(offset=max(0, offset - limit), limit=limit)),
                      "rel": "prev", "type": media, "title": "Previous page"})
    collection_url = f"{base_url(request)}/collections/{request.path_params['collection_id']}"
    links.append({"href": collection_url, "rel": "collection", "type": "application/json",
                  "title": "The collection"})
    return links


@router.get("/collections/{collection_id}/items", summary="Features of a layer (GeoJSON or CSV)",
            response_class=Response)
async def items(
    request: Request, collection_id: str, principal: PrincipalDep, conn: ReadConnDep,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS 84)")] = None,
    datetime: Annotated[str | None, Query(description="instant, or interval start/end; '..' for open")] = None,
    limit: Annotated[str | None, Query(description="1..10000 (larger values are clamped), default 100")] = None,
    offset: Annotated[str | None, Query(description="features to skip (use the next/prev links)")] = None,
    f: Annotated[str | None, Query(description="json | geojson | csv")] = None,
) -> Response:
    layer, g = await resolve(request, collection_id, principal)
    fmt = output_format(request)
    try:
        crs = request.query_params.get("bbox-crs")
        if crs not in (None, CRS84):
            raise BadQuery("bbox-crs", f"bbox-crs {crs!r} is not supported; only {CRS84}")
        q = parse_query(layer, request.query_params, visible_props(layer, g))
        lim, off = parse_limit(limit), parse_offset(offset)
    except BadQuery as exc:
        raise bad(exc) from None
    if fmt == "csv":
        text, has_next, ids = await feature_pages.csv_page(conn, layer, g, q, lim, off)
        await audit_read(request, conn, layer, g, principal, ids, fmt)
        headers = {"Content-Disposition": f'attachment; filename="{layer.id}.csv"',
                   "Link": ", ".join(f'<{lk["href"]}>; rel="{lk["rel"]}"'
                                     for lk in _page_links(request, has_next, lim, off, fmt)[1:2] if has_next)}
        return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={k: v for k, v in headers.items() if v} | _cache_headers(layer) | read_headers(request))
    result = await feature_pages.page(conn, layer, g, q, lim, off)
    await audit_read(request, conn, layer, g, principal, result.ids, fmt)
    head = {"type": "FeatureCollection", "numberReturned": len(result.features),
            "links": _page_links(request, result.has_next, lim, off, fmt)}
    if result.number_matched is not None:
        head["numberMatched"] = result.number_matched
    from datetime import UTC
    from datetime import datetime as dt

    head["timeStamp"] = dt.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [' + ",".join(result.features) + "]}"
    return Response(body.encode("utf-8"), media_type=GEOJSON, headers=_cache_headers(layer) | read_headers(request))


async def audit_read(request: Request, conn: psycopg.AsyncConnection, layer: Layer, g: Grant,
                     principal: Caller | None, ids: list[str], fmt: str, *, single: bool = False) -> None:
    """One audit row per request that returns personal details (not one per feature), before the answer;
    on the leader when the page was read on a replica (which takes no writes)."""
    if principal is None or not ids or not reads_personal(layer, g):
        return
    target = f"{layer.id}:{ids[0]}" if single else f"{layer.id}:{len(ids)}"
    async with contextlib.AsyncExitStack() as stack:
        if getattr(request.state, "sitmap_read", None) == "replica":
            conn = await stack.enter_async_context(request.app.state.pool.connection())
        await audit.record_read(conn, principal.user_id, principal.username, READ_ACTION, target,
                                remote_addr(request), ids, None if single else dict(request.query_params),
                                layer=layer.id, format=fmt)


def _cache_headers(layer: Layer) -> dict[str, str]:
    return {"Cache-Control": "private, no-store" if layer.restricted else "public, max-age=30, must-revalidate"}


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature", response_class=Response)
async def item(request: Request, collection_id: str, feature_id: str, principal: PrincipalDep, conn: ReadConnDep,
               f: Annotated[str | None, Query(description="json | geojson")] = None) -> Response:
    layer, g = await resolve(request, collection_id, principal)
    output_format(request, ("json", "geojson"))
    fid = parse_id(layer, feature_id)
    text = await feature_pages.one(conn, layer, g, fid) if fid is not None else None
    if text is None:
        raise Problem(404, "Not found", f"there is no feature {feature_id!r} in {collection_id!r} "
                      "(or it is outside your communes)", type_="unknown-feature")
    await audit_read(request, conn, layer, g, principal, [str(fid)], "json", single=True)
    base = f"{base_url(request)}/collections/{collection_id}"
    links = [{"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON},
             {"href": base, "rel": "collection", "type": "application/json"}]
    body = text[:-1] + ', "links": ' + json.dumps(links) + "}"
    return Response(body.encode("utf-8"), media_type=GEOJSON, headers=_cache_headers(layer) | read_headers(request))
