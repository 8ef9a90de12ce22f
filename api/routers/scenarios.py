"""What-if scenarios over HTTP (``scenario.manage``: planners and admins): create, list, read, change, delete,
run on the current data (coverage and access today and with the changes, side by side) and the two
coverage curves on one plot.

Thin: the checks, writes and audit rows are data/ops/scenarios.py's; a run goes through
api/analysis_runner.py (a worker thread, 503 + Retry-After when every slot is busy) and writes nothing but the
scenario's last result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api import analysis_answers as ans
from api.database import connection
from api.deps import services
from api.security import remote_addr, require
from api.strict import STRICT
from data.ops import scenarios as ops
from data.ops.errors import conflict
from data.permissions import Caller
from geo.coverage.curve import curve_svg, text
from geo.travel.network import TravelError

router = APIRouter(tags=["coverage"])
Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Planner = Annotated[Caller, Depends(require(ops.ACTION))]
INT_MAX = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=INT_MAX, description="The scenario's id")]
CHANGES_DOC = ("Changes, applied in order: add_station, remove_station, move_station, set_status, add_closure "
               "(see data/ops/scenarios.py)")


class ScenarioIn(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    changes: list[dict[str, Any]] = Field(max_length=ops.MAX_CHANGES, description=CHANGES_DOC)


class ScenarioPut(ScenarioIn):
    version: int = Field(ge=1, le=INT_MAX, description="The version you read; a stale one is refused with 409")


class ScenarioPatch(BaseModel):
    model_config = STRICT
    version: int = Field(ge=1, le=INT_MAX, description="The version you read; a stale one is refused with 409")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    changes: list[dict[str, Any]] | None = Field(default=None, max_length=ops.MAX_CHANGES, description=CHANGES_DOC)


@router.post("/scenarios", status_code=201, summary="Save a what-if scenario (planners, admins)")
async def create(body: ScenarioIn, request: Request, conn: Conn, caller: Planner) -> JSONResponse:
    row = await ops.create(conn, caller, body.name, body.description, body.changes, remote_addr(request))
    return JSONResponse(jsonable(row), status_code=201, headers={"Location": f"/scenarios/{row['id']}"})


@router.get("/scenarios", summary="Saved scenarios, the latest changed first (without their results)")
async def list_scenarios(conn: Conn, caller: Planner, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> dict[str, Any]:
    return jsonable(await ops.search(conn, limit, offset))


@router.get("/scenarios/{scenario_id}", summary="One scenario with its changes and its last result")
async def read(scenario_id: Id, conn: Conn, caller: Planner) -> dict[str, Any]:
    return jsonable(await ops.read(conn, scenario_id))


@router.put("/scenarios/{scenario_id}", summary="Replace a scenario's name, description and changes")
async def replace(scenario_id: Id, body: ScenarioPut, request: Request, conn: Conn, caller: Planner
                  ) -> dict[str, Any]:
    fields = body.model_dump(exclude={"version"})
    return jsonable(await ops.update(conn, caller, scenario_id, body.version, fields, remote_addr(request), True))


@router.patch("/scenarios/{scenario_id}", summary="Change a scenario's name, description or changes")
async def patch(scenario_id: Id, body: ScenarioPatch, request: Request, conn: Conn, caller: Planner
                ) -> dict[str, Any]:
    fields = body.model_dump(exclude={"version"}, exclude_unset=True)
    return jsonable(await ops.update(conn, caller, scenario_id, body.version, fields, remote_addr(request), False))


@router.delete("/scenarios/{scenario_id}", status_code=204, summary="Delete a scenario")
async def delete(scenario_id: Id, request: Request, conn: Conn, caller: Planner) -> Response:
    await ops.delete(conn, caller, scenario_id, remote_addr(request))
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/run", summary="Run a scenario on the current data: today's coverage and "
             "access beside the scenario's (nothing live is changed)")
async def run(scenario_id: Id, request: Request, caller: Planner) -> dict[str, Any]:
    settings = request.app.state.settings
    addr = remote_addr(request)

    def work(conn: psycopg.Connection) -> dict[str, Any]:
        return ops.run(conn, caller, scenario_id, addr, minutes=tuple(settings.coverage_minutes),
                       max_snap_m=settings.travel_snap_max_m, walk_kmh=settings.travel_walk_kmh)

    try:
        return jsonable(await services(request).analyses.run(work))
    except TravelError as exc:
        raise ans.travel_problem(exc, "changes") from None


@router.get("/scenarios/{scenario_id}/curve.svg", response_model=None, responses={200: {"content": {
    "image/svg+xml": {}}}}, summary="Today's and the scenario's coverage curves on one plot (its last run)")
async def curve(scenario_id: Id, conn: Conn, caller: Planner,
                lang: Annotated[Literal["vi", "en"], Query(description="vi | en")] = "vi") -> Response:
    row = await ops.read(conn, scenario_id)
    result = row.get("last_result")
    if not result:
        raise conflict(f"scenario {scenario_id} has not been run yet: POST /scenarios/{scenario_id}/run first")
    curves = [(text("today", lang), pd.DataFrame(result["curves"]["today"])),
              (row["name"], pd.DataFrame(result["curves"]["scenario"]))]
    svg = curve_svg(curves, lang=lang, marks=result["minutes"], roads_generated=bool(result.get("roads_generated")),
                    note=result.get("note") or "")
    return Response(svg, media_type="image/svg+xml")
