"""The road graph: national and provincial roads along named waypoints, commune roads joining every
administrative centre, village tracks and footpaths reaching every settlement. Lines wander like mountain
roads; edges are split at every junction and crossing so the graph is a proper routing graph."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree


def wiggle(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, amp_share: float, amp_max: float,
           step: float) -> np.ndarray:
    """A line from ``a`` to ``b`` that wanders sideways (a sum of sine modes, zero at both ends)."""
    length = float(np.hypot(*(b - a)))
    n = max(2, int(np.ceil(length / step)) + 1)
    t = np.linspace(0.0, 1.0, n)
    modes = np.arange(1, 7)
    coef = rng.normal(0, 1, len(modes)) / modes ** 1.2
    offset = (np.sin(np.pi * np.outer(t, modes)) * coef).sum(axis=1)
    offset *= min(amp_share * length, amp_max) / max(np.abs(offset).max(), 1e-9)
    d = (b - a) / max(length, 1e-9)
    normal = np.array([-d[1], d[0]])
    pts = a + np.outer(t, b - a) + np.outer(offset, normal)
    pts[0], pts[-1] = a, b
    return pts


@dataclass
class Line:
    xy: np.ndarray
    road_class: str
    ref: str | None
    name: str | None


@dataclass
class RoadGraph:
    geoms: list = field(default_factory=list)          # noded LineStrings (local frame)
    source: np.ndarray | None = None
    target: np.ndarray | None = None
    road_class: list[str] = field(default_factory=list)
    ref: list[str | None] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)
    length_m: np.ndarray | None = None
    speed_kmh: np.ndarray | None = None
    slope_factor: np.ndarray | None = None
    components: int = 0
    notes: list[str] = field(default_factory=list)


def route_lines(routes: list[dict], locate_waypoint, road_class: str, rng: np.random.Generator,
                style: dict) -> list[Line]:
    lines = []
    for r in routes:
        pts = [locate_waypoint(w) for w in r["via"]]
        legs = [wiggle(a, b, rng, **style) for a, b in zip(pts[:-1], pts[1:], strict=True)]
        xy = np.vstack([legs[0]] + [leg[1:] for leg in legs[1:]])
        lines.append(Line(xy, road_class, r.get("ref"), r.get("name")))
    return lines


def _mst_links(fixed_xy: np.ndarray, fixed_edges: np.ndarray, new_xy: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Links of a minimum spanning tree over fixed and new nodes, where the fixed network is free:
    the cheapest way to join every new node. Indices: fixed nodes first, then new ones."""
    xy = np.vstack([fixed_xy, new_xy])
    n = len(xy)
    kk = min(k + 1, n)
    d, j = cKDTree(xy).query(xy, k=kk)
    rows = np.repeat(np.arange(n), kk - 1)
    cols = j[:, 1:].ravel()
    w = d[:, 1:].ravel() + 1.0
    # Free edges along the fixed network (a tiny weight: scipy treats zero as no edge).
    fr, fc = fixed_edges[:, 0], fixed_edges[:, 1]
    rows = np.concatenate([rows, fr])
    cols = np.concatenate([cols, fc])
    w = np.concatenate([w, np.full(len(fr), 1e-6)])
    graph = coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    ncomp, comp = connected_components(graph, directed=False)
    extra_r, extra_c, extra_w = [], [], []
    if ncomp > 1:
        # Join stray components to the largest through their closest pair of nodes.
        main = np.argmax(np.bincount(comp))
        main_idx = np.flatnonzero(comp == main)
        tree = cKDTree(xy[main_idx])
        for c in range(ncomp):
            if c == main:
                continue
            idx = np.flatnonzero(comp == c)
            dd, jj = tree.query(xy[idx])
            m = int(np.argmin(dd))
            extra_r.append(idx[m])
            extra_c.append(main_idx[jj[m]])
            extra_w.append(dd[m] + 1.0)
        graph = coo_matrix((np.concatenate([w, extra_w]), (np.concatenate([rows, extra_r]),
                                                           np.concatenate([cols, extra_c]))), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(graph).tocoo()
    links = [(int(a), int(b)) for a, b, ww in zip(mst.row, mst.col, mst.data, strict=True) if ww > 1e-3]
    return sorted(links)


def build_roads(cfg: dict, rng: np.random.Generator, *, trunk: list[Line], centres: np.ndarray,
                settlements: np.ndarray, settlement_pop: np.ndarray, terrain) -> RoadGraph:
    style = cfg["style"]
    lines = list(trunk)

    def network_nodes(ls: list[Line]) -> tuple[np.ndarray, np.ndarray]:
        xy, edges, off = [], [], 0
        for ln in ls:
            xy.append(ln.xy)
            m = len(ln.xy)
            edges.append(np.column_stack([np.arange(off, off + m - 1), np.arange(off + 1, off + m)]))
            off += m
        return np.vstack(xy), np.vstack(edges)

    # Commune roads: the cheapest links that join every administrative centre to the trunk network.
    fixed_xy, fixed_edges = network_nodes(lines)
    xy_all = np.vstack([fixed_xy, centres])
    for a, b in _mst_links(fixed_xy, fixed_edges, centres, k=8):
        lines.append(Line(wiggle(xy_all[a], xy_all[b], rng, **style["commune"]), "commune", None, None))
    # Village tracks and footpaths: the cheapest links that reach every settlement.
    fixed_xy, fixed_edges = network_nodes(lines)
    xy_all = np.vstack([fixed_xy, settlements])
    n_fixed = len(fixed_xy)
    for a, b in _mst_links(fixed_xy, fixed_edges, settlements, k=8):
        length = float(np.hypot(*(xy_all[a] - xy_all[b])))
        small = [settlement_pop[i - n_fixed] for i in (a, b) if i >= n_fixed]
        fp = cfg["footpath"]
        footpath = length > fp["min_length_m"] and min(small, default=1e9) < fp["max_population"]
        cls = "footpath" if footpath else "village_track"
        lines.append(Line(wiggle(xy_all[a], xy_all[b], rng, **style[cls]), cls, None, None))

    # Node every line against every other: junctions and crossings become shared vertices.
    src = [shapely.linestrings(ln.xy) for ln in lines]
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(src)))
    noded = noded[shapely.length(noded) > 0.01]
    tree = shapely.STRtree(src)
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    owner = tree.query_nearest(mids, all_matches=False)[1]
    g = RoadGraph()
    g.geoms = list(noded)
    first = shapely.get_coordinates(shapely.get_point(noded, 0))
    last = shapely.get_coordinates(shapely.get_point(noded, -1))
    ends = np.vstack([first, last])
    _, vid = np.unique(ends, axis=0, return_inverse=True)
    vid = vid.ravel() + 1
    g.source, g.target = vid[: len(noded)], vid[len(noded):]
    classes = cfg["speed_kmh"]
    g.length_m = shapely.length(noded)
    g.slope_factor = np.empty(len(noded))
    for i, geom in enumerate(noded):
        xy = shapely.get_coordinates(shapely.segmentize(geom, 100.0))
        grade = terrain.grade(xy)
        seg = np.hypot(*np.diff(xy, axis=0).T)
        mean_grade = float((grade * seg).sum() / max(seg.sum(), 1e-9))
        g.slope_factor[i] = 1.0 + cfg["slope"]["factor_per_grade"] * min(mean_grade, cfg["slope"]["max_grade"])
    speed = []
    for i, o in enumerate(owner):
        ln = lines[o]
        g.road_class.append(ln.road_class)
        g.ref.append(ln.ref)
        g.name.append(ln.name)
        speed.append(max(classes[ln.road_class] / g.slope_factor[i], cfg["slope"]["min_speed_kmh"]))
    g.speed_kmh = np.array(speed)
    nv = int(vid.max()) + 1
    graph = coo_matrix((np.ones(len(noded)), (g.source, g.target)), shape=(nv, nv))
    ncomp, comp = connected_components(graph, directed=False)
    used = np.unique(vid)
    g.components = len(np.unique(comp[used]))
    return g
