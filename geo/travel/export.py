"""Writing an analysis frame to CSV or GeoJSON, with its provenance where a reader will see it.

CSV: ``#`` comment lines first (the generated-roads note, the parameters), then the header and rows, no
geometry column (lon/lat are columns). GeoJSON: a FeatureCollection in EPSG:4326 whose top-level
``metadata`` member carries the same (a foreign member, which GeoJSON readers keep or ignore).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

FORMATS = ("csv", "geojson")


def metadata(frame: pd.DataFrame, analysis: str) -> dict[str, object]:
    return {"analysis": analysis, **frame.attrs}


def csv_text(frame: pd.DataFrame, analysis: str) -> str:
    """``frame`` as CSV text: the ``#`` provenance lines, then the header and rows, no geometry column."""
    out = io.StringIO()
    for key, value in metadata(frame, analysis).items():
        if value not in ("", None):
            out.write(f"# {key}: {value}\n")
    pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).to_csv(out, index=False)
    return out.getvalue()


def geojson_doc(frame: pd.DataFrame, analysis: str) -> dict:
    """``frame`` as a GeoJSON FeatureCollection in EPSG:4326 with the provenance in ``metadata``."""
    gdf = frame if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(frame)
    doc = json.loads(gdf.to_crs("EPSG:4326").to_json(na="null", drop_id=True, default=str))
    doc["metadata"] = metadata(frame, analysis)
    return doc


def write(frame: pd.DataFrame, path: Path, fmt: str, analysis: str) -> None:
    """Write ``frame`` to ``path`` as ``fmt`` (csv | geojson), the file appearing only when complete."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    tmp = path.with_name(path.name + ".part")
    if fmt == "csv":
        with tmp.open("w", encoding="utf-8", newline="") as f:
            f.write(csv_text(frame, analysis))
    else:
        tmp.write_text(json.dumps(geojson_doc(frame, analysis), ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
