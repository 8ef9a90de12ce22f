"""Roads: lines split into routing edges (``road_edge``) with source/target nodes for pgRouting.

Endpoints closer than SNAP_TOLERANCE_M are one node; a line is split wherever another line's end or vertex
touches it (T and X junctions), so the graph connects where the drawing does. Lines that cross without a
shared point (bridges, overpasses) stay unconnected. New ends that fall on an existing edge's end reuse that
node, so an import extends the graph already in the database. Length is geodesic; cost is length at the
class speed (geo.road_costs), or the row's own speed_kmh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

from data import vocab
from data.importers import locate
from data.importers import validation as v
from data.importers.reading import Source
from data.importers.report import ImportReport
from geo import road_costs
from geo.geodesic import length_m

SNAP_TOLERANCE_M = 5.0
YES = {"yes", "true", "1", "y", "co", "có"}


@dataclass
class RoadRow:
    row: int
    parts: list[LineString]
    values: dict[str, Any]


@dataclass
class Edge:
    row: int
    source: int
    target: int
    geom: LineString
    length_m: float
    values: dict[str, Any]


@dataclass
class Plan:
    edges: list[Edge] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.edges)


def prepare(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    class_col = v.column(source, "road_class", "class", "loai_duong")
    ref_col, name_col = v.column(source, "ref", "so_hieu"), v.column(source, "name", "ten")
    speed_col, oneway_col = v.column(source, "speed_kmh", "speed"), v.column(source, "oneway", "mot_chieu")
    roads: list[RoadRow] = []
    for row, rec, geom in v.rows(source):
        parts = v.lines(report, source, row, geom)
        road_class = v.term(report, row, class_col or "road_class", rec.get(class_col) if class_col else None,
                            vocab.ROAD_CLASSES, "road class")
        speed = v.optional_number(report, row, rec, speed_col, positive=True)
        if parts and road_class:
            roads.append(RoadRow(row, parts, {
                "road_class": road_class, "ref": rec.get(ref_col) if ref_col else None,
                "name": rec.get(name_col) if name_col else None,
                "speed_kmh": speed or road_costs.SPEED_KMH[road_class],
                "oneway": bool(oneway_col and str(rec.get(oneway_col) or "").strip().casefold() in YES)}))
    prov_era = locate.province_era(conn, era, report)
    outside = locate.check_inside_province(conn, report, prov_era,
                                           {r.row: shapely.MultiLineString(r.parts) for r in roads}, "geometry",
                                           source.swapped)
    roads = [r for r in roads if r.row not in outside]
    if report.rejections or not roads:
        return Plan()
    return Plan(build_edges(conn, roads, report))


def build_edges(conn: psycopg.Connection, roads: list[RoadRow], report: ImportReport) -> list[Edge]:
    allc = np.concatenate([shapely.get_coordinates(p) for r in roads for p in r.parts])
    centre = allc.mean(axis=0)
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={centre[1]} +lon_0={centre[0]} +ellps=WGS84 +units=m")
    fwd = Transformer.from_crs(4326, local, always_xy=True)
    inv = Transformer.from_crs(local, 4326, always_xy=True)
    owners = [(r, p) for r in roads for p in r.parts]
    parts = [np.column_stack(fwd.transform(*shapely.get_coordinates(p).T)) for _, p in owners]
    parts, inserted = _insert_t_junctions(parts)
    existing = _existing_nodes(conn, allc, fwd)

    # Node vertices: every end, every vertex shared with another part, every vertex on an existing node.
    flat = np.concatenate(parts)
    part_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    index_in = np.concatenate([np.arange(len(p)) for p in parts])
    is_node = np.zeros(len(flat), bool)
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    is_node[starts] = True
    is_node[starts + np.array([len(p) - 1 for p in parts])] = True
    for i, j in cKDTree(flat).query_pairs(SNAP_TOLERANCE_M):
        if part_of[i] != part_of[j] or abs(int(index_in[i]) - int(index_in[j])) > 1:
            is_node[i] = is_node[j] = True
    if len(existing["xy"]):
        near = cKDTree(existing["xy"]).query(flat, distance_upper_bound=SNAP_TOLERANCE_M)[0]
        is_node |= np.isfinite(near)

    # Cluster node vertices within the tolerance; a cluster near an existing node takes its id and position.
    node_idx = np.flatnonzero(is_node)
    parent = list(range(len(node_idx)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in cKDTree(flat[node_idx]).query_pairs(SNAP_TOLERANCE_M):
        parent[find(a)] = find(b)
    next_id = existing["next_id"]
    cluster_id: dict[int, int] = {}
    cluster_xy: dict[int, np.ndarray] = {}
    cluster_lonlat: dict[int, tuple[float, float]] = {}
    reused = 0
    for k, vertex in enumerate(node_idx):
        root = find(k)
        if root in cluster_id:
            continue
        xy = flat[vertex]
        if len(existing["xy"]):
            d, e = cKDTree(existing["xy"]).query(xy)
            if d <= SNAP_TOLERANCE_M:
                cluster_id[root], cluster_xy[root] = int(existing["ids"][e]), existing["xy"][e]
                cluster_lonlat[root] = tuple(existing["lonlat"][e])
                reused += 1
                continue
        cluster_id[root], cluster_xy[root] = next_id, xy
        cluster_lonlat[root] = inv.transform(*xy)
        next_id += 1
    node_of_vertex = {int(vertex): find(k) for k, vertex in enumerate(node_idx)}

    edges: list[Edge] = []
    snapped = dropped = 0
    for i, coords in enumerate(parts):
        road = owners[i][0]
        cut = [j for j in range(len(coords)) if (starts[i] + j) in node_of_vertex]
        for a, b in zip(cut, cut[1:], strict=False):
            ca, cb = node_of_vertex[starts[i] + a], node_of_vertex[starts[i] + b]
            piece = coords[a:b + 1].copy()
            snapped += int(not np.allclose(piece[0], cluster_xy[ca])) + int(not np.allclose(piece[-1], cluster_xy[cb]))
            lon, lat = inv.transform(piece[:, 0], piece[:, 1])
            ll = np.column_stack([lon, lat])
            ll[0], ll[-1] = cluster_lonlat[ca], cluster_lonlat[cb]  # exact shared node coordinates
            line = LineString(ll)
            length = length_m(line)
            if ca == cb and length <= SNAP_TOLERANCE_M or line.length == 0:
                dropped += 1
                continue
            edges.append(Edge(road.row, cluster_id[ca], cluster_id[cb], line, length, road.values))
    report.notes.append(f"{len(roads)} road(s) split into {len(edges)} edge(s) at {len(cluster_id)} node(s); "
                        f"endpoints within {SNAP_TOLERANCE_M:g} m snapped together ({snapped} moved"
                        f"{f', {inserted} T-junction vertices inserted' if inserted else ''}"
                        f"{f', {reused} joined to nodes already in the database' if reused else ''})")
    if dropped:
        report.warnings.append(f"{dropped} piece(s) shorter than {SNAP_TOLERANCE_M:g} m between one node were dropped")
    return edges


def _insert_t_junctions(parts: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Put a vertex on a line where another line's end touches it between vertices (a T junction)."""
    lines = [LineString(p) for p in parts]
    tree = shapely.STRtree(lines)
    cuts: dict[int, list[float]] = {}
    for i, p in enumerate(parts):
        for end in (p[0], p[-1]):
            pt = Point(end)
            for j in tree.query(pt, predicate="dwithin", distance=SNAP_TOLERANCE_M):
                if j == i:
                    continue
                other = parts[j]
                if np.min(np.hypot(*(other - end).T)) <= SNAP_TOLERANCE_M:
                    continue  # already meets a vertex
                cuts.setdefault(int(j), []).append(lines[j].project(pt))
    out = list(parts)
    for j, distances in cuts.items():
        line = lines[j]
        along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(parts[j], axis=0).T))])
        extra = [(d, np.array(line.interpolate(d).coords[0])) for d in distances]
        points = [(d, xy) for d, xy in zip(along, parts[j], strict=True)] + extra
        points.sort(key=lambda t: t[0])
        out[j] = np.array([xy for _, xy in points])
    return out, sum(len(d) for d in cuts.values())


