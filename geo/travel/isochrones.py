"""Isochrones: the area reachable by road within 15, 30, 60 minutes (or any list) from a station or a point.

The origin (EPSG:4326 lon/lat) is snapped onto its nearest open edge as a virtual vertex (-1), after walking
to it; one pgr_drivingDistance over the forward graph (a patrol leaves the station) gives the time to every
node within the largest limit. Along each reached edge the time is interpolated from its ends in the open
directions, so an edge counts as far as the time left allows, not only at nodes.

The polygon is the set of ``cell_m`` grid cells (UTM 48N, EPSG:32648) within about ``buffer_m`` of a road
point reached in time: the points of the reached roads, sampled every half cell, give each cell its earliest
time; a cell is in the ``T``-minute area when a cell within ``buffer_m`` was reached by ``T``. Why this
shape:
- a concave hull of the reached nodes claims the empty slopes and valleys between two reached roads, which
  no vehicle reaches, and its outline depends on a tuning ratio;
- an exact buffer of the reached lines says the same as the grid but costs about 2 s for one station's hour
  on the demo (GEOS unions thousands of overlapping buffers), ten times the 300 ms budget;
- the grid's cells never overlap, so they are joined by a coverage union in milliseconds; the outline is a
  staircase of ``cell_m`` steps, which is the precision the areas are given at.
Polygons are nested (15 inside 30 inside 60) since the same times are cut at each limit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from pyproj import Transformer
from scipy.ndimage import binary_dilation

from geo.travel.network import (
    Closures,
    TooFarFromRoad,
    closures_attrs,
    edges_sql,
    provenance,
    require_roads,
    road_edges_sql,
    snap,
    values_sql,
    virtual_pieces,
    walk_seconds,
)
from geo.travel.routes import ORIGIN

METRIC_CRS = "EPSG:32648"
_TO_WGS84 = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

# ``{edges}``: road_edge with the closed edges' costs -1 (network.road_edges_sql), so a closed edge is not
# counted as driven from its reached ends.
_REACHED_SQL = """
WITH dd AS (SELECT node, agg_cost + %(walk_s)s AS t
              FROM pgr_drivingDistance(%(edges)s, %(origin)s::bigint, %(budget)s, true) WHERE node >= 0)
SELECT r.id, r.cost_s, r.reverse_cost_s, r.length_m, ds.t, dt.t, ST_AsBinary(ST_Transform(r.geom, 32648))
  FROM ({edges}) r LEFT JOIN dd ds ON ds.node = r.source LEFT JOIN dd dt ON dt.node = r.target
 WHERE ds.node IS NOT NULL OR dt.node IS NOT NULL OR r.id = %(edge)s
"""


def reached_sql(closures: Closures | None = None) -> str:
    return _REACHED_SQL.format(edges=road_edges_sql(closures))


REACHED_SQL = reached_sql()


def _times_along(fr: np.ndarray, cost: np.ndarray, rev: np.ndarray, t_s: np.ndarray, t_t: np.ndarray
                 ) -> np.ndarray:
    """Seconds to reach fraction ``fr`` of an edge from its source (along, ``cost``) or its target (against,
    ``rev``), whichever is earlier; inf where neither end is reached or the direction is closed."""
    from_source = np.where((cost >= 0) & np.isfinite(t_s), t_s + fr * np.maximum(cost, 0), np.inf)
    from_target = np.where((rev >= 0) & np.isfinite(t_t), t_t + (1 - fr) * np.maximum(rev, 0), np.inf)
    return np.minimum(from_source, from_target)


def _fractions(pts: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Position (0..1 of its length) of each vertex along its line, for vertices grouped by line in order."""
    step = np.hypot(*np.diff(pts, axis=0).T)
    step = np.concatenate([[0.0], np.where(which[1:] == which[:-1], step, 0.0)])
    run = np.cumsum(step)
    first = np.concatenate([[True], which[1:] != which[:-1]])
    start = np.maximum.accumulate(np.where(first, np.arange(len(which)), 0))
    along = run - run[start]
    total = np.zeros(which.max() + 1 if len(which) else 0)
    np.maximum.at(total, which, along)
    return np.where(total[which] > 0, along / np.where(total[which] > 0, total[which], 1), 0.0)


