"""Station coverage over HTTP (``analysis.run``: planners, commanders, admins, each within their communes):
the population and villages within each limit of a police station per commune and for the province, the
underserved villages and the coverage curve as SVG.

Thin: the parameters are read here and by api/analysis_answers.py, the scope by data/ops/analysis_scope.py,
the figures come from geo/coverage in a worker thread (api/analysis_runner.py). A commune-scoped caller
gets its communes' rows only: no province row, and the curve and totals of its own villages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import pandas as pd
import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api import analysis_answers as ans
from api.deps import analysis_on_replica, lang, services
from api.problems import Problem
from api.security import require
from data import vocab
from data.ops import analysis_scope as scope
from data.ops.errors import bad_parameter
from data.permissions import Caller
from data.settings import Settings
from geo.coverage.coverage import Coverage, CoverageError, coverage, curve_points, tables
from geo.coverage.curve import curve_svg, text
from geo.travel import export
from geo.travel.network import TravelError, local_today

router = APIRouter(tags=["coverage"])
Analyst = Annotated[Caller, Depends(require("analysis.run"))]
SVG = "image/svg+xml"
Commune = Query(min_length=1, max_length=40, description="A 2025 commune code; default: all of your communes "
                "(the province for province-wide callers)")
Minutes = Query(max_length=100, description="Limits in minutes, comma-separated; default SITMAP_COVERAGE_MINUTES")
Status = Query(max_length=200, description="Only stations with these headquarters statuses (comma-separated, of "
               "data.vocab.HQ_STATUSES); default every station in service")
On = Query(description="Stations in service (and their status) on this day; default today")
STATUSES = vocab.codes(vocab.HQ_STATUSES)


@dataclass(frozen=True)
class Selection:
    """A coverage run and the caller's part of it."""

    run: Coverage
    villages: pd.DataFrame
    communes: pd.DataFrame
    totals: pd.DataFrame
    whole: bool


def _statuses(text_: str | None) -> tuple[str, ...] | None:
    if text_ is None:
        return None
    got = tuple(dict.fromkeys(p.strip() for p in text_.split(",") if p.strip()))
    bad = [s for s in got if s not in STATUSES]
    if bad or not got:
        raise bad_parameter(f"status must be one or more of {', '.join(STATUSES)} separated by commas; "
                            f"not {text_[:60]!r}", "status", allowed=list(STATUSES))
    return got


def _minutes(text_: str | None, settings: Settings) -> tuple[float, ...]:
    return tuple(settings.coverage_minutes) if text_ is None else ans.minutes(text_, settings)


def _problem(exc: Exception, parameter: str) -> Problem:
    if isinstance(exc, CoverageError):
        return Problem(400, "Invalid query parameter", str(exc), type_="invalid-parameter", parameter=parameter)
    return ans.travel_problem(exc, parameter)


async def _select(request: Request, caller: Caller, *, minutes: tuple[float, ...], statuses: tuple[str, ...] | None,
                  commune: str | None, on: date | None, underserved_min: float | None = None,
                  stations: pd.DataFrame | None = None) -> Selection:
    settings: Settings = request.app.state.settings

    def work(conn: psycopg.Connection) -> Selection:
        code = scope.commune(conn, caller, commune) if commune is not None else None
        allowed = scope.commune_codes(conn, caller)
        run = coverage(conn, stations=stations, on=on or local_today(), minutes=minutes, statuses=statuses,
                       max_snap_m=settings.travel_snap_max_m, walk_kmh=settings.travel_walk_kmh,
                       underserved_min=underserved_min or settings.coverage_underserved_min)
        v = run.villages
        if code is None and allowed is None:
            return Selection(run, v, run.communes, run.province, True)
        mine = v[v["commune_code"] == code] if code is not None else v[v["commune_code"].isin(allowed)]
        communes, totals = tables(mine, run.minutes)
        return Selection(run, mine, communes, totals, False)

    try:
        return await services(request).analyses.run(work, on_replica=await analysis_on_replica(request))
    except (CoverageError, TravelError) as exc:
        raise _problem(exc, "minutes|status") from None


def _attrs(frame: pd.DataFrame, run: Coverage) -> pd.DataFrame:
    frame = frame.copy()
    frame.attrs = dict(run.attrs)
    return frame


