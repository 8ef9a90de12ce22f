"""The pages people use and what they need: the commanders' map (``/``, via ``app.state.html_index``), the
officers' phone form (``/web/m``) with its service worker, the vendored assets (``/static``), the unit search.

Everything here is public at the gate (``/``, ``/static/*``, ``/web/*``) except ``/search/units`` where the
gate decides; the data the pages then load is filtered per caller by ``layers/`` and the write routes.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api.database import connection
from api.problems import Problem
from api.security import optional_principal
from data.ops import unit_info, unit_search
from data.permissions import Caller
from web import assets, pages

router = APIRouter(tags=["web"])

_NO_CACHE = {"Cache-Control": "no-cache"}


@cache
def _map_html(basemap: str | None) -> str:
    return pages.commanders_map(basemap)


@cache
def _phone_html(basemap: str | None) -> str:
    return pages.phone_page(basemap)


def html_index(request: Request) -> HTMLResponse:
    """The commanders' map; the OGC landing page answers browsers with this."""
    return HTMLResponse(_map_html(request.app.state.settings.basemap_url), headers=_NO_CACHE)


@router.get("/web/map", response_class=HTMLResponse, summary="The commanders' map (also at / for browsers)")
async def commanders_map(request: Request) -> HTMLResponse:
    return html_index(request)


@router.get("/web/m", response_class=HTMLResponse, summary="The officers' phone form")
async def phone_form(request: Request) -> HTMLResponse:
    return HTMLResponse(_phone_html(request.app.state.settings.basemap_url), headers=_NO_CACHE)


_SHELL = ["/web/m", "/web/manifest.json", *(assets.url(p) for _, p in (
    assets.LEAFLET_JS, assets.LEAFLET_CSS, assets.COMMON_JS, assets.SITMAP_CSS, ("phone", "sitmap/phone.js"),
    ("icon", "sitmap/favicon.svg")))]


@cache
def _service_worker() -> str:
    # The version changes whenever a cached file changes, so phones drop their old copy.
    digest = hashlib.sha256()
    for path in ("sitmap/common.js", "sitmap/phone.js", "sitmap/sitmap.css", "sitmap/sw.js"):
        digest.update(assets.read_text(path).encode())
    digest.update(pages.phone_page(None).encode())
    return (assets.read_text("sitmap/sw.js").replace("__VERSION__", digest.hexdigest()[:12])
            .replace("__SHELL__", json.dumps(_SHELL)))


@router.get("/web/sw.js", summary="Service worker of the phone form (offline page and area data)")
async def service_worker() -> Response:
    return Response(_service_worker(), media_type="text/javascript", headers=_NO_CACHE)


@router.get("/web/manifest.json", summary="Web app manifest of the phone form")
async def manifest() -> JSONResponse:
    return JSONResponse({"name": "sitmap — Báo cáo hiện trường", "short_name": "sitmap", "start_url": "/web/m",
                         "scope": "/web/", "display": "standalone", "background_color": "#ffffff",
                         "theme_color": "#8b0000", "lang": "vi"}, media_type="application/manifest+json")


@router.get("/web/session", summary="Who is signed in (user null when nobody); always 200")
async def session(principal: Annotated[Caller | None, Depends(optional_principal)],
                  conn: Annotated[psycopg.AsyncConnection, Depends(connection)]) -> dict[str, Any]:
    if principal is None:
        return {"user": None}
    communes = [] if principal.unit_ids is None else await unit_info.unit_refs(conn, principal.unit_ids)
    return {"user": {"username": principal.username, "role": principal.role, "province_wide": principal.province_wide,
                     "communes": [c["code"] for c in communes], "commune_names": [c["name"] for c in communes]}}


@router.get("/web/extent", summary="Bounding box of the current administrative units (EPSG:4326)")
async def extent(conn: Annotated[psycopg.AsyncConnection, Depends(connection)]) -> dict[str, Any]:
    era = await unit_info.current_era(conn)
    return {"era": era, "bbox": await unit_info.era_extent(conn, era)}


@router.get("/search/units", summary="Find administrative units by name, diacritics ignored, both eras")
async def search_units(
    conn: Annotated[psycopg.AsyncConnection, Depends(connection)],
    q: Annotated[str, Query(description="Part of a name, with or without diacritics: 'muong cha'",
                            max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    if len(unit_search.fold(q)) < 2:
        raise Problem(400, "Invalid request", "q must hold at least 2 letters of a unit's name, e.g. "
                      "?q=muong%20cha", type_="invalid-request")
    era = await unit_info.current_era(conn) or "2025"
    items = await unit_search.search_units(conn, q, limit=limit, current_era=era)
    return {"query": q, "folded": unit_search.fold(q), "current_era": era, "items": items}


def install(app: FastAPI) -> None:
    """Mount the assets, add the routes and make the map the answer to browsers at ``/``."""
    app.mount("/static", StaticFiles(directory=assets.STATIC_DIR), name="static")
    app.include_router(router)
    app.state.html_index = html_index
