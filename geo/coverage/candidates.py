"""Candidate sites for a new headquarters or permanent post: villages, road junctions, or given points.

Every kind returns the same frame (EPSG:4326): ``candidate_id`` (1..n, the frame's own numbering),
``kind`` (village | node | file), ``label``, ``lon``, ``lat``, ``village_id`` (for villages, else NaN) and
``road_node`` (for junctions, else NaN). A file of proposed plots is read by the importers' readers in
data/ops/site_selection.py (this floor may not import them) and handed here as points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from scipy.spatial import cKDTree

from data import vocab

KINDS = ("villages", "nodes", "file")
COLUMNS = ["candidate_id", "kind", "label", "lon", "lat", "village_id", "road_node"]
# Metres per degree at the province's latitude (about 21.5 N): close enough to thin points kilometres apart.
M_PER_DEG_LAT = 110_700.0
M_PER_DEG_LON = 103_600.0

# A junction: a node where at least three road ends meet, one of them of the classes asked.
NODES_SQL = """
WITH ends AS (
  SELECT source AS node, road_class, ST_StartPoint(geom) AS g FROM road_edge
  UNION ALL SELECT target, road_class, ST_EndPoint(geom) FROM road_edge)
SELECT node, count(*) AS degree, ST_X(min(g)), ST_Y(min(g)),
       string_agg(DISTINCT road_class, ',' ORDER BY road_class)
  FROM ends GROUP BY node
 HAVING count(*) >= %(degree)s AND bool_or(road_class = ANY(%(classes)s))
 ORDER BY count(*) DESC, node
"""


class CandidateError(ValueError):
    """Candidates that cannot be made; the message says why and what to change."""


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.reindex(columns=COLUMNS).reset_index(drop=True)
    out["candidate_id"] = np.arange(1, len(out) + 1)
    return out.astype({"lon": float, "lat": float, "village_id": float, "road_node": float})


def villages(conn: psycopg.Connection) -> pd.DataFrame:
    """Every settlement as a candidate site (the label is the village's name)."""
    rows = conn.execute("SELECT id, name, ST_X(geom), ST_Y(geom) FROM settlement ORDER BY id").fetchall()
    df = pd.DataFrame(rows, columns=["village_id", "label", "lon", "lat"])
    return _frame(df.assign(kind="village"))


def thin(lon: np.ndarray, lat: np.ndarray, spacing_m: float) -> np.ndarray:
    """Indices of points kept, in the given order (earlier ones win), so no two kept points lie closer than
    ``spacing_m``; greedy, with a KD-tree in local metres."""
    if spacing_m <= 0 or len(lon) == 0:
        return np.arange(len(lon))
    xy = np.column_stack([np.asarray(lon, float) * M_PER_DEG_LON, np.asarray(lat, float) * M_PER_DEG_LAT])
    tree = cKDTree(xy)
    dropped = np.zeros(len(xy), bool)
    kept = []
    for i in range(len(xy)):
        if dropped[i]:
            continue
        kept.append(i)
        dropped[tree.query_ball_point(xy[i], spacing_m - 1e-9)] = True
    return np.asarray(kept, dtype=np.int64)


def road_nodes(conn: psycopg.Connection, *, spacing_m: float, classes: Sequence[str] = ("national", "provincial"),
               min_degree: int = 3) -> pd.DataFrame:
    """Road junctions (``min_degree`` road ends or more, at least one of ``classes``), the busiest first,
    thinned so that no two lie closer than ``spacing_m`` metres."""
    known = vocab.codes(vocab.ROAD_CLASSES)
    bad = [c for c in classes if c not in known]
    if bad or not classes:
        raise CandidateError(f"unknown road class {', '.join(bad) or '(none given)'}: use {', '.join(known)}")
    if min_degree < 1:
        raise CandidateError(f"min_degree must be at least 1, not {min_degree}")
    rows = conn.execute(NODES_SQL, {"degree": min_degree, "classes": list(classes)}).fetchall()
    df = pd.DataFrame(rows, columns=["road_node", "degree", "lon", "lat", "classes"])
    df = df.iloc[thin(df["lon"].to_numpy(float), df["lat"].to_numpy(float), spacing_m)]
    df = df.assign(kind="node", label=[f"junction {int(n)} ({c})" for n, c in zip(df["road_node"], df["classes"],
                                                                                   strict=True)])
    return _frame(df)


def points(lon: Sequence[float], lat: Sequence[float], labels: Sequence[str | None] | None = None) -> pd.DataFrame:
    """Proposed plots given as points (EPSG:4326); unlabelled ones are named by their row from 1."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if len(lon_a) != len(lat_a):
        raise CandidateError("as many longitudes as latitudes are needed")
    if not len(lon_a):
        raise CandidateError("no proposed plots: give at least one point")
    if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
        raise CandidateError("every proposed plot needs a finite lon and lat")
    names = list(labels) if labels is not None else [None] * len(lon_a)
    df = pd.DataFrame({"lon": lon_a, "lat": lat_a, "kind": "file",
                       "label": [n if n else f"plot {i + 1}" for i, n in enumerate(names)]})
    return _frame(df)