@router.get("/analyses/coverage", summary="Population and villages within each limit of a police station, "
            "per commune and for the province; underserved villages", response_model=None,
            responses={200: {"content": ans.ANSWER_CONTENT}})
async def analyses_coverage(
        request: Request, caller: Analyst, commune: Annotated[str | None, Commune] = None,
        minutes: Annotated[str | None, Minutes] = None, status: Annotated[str | None, Status] = None,
        on: Annotated[date | None, On] = None,
        f: Annotated[Literal["json", "csv"], Query(description="json | csv")] = "json",
        part: Annotated[Literal["table", "underserved"], Query(description="For csv: the table (province and "
                                                                           "communes) or the underserved villages")
                        ] = "table",
        basis: Annotated[Literal["nearest", "own", "either"], Query(
            description="Underserved by the trip to the nearest station, to the own commune's station, or "
                        "either")] = "nearest",
        threshold: Annotated[float | None, Query(gt=0, le=1440, description="Underserved beyond these minutes; "
                                                 "default SITMAP_COVERAGE_UNDERSERVED_MIN")] = None) -> Response:
    settings: Settings = request.app.state.settings
    sel = await _select(request, caller, minutes=_minutes(minutes, settings), statuses=_statuses(status),
                        commune=commune, on=on, underserved_min=threshold)
    run = sel.run
    under = Coverage(sel.villages, sel.communes, sel.totals, run.curve, run.minutes, run.underserved_min,
                     run.attrs).underserved(basis=basis)
    if f == "csv":
        frame = under if part == "underserved" else _table(sel)
        name = "coverage-underserved" if part == "underserved" else "coverage"
        return Response(export.csv_text(frame, name), media_type=ans.CSV,
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    curve = run.curve if sel.whole else curve_points(sel.villages, int(run.curve["minutes"].max()))
    body: dict[str, Any] = {
        "analysis": "coverage", **ans.provenance(_attrs(sel.totals, run), "coverage"), "minutes": list(run.minutes),
        "province": ans.summary_row(run.province) if sel.whole else None,
        "selection": None if sel.whole else ans.summary_row(sel.totals),
        "communes": ans.records(sel.communes),
        "underserved": {"basis": basis, "threshold_min": run.underserved_min if threshold is None else threshold,
                        "count": len(under), "population": int(under["population"].sum()),
                        "rows": ans.records(under)},
        "curve": ans.records(curve)}
    return JSONResponse(body)


def _table(sel: Selection) -> pd.DataFrame:
    first = sel.totals.assign(scope="province" if sel.whole else "selection", commune_code=None, commune=None)
    out = pd.concat([first, sel.communes.assign(scope="commune")], ignore_index=True)
    lead = ["scope", "commune_code", "commune"]
    out = out[lead + [c for c in out.columns if c not in lead]]
    return _attrs(out, sel.run)


@router.get("/analyses/coverage/curve.svg", summary="The coverage curve: share of the population reached "
            "against minutes by road", response_model=None,
            responses={200: {"content": {SVG: {"schema": {"type": "string"}}}}})
async def coverage_curve(
        request: Request, caller: Analyst, commune: Annotated[str | None, Commune] = None,
        minutes: Annotated[str | None, Minutes] = None,
        status: Annotated[str | None, Query(max_length=200, description="Also draw the curve of only the stations "
                                            "with these headquarters statuses (comma-separated)")] = None,
        on: Annotated[date | None, On] = None) -> Response:
    settings: Settings = request.app.state.settings
    language = lang(request)
    ms, statuses = _minutes(minutes, settings), _statuses(status)
    curves = []
    for st in (None, statuses) if statuses else (None,):
        sel = await _select(request, caller, minutes=ms, statuses=st, commune=commune, on=on)
        curve = sel.run.curve if sel.whole else curve_points(sel.villages, int(sel.run.curve["minutes"].max()))
        name = text("today", language) if st is None else " + ".join(
            next(t.vi if language == "vi" else t.en for t in vocab.HQ_STATUSES if t.code == s) for s in st)
        curves.append((name, curve))
    svg = curve_svg(curves, lang=language, marks=ms, roads_generated=bool(sel.run.attrs["roads_generated"]),
                    note=str(sel.run.attrs["note"]))
    return Response(svg, media_type=SVG, headers={"Cache-Control": "no-store"})
