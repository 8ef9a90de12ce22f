"""Request dependencies shared by the routers, so that no router imports another.

The layer a path names and the caller's grant on it (``resolve``), the answer's language and base URL, the
400 of a bad layer query, the pooled connection, the caller, the worker's services (api/services.py), the
tile service and the layers' extents; ``read_connection``, the connection of the reads that may go to a
replica (tiles, feature pages), and the header saying where one went.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request

from api.database import Reads, connection
from api.problems import Problem
from api.security import optional_principal, require_principal
from api.services import Services
from data.permissions import Caller
from layers import registry
from layers.access import Grant, Refused, grant
from layers.model import Layer
from layers.query import BadQuery
from layers.tiles import TileService
from layers.versions import behind

__all__ = ["ConnDep", "PrincipalDep", "ReadConnDep", "RequiredPrincipalDep", "TMS", "analysis_on_replica", "bad",
           "base_url", "connection", "lang", "layer_bbox", "read_connection", "read_headers", "reads", "resolve",
           "services", "tile_service", "tile_template"]

ConnDep = Annotated[psycopg.AsyncConnection, Depends(connection)]
PrincipalDep = Annotated[Caller | None, Depends(optional_principal)]
RequiredPrincipalDep = Annotated[Caller, Depends(require_principal)]
TMS = "WebMercatorQuad"


def services(request: Request) -> Services:
    """The worker's services, built in the app's lifespan."""
    return request.app.state.services


def reads(request: Request) -> Reads:
    return request.app.state.reads


async def read_connection(request: Request, principal: PrincipalDep) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection for a read that need not be the leader's: the replica's when ``Reads`` allows it for this
    caller and, for a path naming a layer, the replica's data versions of that layer are not behind the
    leader's (a write through another worker, which this worker's read-your-writes window cannot know of);
    else the leader's. Where it went is on ``request.state.sitmap_read`` (``read_headers``)."""
    r = reads(request)
    replica = await r.replica_for(principal.user_id if principal else None)
    async with contextlib.AsyncExitStack() as stack:
        conn = None
        if replica is not None:
            try:
                conn = await stack.enter_async_context(replica.connection())
                layer = registry.get(request.path_params.get("collection_id", ""))
                if layer is not None:
                    tiles = tile_service(request)
                    if behind(await tiles.versions.read(conn, layer), await tiles.versions.key(layer, r.leader)):
                        conn = None
            except Exception:  # noqa: BLE001 (the replica went away: the leader answers, not a 500)
                r.replica_failed()
                conn = None
        request.state.sitmap_read = "replica" if conn is not None else "leader"
        if conn is None:
            conn = await stack.enter_async_context(r.leader.connection())
        yield conn


async def analysis_on_replica(request: Request) -> bool:
    """Whether the caller's read-only analysis may run on the replica (api/analysis_runner.py): within the lag
    bound and not just after this caller wrote; analyses read no layer's versions, so that is the whole rule."""
    caller = getattr(request.state, "principal", None)
    return await reads(request).replica_for(getattr(caller, "user_id", None)) is not None


ReadConnDep = Annotated[psycopg.AsyncConnection, Depends(read_connection)]


def read_headers(request: Request) -> dict[str, str]:
    """X-Sitmap-Read: replica|leader, when a replica is configured (an operator sees where reads go)."""
    where = getattr(request.state, "sitmap_read", None)
    return {"X-Sitmap-Read": where} if where and reads(request).replica is not None else {}


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
