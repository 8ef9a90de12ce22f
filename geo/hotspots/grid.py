"""A hexagonal grid in a metric CRS: which cell a point falls in, the cells covering an area, their outlines.

Cells are pointy-topped hexagons whose width ``width_m`` (flat side to flat side) is also the distance between
the centres of two neighbouring cells, so a distance band of 1.0-1.7 widths holds exactly the six around a cell.
Axial coordinates (q, r): centre x = width * (q + r / 2), y = width * sqrt(3) / 2 * r, in the CRS's metres.
A cell's id, ``H{q}_{r}``, is stable for a given width and CRS (both are stored with a run).
"""

from __future__ import annotations

import numpy as np
from shapely import Polygon, polygons

SQRT3 = float(np.sqrt(3.0))


def cell_ids(q: np.ndarray, r: np.ndarray) -> list[str]:
    return [f"H{a}_{b}" for a, b in zip(q.tolist(), r.tolist(), strict=True)]


def cell_of(x: np.ndarray, y: np.ndarray, width_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial (q, r) of the cell holding each point (x, y in metres), by cube rounding."""
    rf = np.asarray(y, dtype=float) / (width_m * SQRT3 / 2)
    qf = np.asarray(x, dtype=float) / width_m - rf / 2
    sf = -qf - rf
    q, r, s = np.rint(qf), np.rint(rf), np.rint(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def centres(q: np.ndarray, r: np.ndarray, width_m: float) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.asarray(q, dtype=float), np.asarray(r, dtype=float)
    return width_m * (q + r / 2), width_m * SQRT3 / 2 * r


def cells_in_box(xmin: float, ymin: float, xmax: float, ymax: float, width_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Every cell whose hexagon meets the box (a superset: callers keep those meeting their area)."""
    rmin = int(np.floor(ymin / (width_m * SQRT3 / 2))) - 1
    rmax = int(np.ceil(ymax / (width_m * SQRT3 / 2))) + 1
    rs = np.arange(rmin, rmax + 1)
    qs_lo = np.floor(xmin / width_m - rs / 2).astype(np.int64) - 1
    qs_hi = np.ceil(xmax / width_m - rs / 2).astype(np.int64) + 1
    q = np.concatenate([np.arange(lo, hi + 1) for lo, hi in zip(qs_lo, qs_hi, strict=True)])
    r = np.concatenate([np.full(hi - lo + 1, rr) for rr, lo, hi in zip(rs, qs_lo, qs_hi, strict=True)])
    return q, r


def outlines(q: np.ndarray, r: np.ndarray, width_m: float) -> np.ndarray:
    """The hexagons of cells (q, r) as shapely Polygons, in the grid's CRS."""
    cx, cy = centres(q, r, width_m)
    radius = width_m / SQRT3
    angles = np.deg2rad(30 + 60 * np.arange(6))
    # Rounded to the millimetre so that neighbours share their corners exactly (contiguity, dissolving).
    xs = np.round(cx[:, None] + radius * np.cos(angles)[None, :], 3)
    ys = np.round(cy[:, None] + radius * np.sin(angles)[None, :], 3)
    ring = np.stack([xs, ys], axis=-1)
    ring = np.concatenate([ring, ring[:, :1, :]], axis=1)
    return polygons(ring)


def hexagon(q: int, r: int, width_m: float) -> Polygon:
    return outlines(np.array([q]), np.array([r]), width_m)[0]
