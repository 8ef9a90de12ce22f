"""Synthetic but plausible shapes: a Vietnam-shaped outline, provinces as the Voronoi cells of seed points at
their approximate real centroids (clipped to the outline), communes as the Voronoi cells of seeded random
points inside their province (clipped to it). Cells of one tessellation share their edges, so the communes
of a province tile it: no gaps, no overlaps. Lon/lat (EPSG:4326) throughout; a degree is not a metre, but the
shapes are invented anyway and only need to be valid and to tile."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon

# A coarse outline of the mainland (lon, lat), clockwise from the north-west corner by the Chinese border,
# down the coast to Cà Mau and back up along Cambodia and Laos. Invented to the tenth of a degree.
OUTLINE = (
    (102.14, 22.40), (102.60, 22.75), (103.30, 22.80), (104.00, 22.80), (104.80, 23.10), (105.40, 23.30),
    (106.00, 22.95), (106.70, 22.85), (107.30, 22.30), (108.00, 21.55), (107.40, 21.00), (106.80, 20.60),
    (106.20, 19.90), (105.80, 19.10), (106.00, 18.30), (106.60, 17.50), (107.20, 16.80), (108.20, 16.10),
    (108.70, 15.30), (109.10, 14.20), (109.30, 13.00), (109.20, 12.00), (108.90, 11.30), (108.00, 10.70),
    (107.20, 10.40), (106.70, 10.30), (106.40, 9.60), (105.40, 8.60), (104.80, 8.60), (104.90, 9.50),
    (104.80, 10.30), (104.50, 10.40), (105.10, 10.90), (105.90, 11.00), (106.40, 11.70), (107.50, 12.30),
    (107.50, 13.00), (107.50, 14.00), (107.40, 14.80), (107.60, 15.40), (107.20, 15.90), (106.80, 16.40),
    (106.50, 16.60), (105.80, 17.50), (105.20, 18.20), (104.50, 18.80), (103.90, 19.30), (104.10, 19.80),
    (104.20, 20.30), (103.40, 20.80), (102.80, 21.40), (102.10, 22.00),
)

# Approximate centroids (lon, lat) of the 34 provinces of July 2025, by province code.
CENTROIDS: dict[str, tuple[float, float]] = {
    "01": (105.70, 21.00), "04": (106.10, 22.70), "08": (105.10, 22.40), "11": (103.10, 21.70),
    "12": (103.30, 22.30), "14": (104.00, 21.20), "15": (104.30, 22.10), "19": (105.80, 22.00),
    "20": (106.60, 21.80), "22": (107.30, 21.20), "24": (106.40, 21.30), "25": (105.20, 21.10),
    "31": (106.50, 20.85), "33": (106.20, 20.60), "37": (106.00, 20.30), "38": (105.40, 19.90),
    "40": (104.90, 19.20), "42": (105.80, 18.30), "44": (106.50, 17.20), "46": (107.50, 16.35),
    "48": (108.00, 15.60), "51": (108.20, 14.80), "52": (108.40, 13.90), "56": (109.00, 12.00),
    "66": (108.50, 12.90), "68": (108.00, 11.60), "75": (107.00, 11.30), "79": (106.80, 10.80),
    "80": (106.20, 11.00), "82": (105.90, 10.40), "86": (106.20, 10.00), "91": (105.00, 10.30),
    "92": (105.80, 9.70), "96": (105.10, 9.20),
}
GRID = 1e-7  # degrees (~1 cm): vertices snapped so stored shapes are reproducible to the byte


def outline() -> Polygon:
    return Polygon(OUTLINE)


def _cells(points: np.ndarray, clip: shapely.Geometry) -> list[shapely.Geometry]:
    """The Voronoi cell of each point (same order), clipped to ``clip``; every cell is a valid (multi)polygon."""
    box = shapely.box(*clip.bounds).buffer(1.0)
    regions = shapely.voronoi_polygons(MultiPoint(points), extend_to=box)
    cells = list(shapely.get_parts(regions))
    # voronoi_polygons does not promise input order: match each cell to the point it contains.
    tree = shapely.STRtree(cells)
    idx = tree.query(shapely.points(points), predicate="intersects")
    owner = {int(p): int(c) for p, c in zip(idx[0], idx[1], strict=True)}
    out = []
    for i in range(len(points)):
        cell = shapely.intersection(cells[owner[i]], clip, grid_size=GRID)
        out.append(shapely.make_valid(cell) if not cell.is_valid else cell)
    return [_polygonal(c) for c in out]


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Only the areal parts (an intersection can leave a stray line or point on a shared edge)."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
    return shapely.multipolygons(list(shapely.get_parts(parts))) if parts else shapely.multipolygons([])


def provinces(codes: list[str]) -> dict[str, shapely.Geometry]:
    """Province code -> shape: Voronoi of the centroids inside the outline (a seed outside is pulled in)."""
    land = outline()
    inner = land.buffer(-0.05)
    pts = []
    for code in codes:
        p = shapely.Point(CENTROIDS[code])
        if not inner.contains(p):
            p = shapely.ops.nearest_points(inner, p)[0]
        pts.append((p.x, p.y))
    return dict(zip(codes, _cells(np.array(pts), land), strict=True))


def random_points_in(shape: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform points inside ``shape`` (rejection sampling in its bounding box), shape (n, 2)."""
    if n == 0:
        return np.zeros((0, 2))
    shapely.prepare(shape)
    xmin, ymin, xmax, ymax = shape.bounds
    got: list[np.ndarray] = []
    have = 0
    while have < n:
        k = max(64, int((n - have) * 1.3 * (xmax - xmin) * (ymax - ymin) / max(shape.area, 1e-12)))
        xy = np.column_stack([rng.uniform(xmin, xmax, k), rng.uniform(ymin, ymax, k)])
        xy = xy[shapely.contains_xy(shape, xy[:, 0], xy[:, 1])]
        got.append(xy)
        have += len(xy)
    return np.concatenate(got)[:n]


def communes(province: shapely.Geometry, n: int, rng: np.random.Generator) -> list[shapely.Geometry]:
    """``n`` commune shapes tiling ``province``: Voronoi cells of seeded points, one Lloyd step so that cells
    are of comparable size (raw uniform points give slivers next to large cells)."""
    if n == 1:
        return [_polygonal(province)]
    pts = random_points_in(province, n, rng)
    cells = _cells(pts, province)
    moved = np.array([[c.centroid.x, c.centroid.y] if not c.is_empty else p for c, p in zip(cells, pts, strict=True)])
    inside = shapely.contains_xy(province, moved[:, 0], moved[:, 1])
    pts = np.where(inside[:, None], moved, pts)
    # A Lloyd step can bring two seeds together; keep the unrelaxed seed for any duplicate.
    _, first = np.unique(np.round(pts, 9), axis=0, return_index=True)
    if len(first) < n:
        pts = random_points_in(province, n, rng)
    return _cells(pts, province)
