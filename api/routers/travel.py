"""Travel analyses over HTTP (``analysis.run``: planners, commanders, admins, each within their communes):
point to point, isochrones, the village access table, the reorganisation savings and response times.

Thin: the parameters are read by api/analysis_answers.py, the scope is checked by data/ops/analysis_scope.py
and the figures come from geo/travel, run in a worker thread by api/analysis_runner.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from shapely.geometry import mapping

from api import analysis_answers as ans
from api.deps import analysis_on_replica, services
from api.security import require
from data.ops import analysis_scope as scope
from data.ops.errors import bad_parameter
from data.permissions import Caller, communes_for
from data.settings import Settings
from geo.travel.access import access_summaries, access_table
from geo.travel.isochrones import isochrones, station_isochrones
from geo.travel.network import TravelError, local_today, provenance
from geo.travel.response import TZ, response_summary, response_times
from geo.travel.routes import route
from geo.travel.savings import farther_after_july, savings_summaries, savings_table

router = APIRouter(tags=["travel"])
Analyst = Annotated[Caller, Depends(require("analysis.run"))]
LONLAT = "lon,lat in degrees (EPSG:4326), e.g. 103.02,21.38"
Commune = Query(min_length=1, max_length=40, description="A 2025 commune code; default: all of "
                "your communes (the province for province-wide callers)")
Format = Query(description="json (rows and summaries) | csv | geojson")
FormatName = Literal["json", "csv", "geojson"]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _travel(settings: Settings) -> dict[str, float]:
    return {"max_snap_m": settings.travel_snap_max_m, "walk_kmh": settings.travel_walk_kmh}


async def _run(request: Request, work, parameter: str = ""):
    try:
        return await services(request).analyses.run(work, on_replica=await analysis_on_replica(request))
    except TravelError as exc:
        raise ans.travel_problem(exc, parameter) from None


def _rows_in(conn: psycopg.Connection, caller: Caller, table: pd.DataFrame, commune: str | None
             ) -> tuple[pd.DataFrame, bool]:
    """The caller's rows (those of ``commune`` if given) and whether they are the whole province."""
    allowed = scope.commune_codes(conn, caller)
    if commune is not None:
        return table[table["commune_code"] == commune], False
    if allowed is None:
        return table, True
    return table[table["commune_code"].isin(allowed)], False


