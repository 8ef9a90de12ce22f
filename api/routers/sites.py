"""Site selection over HTTP (``analysis.run``: planners, commanders, admins): where p new headquarters or
posts would help most, or the fewest that reach everyone.

Thin: the body is read here, the caller's communes by data/ops/analysis_scope.py (a commune-scoped caller's
demand is its own communes' villages), and the work is data/ops/site_selection.py's, run in a worker thread
by api/analysis_runner.py (503 + Retry-After when every slot is busy). Nothing is stored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import pandas as pd
import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder as jsonable
from pydantic import BaseModel, Field

from api import analysis_answers as ans
from api.deps import services
from api.security import require
from api.strict import STRICT
from data import limits as bounds
from data.ops import analysis_scope as scope
from data.ops import site_selection as sel
from data.permissions import Caller
from geo.travel.network import TravelError

router = APIRouter(tags=["coverage"])
Analyst = Annotated[Caller, Depends(require("analysis.run"))]


class Plot(BaseModel):
    model_config = STRICT
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    name: str | None = Field(default=None, max_length=bounds.PERSON_NAME_CHARS)


class SitesIn(BaseModel):
    model_config = STRICT
    problem: Literal["lscp", "mclp", "pmedian"] = Field(
        description="lscp: fewest new sites so every reachable village is within `minutes`; mclp: the `p` new "
                    "sites covering the most demand within `minutes`; pmedian: the `p` new sites with the least "
                    "demand-weighted travel time. Stations in service are kept as they are.")
    minutes: float = Field(default=30, gt=0, le=600, description="The limit of the covering problems (minutes)")
    p: int = Field(default=3, ge=1, le=50, description="New sites (mclp, pmedian)")
    candidates: Literal["villages", "nodes", "plots"] = Field(
        default="villages", description="villages | nodes (junctions of national and provincial roads, at least "
                                        "`spacing_m` apart) | plots (the `plots` given)")
    spacing_m: float = Field(default=2000, ge=0, le=100_000)
    plots: list[Plot] | None = Field(default=None, max_length=5000, description="Proposed plots (EPSG:4326)")
    demand: Literal["population", "incidents"] = "population"
    time_limit_s: float = Field(default=60, gt=0, le=sel.MAX_TIME_LIMIT_S,
                                description="The solver stops here and reports its gap")
    solver: Literal["cbc", "highs"] | None = Field(
        default=None, description="cbc | highs; default CBC for lscp and mclp, HiGHS for pmedian")
    on: date | None = Field(default=None, description="Stations in service on this day; default today")
    commune: str | None = Field(default=None, min_length=1, max_length=40,
                                description="Demand of this 2025 commune only (it must be yours); default all "
                                            "of your communes (the province for province-wide callers)")

    def params(self, communes: frozenset[str] | None) -> sel.SiteParams:
        plots = None
        if self.plots is not None:
            plots = pd.DataFrame([{"lon": p.lon, "lat": p.lat, "label": p.name} for p in self.plots])
        return sel.SiteParams(problem=self.problem, minutes=self.minutes, p=self.p,
                              candidates="file" if self.candidates == "plots" else self.candidates,
                              demand=self.demand, time_limit_s=self.time_limit_s, spacing_m=self.spacing_m,
                              solver=self.solver, plots=plots, on=self.on, communes=communes)


@router.post("/analyses/sites", summary="Where new stations would help most (LSCP, MCLP, p-median; exact)")
async def analyses_sites(body: SitesIn, request: Request, caller: Analyst) -> dict[str, Any]:
    settings = request.app.state.settings
    travel = {"max_snap_m": settings.travel_snap_max_m, "walk_kmh": settings.travel_walk_kmh}

    def work(conn: psycopg.Connection) -> dict[str, Any]:
        communes = (frozenset({scope.commune(conn, caller, body.commune)}) if body.commune is not None
                    else scope.commune_codes(conn, caller))
        return sel.select_sites(conn, body.params(communes), **travel)

    try:
        return jsonable(await services(request).analyses.run(work))
    except TravelError as exc:
        raise ans.travel_problem(exc, "candidates") from None