def _covered_share(lim: float, cost, rev, t_s, t_t) -> np.ndarray:
    """Share of each edge driven within ``lim`` seconds from its ends (the two reaches may overlap)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where((cost >= 0) & (t_s <= lim), np.where(cost > 0, (lim - t_s) / cost, 1.0), 0.0)
        b = np.where((rev >= 0) & (t_t <= lim), np.where(rev > 0, (lim - t_t) / rev, 1.0), 0.0)
    return np.minimum(np.clip(a, 0, 1) + np.clip(b, 0, 1), 1.0)


def _no_pinches(mask: np.ndarray) -> np.ndarray:
    """Fill every 2x2 block whose cells touch only diagonally: two cells (or two holes) meeting at a corner
    would pinch a ring into an invalid polygon. Growing the area by those cells is the cheaper repair."""
    m = np.pad(mask, 1)
    while True:
        a, b, c, d = m[:-1, :-1], m[:-1, 1:], m[1:, :-1], m[1:, 1:]
        pinch = (a & d & ~b & ~c) | (b & c & ~a & ~d)
        if not pinch.any():
            return m[1:-1, 1:-1]
        iy, ix = np.nonzero(pinch)
        m[iy, ix] = m[iy, ix + 1] = m[iy + 1, ix] = m[iy + 1, ix + 1] = True


def _cells_to_polygon(mask: np.ndarray, x0: float, y0: float, cell_m: float):
    """The cells of ``mask`` (rows = y) as (MultiPolygon in EPSG:4326, its area in km² in UTM 48N).

    The cells are boxes sharing whole edges, a valid coverage, which GEOS joins far faster than a union.
    The area is taken in UTM (scale error under 0.1 % across the province) before reprojecting.
    """
    iy, ix = np.nonzero(_no_pinches(mask))
    if not len(ix):
        return shapely.MultiPolygon(), 0.0
    boxes = shapely.box(x0 + ix * cell_m, y0 + iy * cell_m, x0 + (ix + 1) * cell_m, y0 + (iy + 1) * cell_m)
    merged = shapely.coverage_union_all(boxes)
    km2 = merged.area / 1e6
    merged = shapely.transform(merged, lambda xy: np.column_stack(_TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    polys = [g for g in getattr(merged, "geoms", [merged]) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.MultiPolygon([p for g in polys for p in getattr(g, "geoms", [g])]), km2


def isochrones(conn: psycopg.Connection, lon: float, lat: float, *, minutes: tuple[float, ...], max_snap_m: float,
               walk_kmh: float, buffer_m: float = 200.0, cell_m: float = 100.0,
               closures: Closures | None = None) -> gpd.GeoDataFrame:
    """Areas reachable from (``lon``, ``lat``) within each of ``minutes`` (EPSG:4326 MultiPolygons).

    Rows: ``minutes``, ``reached_edges`` (edges driven at least in part), ``reached_road_km`` (road length
    driven, from ``road_edge.length_m``), ``area_km2`` (area of the polygon), geometry (empty when
    nothing is reached). Raises ``TooFarFromRoad`` for an origin farther than ``max_snap_m`` metres from
    every open road, ``ValueError`` for limits that are not positive. Roads closed by ``closures`` (default:
    the closures in force now) are neither snapped to nor driven.
    """
    if not minutes or min(minutes) <= 0 or buffer_m < 0 or cell_m <= 0:
        raise ValueError(f"minutes must be positive limits (not {minutes!r}), buffer_m >= 0, cell_m > 0")
    require_roads(conn)
    closures = closures or Closures(at=datetime.now(UTC))
    s = snap(conn, [1], [lon], [lat], closures).iloc[0]
    if s.isna()["edge_id"] or s["snap_m"] > max_snap_m:
        raise TooFarFromRoad("origin", lon, lat, None if s.isna()["edge_id"] else float(s["snap_m"]), max_snap_m)
    walk_s = float(walk_seconds(s["snap_m"], walk_kmh))
    limits = sorted(float(m) * 60 for m in minutes)
    base = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM road_edge").fetchone()[0])
    rows = conn.execute(reached_sql(closures), {
        "edges": edges_sql(closures) + values_sql(virtual_pieces(s.to_dict(), ORIGIN, base)), "origin": ORIGIN,
        "budget": max(limits[-1] - walk_s, 0.0), "walk_s": walk_s, "edge": int(s["edge_id"])}).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    cost, rev, length = (np.array([r[k] for r in rows], dtype=float) for k in (1, 2, 3))
    t_s, t_t = (np.array([np.inf if r[k] is None else r[k] for r in rows], dtype=float) for k in (4, 5))
    lines = shapely.from_wkb([bytes(r[6]) for r in rows])

    # Road points every half cell, each with the earliest time it is reached.
    pts, which = shapely.get_coordinates(shapely.segmentize(lines, cell_m / 2), return_index=True)
    fr = _fractions(pts, which)
    t = _times_along(fr, cost[which], rev[which], t_s[which], t_t[which])
    # On the origin's own edge the trip also starts in the middle, at fraction f0.
    own = ids == int(s["edge_id"])
    f0 = float(s["fraction"])
    on_own = own[which]
    ahead = fr[on_own] >= f0
    c_own, r_own = float(s["cost_s"]), float(s["reverse_cost_s"])
    direct = np.where(ahead, np.where(c_own >= 0, (fr[on_own] - f0) * c_own, np.inf),
                      np.where(r_own >= 0, (f0 - fr[on_own]) * r_own, np.inf))
    t[on_own] = np.minimum(t[on_own], walk_s + direct)

    records = []
    reach = np.isfinite(t) & (t <= limits[-1])
    if reach.any():
        xy, tt = pts[reach], t[reach]
        x0, y0 = xy.min(axis=0) - buffer_m - cell_m
        ix, iy = ((xy - (x0, y0)) // cell_m).astype(int).T
        grid = np.full((iy.max() + int(buffer_m // cell_m) + 3, ix.max() + int(buffer_m // cell_m) + 3), np.inf)
        np.minimum.at(grid, (iy, ix), tt)
        r = int(round(buffer_m / cell_m))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        disk = xx ** 2 + yy ** 2 <= r * r + 0.5
    for lim in limits:
        share = _covered_share(lim, cost, rev, t_s, t_t)
        if own.any():
            k = np.flatnonzero(own)[0]
            left = max(lim - walk_s, 0.0)
            fwd = min(left / c_own, 1 - f0) if c_own > 0 else (1 - f0 if c_own == 0 else 0.0)
            back = min(left / r_own, f0) if r_own > 0 else (f0 if r_own == 0 else 0.0)
            share[k] = min(max(share[k], fwd + back), 1.0) if lim >= walk_s else share[k]
        geom, km2 = shapely.MultiPolygon(), 0.0
        if reach.any():
            mask = grid <= lim
            geom, km2 = _cells_to_polygon(binary_dilation(mask, structure=disk) if r > 0 else mask, x0, y0, cell_m)
        records.append({"minutes": lim / 60, "reached_edges": int((share > 0).sum()),
                        "reached_road_km": float((share * length).sum() / 1000), "area_km2": km2, "geometry": geom})
    gdf = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    gdf.attrs.update(provenance(conn), origin=[lon, lat], snap_m=float(s["snap_m"]), walk_s=walk_s,
                     buffer_m=buffer_m, cell_m=cell_m, **closures_attrs(conn, closures))
    return gdf


def station_isochrones(conn: psycopg.Connection, station_id: int, **kwargs) -> gpd.GeoDataFrame:
    """``isochrones`` from a station's position; raises LookupError for an unknown station id."""
    row = conn.execute("SELECT ST_X(geom), ST_Y(geom), code FROM station WHERE id = %s", [station_id]).fetchone()
    if row is None:
        raise LookupError(f"there is no station with id {station_id}")
    gdf = isochrones(conn, row[0], row[1], **kwargs)
    gdf.insert(0, "station_code", row[2])
    gdf.insert(0, "station_id", station_id)
    return gdf
