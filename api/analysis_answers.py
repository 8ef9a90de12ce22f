"""What the travel routes (api/routers/travel.py) read and answer: their query parameters checked into
values (400 naming the parameter), geo/travel's refusals as problems, and analysis frames as JSON, CSV or
GeoJSON that each say whether the roads and speeds are generated.

- ``TooFarFromRoad`` -> 422 with ``distance_m`` and ``max_snap_m`` (the point is understood; no road is near);
- ``Unreachable`` -> 422 with ``reason`` (``one_way`` or ``disconnected``), never a made-up figure;
- ``NoRoads`` -> 409 (the stored state: no road graph was imported).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from fastapi.responses import JSONResponse, Response

from api.problems import Problem
from data.ops.errors import bad_parameter
from data.settings import Settings
from geo.travel import export
from geo.travel.network import NoRoads, TooFarFromRoad, TravelError
from geo.travel.routes import Unreachable

GEOJSON = "application/geo+json"
CSV = "text/csv; charset=utf-8"
# The media types of the analysis answers, for the OpenAPI document (the schemathesis run checks them).
ANSWER_CONTENT = {"application/json": {"schema": {"type": "object"}},
                  "text/csv": {"schema": {"type": "string"}},
                  GEOJSON: {"schema": {"type": "object"}}}
GEOJSON_CONTENT = {GEOJSON: {"schema": {"type": "object"}}}


def lonlat(text: str, parameter: str) -> tuple[float, float]:
    """``lon,lat`` in degrees (EPSG:4326)."""
    parts = text.split(",")
    try:
        lon, lat = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        lon = lat = math.nan
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise bad_parameter(f"{parameter} must be 'lon,lat' in degrees, two numbers such as 103.02,21.38; not "
                            f"{text[:60]!r}", parameter)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise bad_parameter(f"{parameter}={text[:60]!r} is not on the earth: lon must be in -180..180 and lat in "
                            "-90..90 (lon first)", parameter)
    return lon, lat


def minutes(text: str | None, settings: Settings) -> tuple[float, ...]:
    """Isochrone limits, comma-separated minutes in (0, max], at most max_bands of them; default the settings'."""
    if text is None:
        return tuple(settings.travel_isochrone_minutes)
    top, bands = settings.travel_isochrone_max_minutes, settings.travel_isochrone_max_bands
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise bad_parameter(f"minutes must be numbers separated by commas, such as 15,30,60; not {text[:60]!r}",
                            "minutes")
    if not all(0 < v <= top for v in values):
        raise bad_parameter(f"each limit in minutes must be above 0 and at most {top:g}; got {text[:60]!r}",
                            "minutes", maximum=top)
    distinct = sorted(set(values))
    if len(distinct) > bands:
        raise bad_parameter(f"at most {bands} limits at once; got {len(distinct)}", "minutes", max_bands=bands)
    return tuple(distinct)


def travel_problem(exc: TravelError, parameter: str) -> Problem:
    """geo/travel's refusal as the problem to answer (``parameter``: which point, when it is about one)."""
    if isinstance(exc, TooFarFromRoad):
        param = {"origin": parameter.split("|")[0], "destination": parameter.split("|")[-1]}.get(exc.label,
                                                                                                parameter)
        return Problem(422, "Too far from a road", str(exc), type_="too-far-from-road", parameter=param,
                       distance_m=None if exc.distance_m is None else round(exc.distance_m, 1),
                       max_snap_m=exc.max_m)
    if isinstance(exc, Unreachable):
        return Problem(422, "Unreachable", str(exc), type_="unreachable", reason=exc.reason)
    if isinstance(exc, NoRoads):
        return Problem(409, "No road graph", str(exc), type_="no-roads")
    return Problem(400, "Invalid query parameter", str(exc), type_="invalid-parameter")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows without geometry as plain JSON values (NaN -> null, times ISO 8601)."""
    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return json.loads(plain.to_json(orient="records", date_format="iso", force_ascii=False))


def provenance(frame: pd.DataFrame, analysis: str) -> dict[str, Any]:
    meta = json.loads(json.dumps(export.metadata(frame, analysis), default=str))
    return {"roads_generated": bool(frame.attrs.get("roads_generated")), "note": frame.attrs.get("note", ""),
            "metadata": meta}


def geojson(frame: pd.DataFrame, analysis: str, **extra: Any) -> JSONResponse:
    doc = export.geojson_doc(frame, analysis)
    doc["metadata"] = json.loads(json.dumps(doc["metadata"], default=str))
    doc.update(roads_generated=bool(frame.attrs.get("roads_generated")), note=frame.attrs.get("note", ""), **extra)
    return JSONResponse(doc, media_type=GEOJSON)


def answer(frame: pd.DataFrame, analysis: str, f: str, summaries: dict[str, Any], filename: str) -> Response:
    """The rows as ``f``: JSON (rows and ``summaries``), CSV (``#`` provenance lines) or GeoJSON (``metadata``)."""
    if f == "csv":
        return Response(export.csv_text(frame, analysis), media_type=CSV,
                        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
    if f == "geojson":
        return geojson(frame, analysis)
    return JSONResponse({"analysis": analysis, **provenance(frame, analysis), "count": len(frame),
                         "rows": records(frame), "summaries": summaries})


def summary_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return records(frame)


def summary_row(frame: pd.DataFrame) -> dict[str, Any] | None:
    rows = records(frame)
    return rows[0] if rows else None
