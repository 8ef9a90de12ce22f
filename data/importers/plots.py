"""Proposed plots for site selection (``sitmap analyze sites --candidates FILE``): points read from a GeoJSON,
CSV (lon,lat columns) or any other file the importers' readers take, labelled by a ``name`` column if any."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.importers.reading import FileRejected, read_source
from data.importers.report import ImportReport


class PlotsRejected(ValueError):
    """The file cannot give proposed plots; the message says why (and which row)."""


def read_plots(path: Path) -> pd.DataFrame:
    """Proposed plots from a GeoJSON, CSV (lon,lat columns) or any file the importers read: points only,
    labelled by a ``name`` (or ``label``/``ten``) column when there is one. Refusals name the row."""
    report = ImportReport("proposed plots", path, "2025")
    try:
        src = read_source(path, report)
    except FileRejected:
        raise PlotsRejected("the proposed plots cannot be read: "
                            + "; ".join(r.reason for r in report.rejections[:3])) from None
    frame = src.frame
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    bad = [int(i) for i, g in frame.geometry.items() if g is None or g.is_empty or g.geom_type != "Point"]
    if bad:
        raise PlotsRejected(f"proposed plots must be points (lon, lat); row {bad[0]} is not")
    name = next((c for c in ("name", "label", "ten", "tên") if c in frame.columns), None)
    return pd.DataFrame({"lon": frame.geometry.x.to_numpy(float), "lat": frame.geometry.y.to_numpy(float),
                         "label": frame[name].to_numpy(object) if name else None})