def _existing_nodes(conn: psycopg.Connection, lonlat: np.ndarray, fwd: Transformer) -> dict[str, Any]:
    (lo_x, lo_y), (hi_x, hi_y) = lonlat.min(axis=0) - 0.01, lonlat.max(axis=0) + 0.01
    rows = conn.execute(
        """
        SELECT node, ST_X(p), ST_Y(p) FROM (
          SELECT source AS node, ST_StartPoint(geom) AS p FROM road_edge
           WHERE geom && ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, 4326)
          UNION
          SELECT target, ST_EndPoint(geom) FROM road_edge
           WHERE geom && ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, 4326)) n
        """, {"a": lo_x, "b": lo_y, "c": hi_x, "d": hi_y}).fetchall()
    top = conn.execute("SELECT coalesce(max(greatest(source, target)), 0) FROM road_edge").fetchone()[0]
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ll = np.array([(r[1], r[2]) for r in rows], dtype=float).reshape(-1, 2)
    xy = np.column_stack(fwd.transform(ll[:, 0], ll[:, 1])) if len(ll) else np.empty((0, 2))
    return {"ids": ids, "lonlat": ll, "xy": xy, "next_id": int(top) + 1}


def write(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    for e in plan.edges:
        cost = road_costs.cost_seconds(e.length_m, e.values["speed_kmh"])
        conn.execute(
            "INSERT INTO road_edge (source, target, ref, name, road_class, length_m, speed_kmh, cost_s, "
            "reverse_cost_s, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, 4326))",
            [e.source, e.target, e.values["ref"], e.values["name"], e.values["road_class"], e.length_m,
             e.values["speed_kmh"], cost, -1 if e.values["oneway"] else cost, shapely.to_wkb(e.geom)])
        bar.update(1)
    report.count("road_edge", len(plan.edges))
