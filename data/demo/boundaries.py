"""Boundaries: clean the real 2025 polygons into a tiling of the province, and generate the earlier units.

All geometry here is in the local metric frame (``data.demo.frame``). Nothing here knows a province: the
inputs are polygons, codes and the lineage table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, cKDTree

# ---------------------------------------------------------------------------------------------------
# Cleaning the real polygons


@dataclass
class CleaningReport:
    raw_area_km2: float = 0.0
    province_area_km2: float = 0.0
    overlap_km2: float = 0.0          # area claimed by two or more raw units
    gap_km2: float = 0.0              # area of the province claimed by no raw unit
    outside_km2: float = 0.0          # raw unit area outside the province outline
    filled_pieces: int = 0            # pieces of gap split among or given to neighbours
    reassigned_parts: int = 0         # stray parts of a unit given to the neighbour they touch most
    moved_km2: float = 0.0            # half the total symmetric difference between raw and cleaned units
    max_change_pct: float = 0.0       # largest relative area change of one unit
    max_change_code: str = ""

    def lines(self) -> list[str]:
        return [
            f"2025 units cleaned into a tiling of the province ({self.province_area_km2:,.1f} km²): "
            f"overlaps {self.overlap_km2:.2f} km², gaps {self.gap_km2:.2f} km², outside the outline "
            f"{self.outside_km2:.2f} km²; {self.filled_pieces} gap pieces filled from their neighbours, "
            f"{self.reassigned_parts} stray parts reassigned; {self.moved_km2:.2f} km² moved in all; largest "
            f"change {self.max_change_pct:.3f} % of a unit's area ({self.max_change_code})",
        ]


def _parts(geom: shapely.Geometry) -> list[shapely.Geometry]:
    return [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]


def split_to_nearest(piece: shapely.Geometry, geoms: list, candidates: list[int],
                     spacing: float = 20.0) -> dict[int, shapely.Geometry]:
    """Split ``piece`` among the candidate polygons that touch it, each taking what lies nearest to it."""
    touching = [j for j in candidates if geoms[j].distance(piece) < 1.0]
    if not touching:
        return {}
    if len(touching) == 1:
        return {touching[0]: piece}
    zone = piece.buffer(max(spacing * 3, 60.0))
    coords, labels = [], []
    for j in touching:
        edge = shapely.segmentize(shapely.intersection(geoms[j].boundary, zone), spacing)
        xy = shapely.get_coordinates(edge)
        coords.append(xy)
        labels.append(np.full(len(xy), j))
    xy = np.vstack(coords)
    lab = np.concatenate(labels)
    xy, first = np.unique(xy, axis=0, return_index=True)
    lab = lab[first]
    if len(np.unique(lab)) < 2:
        return {int(lab[0]): piece}
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=zone, ordered=True))
    out = {}
    for j in np.unique(lab):
        share = shapely.intersection(shapely.union_all(cells[lab == j]), piece)
        if share.area > 0:
            out[int(j)] = share
    return out


def consolidate(geoms: list, keep: list | None = None, group: list | None = None,
                max_rounds: int = 6) -> tuple[list, int]:
    """Make each geometry one polygon: stray parts go to the neighbour sharing the longest border
    (a neighbour of the same ``group`` first). ``keep[i]``, a point, marks the part that must stay."""
    moved = 0
    tree = shapely.STRtree(geoms)
    for _ in range(max_rounds):
        changed = False
        for i in range(len(geoms)):
            parts = _parts(geoms[i])
            if len(parts) <= 1:
                continue
            main = None
            if keep is not None and keep[i] is not None:
                main = next((p for p in parts if p.covers(keep[i])), None)
            if main is None:
                main = max(parts, key=lambda p: p.area)
            kept = [main]
            for part in parts:
                if part is main:
                    continue
                ring = part.buffer(1.0)
                near = [int(j) for j in tree.query(ring) if j != i]
                scores = []
                for j in near:
                    shared = ring.intersection(geoms[j]).area
                    if shared > 0:
                        same = group is None or group[j] == group[i]
                        scores.append((same, shared, -j, j))
                if not scores:
                    kept.append(part)
                    continue
                j = max(scores)[3]
                geoms[j] = shapely.union(geoms[j], part)
                moved += 1
                changed = True
            geoms[i] = shapely.union_all(kept) if len(kept) > 1 else main
        if not changed:
            break
        tree = shapely.STRtree(geoms)
    return geoms, moved


def clean_units(raw: list, province: shapely.Geometry, gap_width_m: float) -> tuple[list, CleaningReport]:
    """Clean polygons simplified one by one (slivers between neighbours, gaps and overhangs against the
    outline) into polygons that tile ``province`` while keeping their shapes."""
    rep = CleaningReport()
    raw = list(raw)
    union = shapely.union_all(raw)
    rep.raw_area_km2 = sum(g.area for g in raw) / 1e6
    rep.province_area_km2 = province.area / 1e6
    rep.overlap_km2 = (sum(g.area for g in raw) - union.area) / 1e6
    rep.gap_km2 = province.difference(union).area / 1e6
    rep.outside_km2 = union.difference(province).area / 1e6

    # GEOS coverage cleaning: snaps edges together, merges overlaps into the neighbour with the longest
    # shared border, fills the narrow gaps between neighbours.
    geoms = list(shapely.coverage_clean(np.array(raw, dtype=object), gap_width=gap_width_m))
    geoms = [shapely.intersection(g, province) for g in geoms]
    rest = province.difference(shapely.union_all(geoms))
    tree = shapely.STRtree(geoms)
    for piece in _parts(rest):
        candidates = [int(j) for j in tree.query(piece.buffer(1.0))]
        for j, share in split_to_nearest(piece, geoms, candidates).items():
            geoms[j] = shapely.union(geoms[j], share)
        rep.filled_pieces += 1
    geoms, rep.reassigned_parts = consolidate(geoms)
    geoms = [shapely.make_valid(g) if not g.is_valid else g for g in geoms]
    moved = sum(shapely.symmetric_difference(a, b).area for a, b in zip(raw, geoms, strict=True))
    rep.moved_km2 = moved / 2 / 1e6
    return geoms, rep


def finish_report(rep: CleaningReport, raw: list, cleaned: list, codes: list[str]) -> None:
    change = [abs(c.area / r.area - 1) * 100 for r, c in zip(raw, cleaned, strict=True)]
    i = int(np.argmax(change))
    rep.max_change_pct, rep.max_change_code = change[i], codes[i]


# ---------------------------------------------------------------------------------------------------
# Generating the earlier units


@dataclass
class OldUnit:
    code: str
    name: str
    district: str
    new_code: str
    geom: shapely.Geometry | None = None
    seed_xy: np.ndarray | None = None
    seed_from: str = ""               # 'geonames:<id>' or 'generated'


@dataclass
class Subdivision:
    units: list[OldUnit]
    districts: dict[str, shapely.Geometry]
    grid: dict[str, np.ndarray] = field(default_factory=dict)   # jittered interior points per 2025 unit
    notes: list[str] = field(default_factory=list)


def jittered_grid(poly: shapely.Geometry, spacing: float, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = poly.bounds
    xs = np.arange(x0 + spacing / 2, x1, spacing)
    ys = np.arange(y0 + spacing / 2, y1, spacing)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    pts += rng.uniform(-0.38, 0.38, pts.shape) * spacing
    inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
    return pts[inside]


def _edges(pts: np.ndarray) -> np.ndarray:
    tri = Delaunay(pts)
    s = tri.simplices
    e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


class Noise:
    """A smooth random field (sum of plane waves), one per seed: makes generated boundaries wander."""

    def __init__(self, rng: np.random.Generator, wavelengths: tuple[float, ...], n: int) -> None:
        m = len(wavelengths) * 3
        angle = rng.uniform(0, np.pi, (n, m))
        k = 2 * np.pi / np.repeat(np.array(wavelengths), 3) * rng.uniform(0.8, 1.25, (n, m))
        self.kx, self.ky = k * np.cos(angle), k * np.sin(angle)
        self.phase = rng.uniform(0, 2 * np.pi, (n, m))
        self.norm = np.sqrt(m / 2)

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        """(points, seeds) values, roughly unit variance."""
        ph = pts[:, None, 0:1] * self.kx[None] + pts[:, None, 1:2] * self.ky[None] + self.phase[None]
        return np.cos(ph).sum(axis=2) / self.norm


def _fix_connectivity(labels: np.ndarray, edges: np.ndarray, anchors: dict[int, int]) -> np.ndarray:
    """Each label keeps only the connected component holding its anchor point; the rest is flooded
    from neighbouring labels."""
    labels = labels.copy()
    n = len(labels)
    same = labels[edges[:, 0]] == labels[edges[:, 1]]
    e = edges[same]
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    keep_comp = {lab: comp[a] for lab, a in anchors.items()}
    for lab in np.unique(labels):
        if lab in keep_comp:
            labels[(labels == lab) & (comp != keep_comp[lab])] = -1
    # Flood the orphans from their labelled neighbours (multi-source, deterministic order).
    for _ in range(n):
        orphan = labels < 0
        if not orphan.any():
            break
        a, b = edges[:, 0], edges[:, 1]
        fill_a = orphan[a] & ~orphan[b]
        fill_b = orphan[b] & ~orphan[a]
        if not (fill_a.any() or fill_b.any()):
            break
        new = labels.copy()
        new[a[fill_a]] = labels[b[fill_a]]
        new[b[fill_b]] = labels[a[fill_b]]
        labels = new
    return labels


def _assign(pts: np.ndarray, seeds: np.ndarray, weights: np.ndarray, noise: Noise, amp: float) -> np.ndarray:
    d = np.hypot(pts[:, None, 0] - seeds[None, :, 0], pts[:, None, 1] - seeds[None, :, 1])
    return np.argmin(d * weights[None] + amp * noise(pts), axis=1)


def _spread_seeds(pts: np.ndarray, fixed: list[int], count: int, rng: np.random.Generator,
                  avoid: np.ndarray | None = None) -> list[int]:
    """Add seeds among ``pts`` far from the seeds so far (and from ``avoid``, e.g. the region edge)."""
    chosen = list(fixed)
    base = np.full(len(pts), np.inf) if avoid is None else avoid.copy()
    tree_d = base.copy()
    for c in chosen:
        tree_d = np.minimum(tree_d, np.hypot(*(pts - pts[c]).T))
    while len(chosen) < count:
        top = np.argsort(-tree_d, kind="stable")[:5]
        c = int(rng.choice(top))
        chosen.append(c)
        tree_d = np.minimum(tree_d, np.hypot(*(pts - pts[c]).T))
    return chosen


def subdivide(units2025: dict[str, shapely.Geometry], lineage: list[dict], place_xy: np.ndarray,
              place_keys: list[str], place_ids: list[int], rng: np.random.Generator, *, spacing_m: float,
              noise_wavelengths_m: tuple[float, ...], noise_share: float, name_key) -> Subdivision:
    """Generate the earlier units inside the 2025 units the lineage names: each one polygon, together
    tiling its 2025 unit, each district one contiguous polygon."""
    codes = list(units2025)
    old = [OldUnit(r["old_code"], r["old_name"], r["old_district_code"], r["new_code"]) for r in lineage]
    by_new: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(old):
        by_new[u.new_code].append(i)
    districts_of = {c: sorted({old[i].district for i in by_new[c]}) for c in codes}
    pure_territory: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for c in codes:
        if len(districts_of[c]) == 1:
            pure_territory[districts_of[c][0]].append(units2025[c])
    territory = {d: shapely.union_all(g) for d, g in sorted(pure_territory.items())}
    place_tree = cKDTree(place_xy) if len(place_xy) else None
    sub = Subdivision(units=old, districts={})

    for c in codes:
        poly = units2025[c]
        pts = jittered_grid(poly, spacing_m, rng)
        if len(pts) < 8 * len(by_new[c]):
            pts = jittered_grid(poly, spacing_m / 3, rng)
        sub.grid[c] = pts
        edges = _edges(pts)
        members = by_new[c]
        dists = districts_of[c]
        # 1. Which district each point belongs to (only where a 2025 unit holds two districts).
        dlab = np.zeros(len(pts), dtype=int)
        if len(dists) > 1:
            dlab = _district_split(pts, edges, poly, dists, members, old, territory, rng, noise_wavelengths_m,
                                   place_xy, place_keys, name_key)
        # 2. The earlier units inside each district's part.
        labels = np.full(len(pts), -1)
        anchors: dict[int, int] = {}
        for di, d in enumerate(dists):
            region = np.flatnonzero(dlab == di)
            units_d = [i for i in members if old[i].district == d]
            fixed, fixed_units = [], []
            for i in units_d:
                key = name_key(old[i].name)
                hits = [k for k, pk in enumerate(place_keys) if pk == key] if place_tree is not None else []
                for k in hits:
                    near = region[np.argmin(np.hypot(*(pts[region] - place_xy[k]).T))] if len(region) else None
                    if near is not None and np.hypot(*(pts[near] - place_xy[k])) < spacing_m and near not in fixed:
                        fixed.append(int(near))
                        fixed_units.append(i)
                        old[i].seed_from = f"geonames:{place_ids[k]}"
                        break
            edge_d = np.asarray(shapely.distance(poly.boundary, shapely.points(pts[region])))
            local = [int(np.flatnonzero(region == f)[0]) for f in fixed]
            chosen = _spread_seeds(pts[region], local, len(units_d), rng, avoid=edge_d * 1.5)
            free_units = [i for i in units_d if i not in fixed_units]
            order = fixed_units + free_units
            seeds_local = np.array(chosen)
            area = len(region) * spacing_m ** 2 / max(len(units_d), 1)
            amp = noise_share * np.sqrt(area / np.pi)
            noise = Noise(rng, noise_wavelengths_m, len(units_d))
            weights = rng.uniform(0.85, 1.2, len(units_d))
            lab = _assign(pts[region], pts[region][seeds_local], weights, noise, amp)
            lab[seeds_local] = np.arange(len(units_d))
            for j, i in enumerate(order):
                labels[region[lab == j]] = i
                anchors[i] = int(region[seeds_local[j]])
                old[i].seed_xy = pts[region[seeds_local[j]]]
                if not old[i].seed_from:
                    old[i].seed_from = "generated"
        labels = _fix_connectivity(labels, edges, anchors)
        # 3. Polygons: Voronoi cells of the points, dissolved per unit, clipped to the 2025 unit.
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts),
                                                           extend_to=poly.buffer(spacing_m * 4), ordered=True))
        geoms = []
        for i in members:
            region = shapely.coverage_union_all(cells[labels == i])
            geoms.append(shapely.intersection(region, poly))
        keep = [shapely.Point(old[i].seed_xy) for i in members]
        group = [old[i].district for i in members]
        geoms, moved = consolidate(geoms, keep, group)
        for i, g in zip(members, geoms, strict=True):
            old[i].geom = g

    by_district: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for u in old:
        by_district[u.district].append(u.geom)
    for d in sorted(by_district):
        sub.districts[d] = shapely.union_all(by_district[d], grid_size=0.001)
    return sub


def _district_split(pts, edges, poly, dists, members, old, territory, rng, wavelengths, place_xy, place_keys,
                    name_key) -> np.ndarray:
    """Split a 2025 unit's points between the districts it was formed from, each part facing the rest of
    its district, sized by its number of earlier units."""
    n_units = np.array([sum(old[i].district == d for i in members) for d in dists], dtype=float)
    target = n_units / n_units.sum()
    dist = np.zeros((len(pts), len(dists)))
    points = shapely.points(pts)
    for k, d in enumerate(dists):
        outside = territory.get(d)
        if outside is not None and outside.distance(poly) < 1000:
            dist[:, k] = shapely.distance(outside, points)
        else:
            # No neighbouring territory of this district: grow it from a named place of one of its units.
            anchor = None
            for i in members:
                if old[i].district != d:
                    continue
                hits = [j for j, pk in enumerate(place_keys) if pk == name_key(old[i].name)]
                inside = [j for j in hits if poly.contains(shapely.Point(place_xy[j]))]
                if inside:
                    anchor = place_xy[inside[0]]
                    break
            if anchor is None:
                others = [territory[o] for o in dists if o != d and o in territory]
                far = shapely.distance(shapely.union_all(others), points) if others else np.zeros(len(pts))
                anchor = pts[int(np.argmax(far))]
            dist[:, k] = np.hypot(*(pts - anchor).T)
    noise = Noise(rng, wavelengths, len(dists))(pts) * np.sqrt(poly.area / np.pi) * 0.15
    w = np.ones(len(dists))
    for _ in range(30):
        lab = np.argmin(dist * w + noise, axis=1)
        share = np.bincount(lab, minlength=len(dists)) / len(pts)
        if np.all(np.abs(share - target) < 0.03):
            break
        w *= np.clip((share / target) ** 0.3, 0.7, 1.4)
    anchors = {k: int(np.argmin(dist[:, k] + (lab != k) * 1e12)) for k in range(len(dists)) if (lab == k).any()}
    return _fix_connectivity(lab, edges, anchors)
