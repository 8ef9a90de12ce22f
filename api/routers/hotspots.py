"""Hot-spot runs over HTTP: run one (``analysis.run``: planners, commanders, admins), list them and read one
with its cells (``layer.restricted``: everyone signed in, each within their communes).

Thin: the request is read by api/hotspot_request.py, the run is computed and stored by data/ops/hotspot_runs.py
in a worker thread (api/analysis_runner.py: bounded, 503 + Retry-After when full), and the reads and the
caller's scope are data/ops/hotspot_views.py's. The latest run of each category is the ``hotspots`` (or
``emerging-hotspots``) layer; every run stays readable here by id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse, Response

from api.database import connection
from api.deps import services
from api.hotspot_request import HotspotRequest
from api.problems import Problem
from api.security import remote_addr, require
from data import vocab
from data.ops import hotspot_views as views
from data.ops.hotspot_runs import HotspotInputError
from data.permissions import Caller

router = APIRouter(tags=["hotspots"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Analyst = Annotated[Caller, Depends(require(views.RUN_ACTION))]
Reader = Annotated[Caller, Depends(require(views.READ_ACTION))]
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The run's id")]
Commune = Query(min_length=1, max_length=40, description="A 2025 commune code: only its cells (it must be yours); "
                "default all of your communes (the province for province-wide callers)")
AnalysisName = Literal[tuple(vocab.codes(vocab.HOTSPOT_ANALYSES))]  # type: ignore[valid-type]
GEOJSON = "application/geo+json"


@router.post("/analyses/hotspots", status_code=201, response_model=None,
             summary="Run and store a hot-spot analysis (Gi* or emerging); it becomes the layer of its category")
async def run_hotspots(body: HotspotRequest, request: Request, caller: Analyst) -> JSONResponse:
    try:
        params = body.params()
    except HotspotInputError as exc:
        raise Problem(400, "Invalid request", str(exc), type_="invalid-request") from None
    addr = remote_addr(request)

    def work(conn: psycopg.Connection) -> dict[str, Any]:
        return views.run_for(conn, caller, params, body.commune, addr)

    try:
        doc = await services(request).analyses.run(work)
    except HotspotInputError as exc:  # what the data cannot give (no communes imported)
        raise Problem(400, "Invalid request", str(exc), type_="invalid-request") from None
    return JSONResponse(jsonable(doc), status_code=201, headers={"Location": f"/hotspot-runs/{doc['run_id']}"})


@router.get("/hotspot-runs", summary="Hot-spot runs, newest first (filter by analysis and category)")
async def list_runs(conn: Conn, caller: Reader,
                    analysis: Annotated[AnalysisName | None, Query(description="gi_star | emerging")] = None,
                    category: Annotated[str | None, Query(max_length=200, description=(
                        "'all', one incident category (runs that counted it) or several, comma-separated "
                        "(runs of exactly those)"))] = None,
                    commune: Annotated[str | None, Commune] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> dict[str, Any]:
    return jsonable(await views.search(conn, caller, analysis=analysis, category=category, commune=commune,
                                       limit=limit, offset=offset))


@router.get("/hotspot-runs/{run_id}", summary="One hot-spot run: parameters, who and when, counts, notes")
async def get_run(run_id: RunId, conn: Conn, caller: Reader,
                  commune: Annotated[str | None, Commune] = None) -> dict[str, Any]:
    return jsonable(await views.read(conn, caller, run_id, commune))


@router.get("/hotspot-runs/{run_id}/cells", response_model=None,
            summary="A run's cells (count, z, FDR-adjusted p, class, pattern) as GeoJSON, within your communes",
            responses={200: {"content": {GEOJSON: {}}}})
async def get_cells(run_id: RunId, conn: Conn, caller: Reader, commune: Annotated[str | None, Commune] = None,
                    limit: Annotated[int, Query(ge=1, le=100_000)] = 20_000,
                    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    return Response(await views.cells(conn, caller, run_id, commune, limit, offset), media_type=GEOJSON)
