"""Writing an analysis frame to CSV or GeoJSON, with its provenance where a reader will see it.

CSV: ``#`` comment lines first (the generated-roads note, the parameters), then the header and rows, no
geometry column (lon/lat are columns). GeoJSON: a FeatureCollection in EPSG:4326 whose top-level
``metadata`` member carries the same (a foreign member, which GeoJSON readers keep or ignore).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

FORMATS = ("csv", "geojson")


def metadata(frame: pd.DataFrame, analysis: str) -> dict[str, object]:
    return {"analysis": analysis, **frame.attrs}


def write(frame: pd.DataFrame, path: Path, fmt: str, analysis: str) -> None:
    """Write ``frame`` to ``path`` as ``fmt`` (csv | geojson), the file appearing only when complete."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    meta = metadata(frame, analysis)
    tmp = path.with_name(path.name + ".part")
    if fmt == "csv":
        plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        with tmp.open("w", encoding="utf-8", newline="") as f:
            for key, value in meta.items():
                if value not in ("", None):
                    f.write(f"# {key}: {value}\n")
            plain.to_csv(f, index=False)
    else:
        gdf = frame if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(frame)
        doc = json.loads(gdf.to_crs("EPSG:4326").to_json(na="null", drop_id=True, default=str))
        doc["metadata"] = meta
        tmp.write_text(json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
