"""Request dependencies shared by the routers, so that no router imports another.

The layer a path names and the caller's grant on it (``resolve``), the answer's language and base URL, the
400 of a bad layer query, the pooled connection, the caller, the worker's services (api/services.py), the
tile service and the layers' extents.
"""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import Depends, Request

from api.database import connection
from api.problems import Problem
from api.security import optional_principal, require_principal
from api.services import Services
from data.permissions import Caller
from layers import registry
from layers.access import Grant, Refused, grant
from layers.model import Layer
from layers.query import BadQuery
from layers.tiles import TileService

__all__ = ["ConnDep", "PrincipalDep", "RequiredPrincipalDep", "TMS", "bad", "base_url", "connection", "lang",
           "layer_bbox", "resolve", "services", "tile_service", "tile_template"]

ConnDep = Annotated[psycopg.AsyncConnection, Depends(connection)]
PrincipalDep = Annotated[Caller | None, Depends(optional_principal)]
RequiredPrincipalDep = Annotated[Caller, Depends(require_principal)]
TMS = "WebMercatorQuad"


def services(request: Request) -> Services:
    """The worker's services, built in the app's lifespan."""
    return request.app.state.services


def tile_service(request: Request) -> TileService:
    return services(request).tiles


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.headers.get("accept-language", "")
    return "en" if wanted[:2].lower() == "en" else "vi"


def bad(exc: BadQuery) -> Problem:
    return Problem(400, "Invalid query parameter", exc.detail, type_="invalid-parameter", parameter=exc.parameter)


async def resolve(request: Request, collection_id: str, principal: Caller | None) -> tuple[Layer, Grant]:
    """The declared layer and the caller's grant on it, or the problem to answer (404, 401, 403)."""
    layer = registry.get(collection_id)
    if layer is None:
        known = ", ".join(lay.id for lay in registry.all_layers())
        raise Problem(404, "Not found", f"there is no collection {collection_id!r}; the collections are: {known}",
                      type_="unknown-collection")
    try:
        return layer, grant(layer, principal)
    except Refused as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        raise Problem(exc.status, "Not signed in" if exc.status == 401 else "Forbidden", exc.detail,
                      headers=headers) from None


async def layer_bbox(request: Request, conn: psycopg.AsyncConnection, layer: Layer) -> list[float] | None:
    """The layer's extent, cached per worker with its data version (not introspected per request)."""
    svc = services(request)
    version = await svc.tiles.versions.key(layer, svc.pool)
    return await svc.extents.bbox(conn, layer, version)


def tile_template(request: Request, layer: Layer) -> str:
    return f"{base_url(request)}/collections/{layer.id}/tiles/{TMS}/{{z}}/{{y}}/{{x}}"