def _keep(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows.attrs = dict(table.attrs)
    return rows


@router.get("/travel/route", summary="Fastest trip by road between two points, with the walking legs",
            response_model=None, responses={200: {"content": ans.GEOJSON_CONTENT}})
async def travel_route(request: Request, caller: Analyst,
                       from_: Annotated[str, Query(alias="from", min_length=3, max_length=60, description=LONLAT)],
                       to: Annotated[str, Query(min_length=3, max_length=60, description=LONLAT)]) -> JSONResponse:
    origin, destination = ans.lonlat(from_, "from"), ans.lonlat(to, "to")
    settings = _settings(request)

    def work(conn: psycopg.Connection) -> dict[str, Any]:
        scope.point(conn, caller, *origin, "origin")
        scope.point(conn, caller, *destination, "destination")
        r = route(conn, origin, destination, **_travel(settings))
        prov = provenance(conn)
        ratio = r.ratio if r.ratio == r.ratio else None  # NaN (coincident points) is no ratio
        props = {"time_s": r.travel_s, "minutes": r.travel_s / 60, "road_s": r.road_s, "walk_s": r.walk_s,
                 "road_m": r.road_m, "walk_m": r.walk_m, "straight_m": r.straight_m, "ratio": ratio,
                 "origin_edge": r.origin_edge, "destination_edge": r.destination_edge, "edges": list(r.edges),
                 **prov}
        return {"type": "Feature", "geometry": mapping(r.geometry), "properties": props, **prov,
                "metadata": {"analysis": "route", **prov, "from": list(origin), "to": list(destination),
                             **_travel(settings)}}

    return JSONResponse(await _run(request, work, "from|to"), media_type=ans.GEOJSON)


@router.get("/travel/isochrones", summary="Areas reachable by road within each limit from a station or a point",
            response_model=None, responses={200: {"content": ans.GEOJSON_CONTENT}})
async def travel_isochrones(
        request: Request, caller: Analyst,
        station: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A station id")] = None,
        at: Annotated[str | None, Query(min_length=3, max_length=60, description="lon,lat instead of a station")
                      ] = None,
        minutes: Annotated[str | None, Query(max_length=100, description="Limits in minutes, comma-separated; "
                                             "default SITMAP_TRAVEL_ISOCHRONE_MINUTES")] = None) -> JSONResponse:
    if (station is None) == (at is None):
        raise bad_parameter("give either station=ID or at=lon,lat (not both)", "station")
    point = ans.lonlat(at, "at") if at is not None else None
    settings = _settings(request)
    kw = {"minutes": ans.minutes(minutes, settings), **_travel(settings),
          "buffer_m": settings.travel_isochrone_buffer_m, "cell_m": settings.travel_isochrone_cell_m}

    def work(conn: psycopg.Connection) -> pd.DataFrame:
        if station is not None:
            scope.station(conn, caller, station)
            return station_isochrones(conn, station, **kw)
        scope.point(conn, caller, *point, "point")
        return isochrones(conn, *point, **kw)

    return ans.geojson(await _run(request, work, "station" if station is not None else "at"), "isochrones")


def _in_scope(caller: Caller, commune: str | None, compute: Callable[[psycopg.Connection], pd.DataFrame]
              ) -> Callable[[psycopg.Connection], tuple[pd.DataFrame, pd.DataFrame, bool]]:
    """The work of a table analysis: the province table, the caller's rows of it (a commune's when asked, which
    must be the caller's), and whether those are the whole table."""

    def work(conn: psycopg.Connection) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
        code = scope.commune(conn, caller, commune) if commune is not None else None
        table = compute(conn)
        rows, whole = _rows_in(conn, caller, table, code)
        return table, _keep(table, rows), whole

    return work


@router.get("/analyses/access", summary="Every village's trip to its own commune's station and to the nearest one",
            response_model=None, responses={200: {"content": ans.ANSWER_CONTENT}})
async def analyses_access(request: Request, caller: Analyst, commune: Annotated[str | None, Commune] = None,
                          f: Annotated[FormatName, Format] = "json",
                          on: Annotated[date | None, Query(description="Stations in service on this day; default "
                                                                       "today")] = None) -> Response:
    settings = _settings(request)

    table, rows, whole = await _run(request, _in_scope(caller, commune, lambda conn: access_table(
        conn, on=on or local_today(), **_travel(settings))))
    summaries: dict[str, Any] = {}
    if f == "json":
        mine = access_summaries(rows)
        summaries = {"communes": ans.summary_rows(mine["commune"]),
                     "selection": None if whole else ans.summary_row(mine["province"]),
                     "province": ans.summary_row(access_summaries(table)["province"])
                     if communes_for(caller, scope.ACTION) is None else None}
    return ans.answer(rows, "access", f, summaries, "access")


@router.get("/analyses/savings", summary="Trip per village before 1 March 2025, from 1 March and from 1 July",
            response_model=None, responses={200: {"content": ans.ANSWER_CONTENT}})
async def analyses_savings(request: Request, caller: Analyst, commune: Annotated[str | None, Commune] = None,
                           f: Annotated[FormatName, Format] = "json") -> Response:
    settings = _settings(request)

    table, rows, whole = await _run(request, _in_scope(caller, commune, lambda conn: savings_table(
        conn, **_travel(settings))))
    summaries: dict[str, Any] = {}
    if f == "json":
        mine = savings_summaries(rows)
        province_wide = communes_for(caller, scope.ACTION) is None
        summaries = {"communes": ans.summary_rows(mine["commune"]),
                     "selection": None if whole else ans.summary_row(mine["province"]),
                     "province": ans.summary_row(savings_summaries(table)["province"]) if province_wide else None,
                     "farther_after_july": farther_after_july(rows),
                     "farther_after_july_province": farther_after_july(table) if province_wide else None}
    return ans.answer(rows, "savings", f, summaries, "savings")


def _moment(value: datetime | None, default: datetime) -> datetime:
    value = value or default
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(TZ))


@router.get("/analyses/responses", summary="Travel time from the commune station to each incident; median, p90",
            response_model=None, responses={200: {"content": ans.ANSWER_CONTENT}})
async def analyses_responses(
        request: Request, caller: Analyst, commune: Annotated[str | None, Commune] = None,
        f: Annotated[FormatName, Format] = "json",
        since: Annotated[datetime | None, Query(description="ISO date-time (Asia/Ho_Chi_Minh when without an "
                                                            "offset); default 2024-01-01")] = None,
        until: Annotated[datetime | None, Query(description="ISO date-time; default now")] = None) -> Response:
    start = _moment(since, datetime(2024, 1, 1))
    end = _moment(until, datetime.now(ZoneInfo(TZ)))
    if start >= end:
        raise bad_parameter(f"since ({start.isoformat()}) must be before until ({end.isoformat()})", "since")
    settings = _settings(request)

    def work(conn: psycopg.Connection):
        code = scope.commune(conn, caller, commune) if commune is not None else None
        table = response_times(conn, since=start, until=end, **_travel(settings))
        rows, _whole = _rows_in(conn, caller, table, code)
        return _keep(table, rows)

    rows = await _run(request, work)
    summaries = {"communes_months": ans.summary_rows(response_summary(rows))} if f == "json" else {}
    return ans.answer(rows, "responses", f, summaries, "responses")
