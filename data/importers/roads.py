"""Roads: lines split into routing edges (``road_edge``) with source/target nodes for pgRouting.

The topology is built here, not by pgRouting (pgr_createTopology and pgr_nodeNetwork are gone in pgRouting 4).
Endpoints closer than the snap tolerance (setting ``road_snap_m``) are one node; a line is split wherever
another line's end or vertex touches it (T and X junctions), so the graph connects where the drawing does.
Lines that cross without a shared point (bridges, overpasses; OSM ways join only at shared nodes) stay
unconnected. New ends that fall on an imported edge's end reuse that node, so an import extends the imported
graph; the demo's generated edges are replaced by the first import. Length is geodesic; cost is length at
the row's own ``speed_kmh``, else at the class speed (settings, capped by ``maxspeed``) slowed by steep ground
(geo.road_costs). One-way roads get a reverse cost of -1 (-1 as cost when drawn against the traffic), the
pgRouting convention for "no edge this way". The report says how many disconnected pieces the graph has.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from data import vocab
from data.importers import locate, road_tags
from data.importers import validation as v
from data.importers.reading import Source
from data.importers.report import ImportReport
from data.settings import Settings, get_settings
from geo import road_costs
from geo.geodesic import GEOD, length_m

PIECES_LISTED = 10  # disconnected pieces named one by one in the report; the rest are counted


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


@dataclass
class _Columns:
    road_class: str | None
    highway: str | None
    ref: str | None
    name: str | None
    speed: str | None
    maxspeed: str | None
    oneway: str | None
    junction: str | None
    slope_factor: str | None
    incline: str | None
    osm_id: str | None

    @classmethod
    def of(cls, source: Source) -> _Columns:
        c = lambda *names: v.column(source, *names)  # noqa: E731
        return cls(road_class=c("road_class", "class", "loai_duong"), highway=c("highway"),
                   ref=c("ref", "so_hieu"), name=c("name", "ten"), speed=c("speed_kmh", "speed"),
                   maxspeed=c("maxspeed", "max_speed"), oneway=c("oneway", "mot_chieu"), junction=c("junction"),
                   slope_factor=c("slope_factor"), incline=c("incline", "grade_pct", "do_doc"),
                   osm_id=c("osm_id") if source.format == "OSM" else None)


def prepare(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    settings = get_settings()
    cols = _Columns.of(source)
    if not cols.road_class and not cols.highway:
        report.reject(None, None, f"no road class: give each line a 'road_class' ({v.valid_list(vocab.ROAD_CLASSES)}) "
                                  f"or an OSM-style 'highway' tag (primary, secondary, tertiary, track, path, ...)")
        return Plan()
    skipped: Counter[str] = Counter()
    unread: dict[str, list[tuple[int, str]]] = {}
    slopes: Counter[str] = Counter()
    roads: list[RoadRow] = []
    for row, rec, geom in v.rows(source):
        highway = rec.get(cols.highway) if cols.highway else None
        if cols.road_class and (rec.get(cols.road_class) or not highway):
            road_class = v.term(report, row, cols.road_class, rec.get(cols.road_class), vocab.ROAD_CLASSES,
                                "road class")
        else:
            road_class = road_tags.road_class(highway)
            if road_class is None:
                skipped[highway or "no highway tag"] += 1
                continue
        parts = v.lines(report, source, row, geom)
        slope, slope_from = _slope(report, row, rec, cols, geom, settings, unread)
        speed = v.optional_number(report, row, rec, cols.speed, positive=True)
        limit = None
        if cols.maxspeed and rec.get(cols.maxspeed):
            limit = road_tags.maxspeed_kmh(str(rec[cols.maxspeed]))
            if limit is None:
                unread.setdefault("maxspeed", []).append((row, str(rec[cols.maxspeed])))
        oneway = rec.get(cols.oneway) if cols.oneway else None
        way = road_tags.direction(oneway, highway, rec.get(cols.junction) if cols.junction else None)
        if way is None:
            unread.setdefault("oneway", []).append((row, str(oneway)))
            way = road_tags.BOTH
        if parts and road_class:
            slopes[slope_from] += 1
            label = f"way {rec[cols.osm_id]}" if cols.osm_id and rec.get(cols.osm_id) else f"row {row}"
            roads.append(RoadRow(row, parts, {
                "road_class": road_class, "ref": rec.get(cols.ref) if cols.ref else None,
                "name": rec.get(cols.name) if cols.name else None,
                "speed_kmh": speed or road_costs.travel_speed_kmh(road_class, settings, limit_kmh=limit,
                                                                  slope=slope),
                "slope_factor": slope, "direction": way, "label": label}))
    _say_skipped_and_unread(report, skipped, unread, slopes)
    prov_era = locate.province_era(conn, era, report)
    geoms = {r.row: shapely.MultiLineString(r.parts) for r in roads}
    if source.format == "OSM":
        # An extract is cut by a bounding box or a larger region: ways beyond the province are not errors.
        outside = locate.check_inside_province(conn, ImportReport(report.kind, report.path, era), prov_era,
                                               geoms, "geometry")
        if outside:
            report.notes.append(f"{len(outside)} way(s) outside the province skipped")
    else:
        outside = locate.check_inside_province(conn, report, prov_era, geoms, "geometry", source.swapped)
    roads = [r for r in roads if r.row not in outside]
    if report.rejections:
        return Plan()
    if not roads:
        why = f"{len(outside)} outside the province, " if outside else ""
        why += ", ".join(f"{k} {n}" for k, n in skipped.most_common()) or "no lines"
        report.reject(None, None, f"the file holds no road to import ({why}): roads are lines with a road_class "
                                  f"or a highway tag of {', '.join(dict.fromkeys(road_tags.HIGHWAY_CLASS))}")
        return Plan()
    return Plan(build_edges(conn, roads, report, settings.road_snap_m))


def _slope(report: ImportReport, row: int, rec: dict[str, Any], cols: _Columns, geom: BaseGeometry | None,
           settings: Settings, unread: dict[str, list[tuple[int, str]]]) -> tuple[float, str]:
    """The terrain factor of a line and where it came from: a slope_factor column, an incline tag (percent),
    the elevations of a 3D line, else flat (1.0)."""
    factor = v.optional_number(report, row, rec, cols.slope_factor, positive=True)
    if factor is not None:
        if factor < 1:
            report.reject(row, cols.slope_factor, f"{factor:g} is below 1: the terrain factor is 1 on flat ground "
                                                  f"and larger on steep ground")
        return float(factor), "slope_factor"
    if cols.incline and rec.get(cols.incline):
        grade = road_tags.grade(str(rec[cols.incline]))
        if grade is not None:
            return road_costs.slope_factor(grade, settings), "incline"
        unread.setdefault("incline", []).append((row, str(rec[cols.incline])))
    grade = _elevation_grade(geom)
    if grade is not None:
        return road_costs.slope_factor(grade, settings), "elevation"
    return 1.0, "flat"


def _elevation_grade(geom: BaseGeometry | None) -> float | None:
    """Mean absolute grade of a 3D line (total climb and descent over the horizontal length), or None."""
    if geom is None or geom.is_empty or not shapely.has_z(geom):
        return None
    climb = run = 0.0
    for part in shapely.get_parts(geom):
        xyz = shapely.get_coordinates(part, include_z=True)
        if len(xyz) < 2 or not np.isfinite(xyz[:, 2]).all():
            return None
        climb += float(np.abs(np.diff(xyz[:, 2])).sum())
        run += length_m(shapely.force_2d(part))
    return climb / run if run > 0 else None


def _say_skipped_and_unread(report: ImportReport, skipped: Counter[str], unread: dict[str, list[tuple[int, str]]],
                            slopes: Counter[str]) -> None:
    if skipped:
        listed = ", ".join(f"{k} {n}" for k, n in skipped.most_common())
        report.notes.append(f"{sum(skipped.values())} line(s) skipped, not roads for travel ({listed}); roads are "
                            f"highway = {', '.join(dict.fromkeys(road_tags.HIGHWAY_CLASS))}")
    then = {"maxspeed": "the class speed was used", "oneway": "taken as two-way",
            "incline": "the terrain factor came from elevations or is 1"}
    for tag, found in unread.items():
        sample = ", ".join(f"row {r} '{val}'" for r, val in found[:5]) + (", ..." if len(found) > 5 else "")
        report.warnings.append(f"{tag} not understood on {len(found)} line(s) ({sample}): {then[tag]}")
    if set(slopes) - {"flat"}:
        report.notes.append("terrain factor from " + ", ".join(f"{k} on {n} line(s)" for k, n in slopes.items()))


def build_edges(conn: psycopg.Connection, roads: list[RoadRow], report: ImportReport, tolerance: float) -> list[Edge]:
    allc = np.concatenate([shapely.get_coordinates(p) for r in roads for p in r.parts])
    centre = allc.mean(axis=0)
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={centre[1]} +lon_0={centre[0]} +ellps=WGS84 +units=m")
    fwd = Transformer.from_crs(4326, local, always_xy=True)
    inv = Transformer.from_crs(local, 4326, always_xy=True)
    owners = [(r, p) for r in roads for p in r.parts]
    parts = [np.column_stack(fwd.transform(*shapely.get_coordinates(p).T)) for _, p in owners]
    parts, inserted = _insert_t_junctions(parts, tolerance)
    existing = _existing_nodes(conn, allc, fwd)

    # Node vertices: every end, every vertex shared with another part, every vertex on an existing node.
    flat = np.concatenate(parts)
    part_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    index_in = np.concatenate([np.arange(len(p)) for p in parts])
    is_node = np.zeros(len(flat), bool)
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    is_node[starts] = True
    is_node[starts + np.array([len(p) - 1 for p in parts])] = True
    for i, j in cKDTree(flat).query_pairs(tolerance):
        if part_of[i] != part_of[j] or abs(int(index_in[i]) - int(index_in[j])) > 1:
            is_node[i] = is_node[j] = True
    existing_tree = cKDTree(existing["xy"]) if len(existing["xy"]) else None
    if existing_tree is not None:
        near = existing_tree.query(flat, distance_upper_bound=tolerance)[0]
        is_node |= np.isfinite(near)

    # Cluster node vertices within the tolerance; a cluster near an existing node takes its id and position.
    node_idx = np.flatnonzero(is_node)
    parent = list(range(len(node_idx)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in cKDTree(flat[node_idx]).query_pairs(tolerance):
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
        if existing_tree is not None:
            d, e = existing_tree.query(xy)
            if d <= tolerance:
                cluster_id[root], cluster_xy[root] = int(existing["ids"][e]), existing["xy"][e]
                cluster_lonlat[root] = tuple(existing["lonlat"][e])
                reused += 1
                continue
        cluster_id[root], cluster_xy[root] = next_id, xy
        cluster_lonlat[root] = inv.transform(*xy)
        next_id += 1
    node_of_vertex = {int(vertex): find(k) for k, vertex in enumerate(node_idx)}

    # Pieces between consecutive node vertices; reprojected and measured all at once (per piece it is slow).
    owner_of: list[int] = []
    ends: list[tuple[int, int]] = []
    pieces: list[np.ndarray] = []
    snapped = dropped = 0
    for i, coords in enumerate(parts):
        cut = [j for j in range(len(coords)) if (starts[i] + j) in node_of_vertex]
        for a, b in zip(cut, cut[1:], strict=False):
            ca, cb = node_of_vertex[starts[i] + a], node_of_vertex[starts[i] + b]
            snapped += int(_moved(coords[a], cluster_xy[ca])) + int(_moved(coords[b], cluster_xy[cb]))
            owner_of.append(i)
            ends.append((ca, cb))
            pieces.append(coords[a:b + 1])
    edges: list[Edge] = []
    if pieces:
        sizes = np.array([len(p) for p in pieces])
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        last = first + sizes - 1
        xy = np.concatenate(pieces)
        ll = np.column_stack(inv.transform(xy[:, 0], xy[:, 1]))
        ll[first] = [cluster_lonlat[ca] for ca, _ in ends]  # exact shared node coordinates
        ll[last] = [cluster_lonlat[cb] for _, cb in ends]
        seg = np.asarray(GEOD.inv(ll[:-1, 0], ll[:-1, 1], ll[1:, 0], ll[1:, 1])[2])
        seg[last[:-1]] = 0.0  # from one piece's last vertex to the next piece's first: not a segment
        along = np.concatenate([[0.0], np.cumsum(seg)])
        lengths = along[last] - along[first]
        lines = shapely.linestrings(ll, indices=np.repeat(np.arange(len(pieces)), sizes))
        for k, (ca, cb) in enumerate(ends):
            if ca == cb and lengths[k] <= tolerance or lengths[k] == 0:
                dropped += 1
                continue
            road = owners[owner_of[k]][0]
            edges.append(Edge(road.row, cluster_id[ca], cluster_id[cb], lines[k], float(lengths[k]), road.values))
    report.notes.append(f"{len(roads)} road(s) split into {len(edges)} edge(s) at {len(cluster_id)} node(s); "
                        f"endpoints within {tolerance:g} m snapped together ({snapped} moved"
                        f"{f', {inserted} T-junction vertices inserted' if inserted else ''}"
                        f"{f', {reused} joined to nodes already in the database' if reused else ''})")
    if dropped:
        report.warnings.append(f"{dropped} piece(s) shorter than {tolerance:g} m between one node were dropped")
    return edges


def _moved(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.hypot(*(a - b)) > 1e-6)


def _insert_t_junctions(parts: list[np.ndarray], tolerance: float) -> tuple[list[np.ndarray], int]:
    """Put a vertex on a line where another line's end touches it between vertices (a T junction)."""
    lines = [LineString(p) for p in parts]
    tree = shapely.STRtree(lines)
    cuts: dict[int, list[float]] = {}
    for i, p in enumerate(parts):
        for end in (p[0], p[-1]):
            pt = Point(end)
            for j in tree.query(pt, predicate="dwithin", distance=tolerance):
                if j == i:
                    continue
                other = parts[j]
                if np.min(np.hypot(*(other - end).T)) <= tolerance:
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
           WHERE geom && ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, 4326) AND NOT is_generated
          UNION
          SELECT target, ST_EndPoint(geom) FROM road_edge
           WHERE geom && ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, 4326) AND NOT is_generated) n
        """, {"a": lo_x, "b": lo_y, "c": hi_x, "d": hi_y}).fetchall()
    # The generated (demo) edges are deleted before the new ones are written (see write): not joined to.
    top = conn.execute("SELECT coalesce(max(greatest(source, target)), 0) FROM road_edge WHERE NOT is_generated"
                       ).fetchone()[0]
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ll = np.array([(r[1], r[2]) for r in rows], dtype=float).reshape(-1, 2)
    xy = np.column_stack(fwd.transform(ll[:, 0], ll[:, 1])) if len(ll) else np.empty((0, 2))
    return {"ids": ids, "lonlat": ll, "xy": xy, "next_id": int(top) + 1}


def write(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    removed = conn.execute("DELETE FROM road_edge WHERE is_generated").rowcount
    if removed:
        report.notes.append(f"the {removed} generated (demo) road edge(s) were replaced: routes now follow the "
                            f"imported roads")
    ids = [r[0] for r in conn.execute("SELECT nextval(pg_get_serial_sequence('road_edge', 'id')) "
                                      "FROM generate_series(1, %s)", [len(plan.edges)])]
    wkb = shapely.to_wkb(shapely.set_srid(np.array([e.geom for e in plan.edges], dtype=object), 4326), hex=True,
                         include_srid=True)
    with conn.cursor() as cur, cur.copy(
            "COPY road_edge (id, source, target, ref, name, road_class, length_m, speed_kmh, slope_factor, cost_s, "
            "reverse_cost_s, geom) FROM STDIN") as copy:
        for edge_id, e, geom in zip(ids, plan.edges, wkb, strict=True):
            cost = road_costs.cost_seconds(e.length_m, e.values["speed_kmh"])
            way = e.values["direction"]
            copy.write_row([edge_id, e.source, e.target, e.values["ref"], e.values["name"], e.values["road_class"],
                            e.length_m, e.values["speed_kmh"], e.values["slope_factor"],
                            -1 if way == road_tags.BACKWARD else cost, -1 if way == road_tags.FORWARD else cost,
                            geom])
    bar.update(len(plan.edges))
    report.count("road_edge", len(plan.edges))
    oneway = sum(e.values["direction"] != road_tags.BOTH for e in plan.edges)
    if oneway:
        report.notes.append(f"{oneway} edge(s) one-way")
    report_pieces(conn, report, {i: e.values["label"] for i, e in zip(ids, plan.edges, strict=True)})


def report_pieces(conn: psycopg.Connection, report: ImportReport, labels: dict[int, str]) -> None:
    """Count the connected pieces of the whole road graph (either direction of travel joins) and name the
    small ones by their input lines and a place, so they can be found and fixed (or left, if they are real)."""
    rows = conn.execute("SELECT id, source, target, length_m, ST_X(ST_LineInterpolatePoint(geom, 0.5)), "
                        "ST_Y(ST_LineInterpolatePoint(geom, 0.5)) FROM road_edge ORDER BY id").fetchall()
    if not rows:
        return
    ids = np.array([r[0] for r in rows])
    ends = np.array([(r[1], r[2]) for r in rows])
    length = np.array([r[3] for r in rows], dtype=float)
    nodes, index = np.unique(ends, return_inverse=True)
    index = index.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(rows)), (index[:, 0], index[:, 1])), shape=(len(nodes), len(nodes)))
    count, node_piece = connected_components(graph, directed=False)
    piece = node_piece[index[:, 0]]
    piece_len = np.bincount(piece, weights=length, minlength=count)
    order = np.argsort(-piece_len)
    total = float(length.sum())
    main = order[0]
    head = (f"road graph: {count} connected piece(s), {len(rows)} edge(s), {total / 1000:.2f} km; the largest "
            f"holds {piece_len[main] / total:.1%} of the length ({int((piece == main).sum())} edge(s))")
    if count == 1:
        report.notes.append(head)
        return
    described = []
    for p in order[1:PIECES_LISTED + 1]:
        members = np.flatnonzero(piece == p)
        longest = members[np.argmax(length[members])]
        names = list(dict.fromkeys(labels.get(int(ids[m]), f"road_edge {ids[m]}") for m in members))
        who = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        described.append(f"{len(members)} edge(s), {piece_len[p] / 1000:.2f} km near {rows[longest][4]:.5f}, "
                         f"{rows[longest][5]:.5f} ({who})")
    more = f"; and {count - 1 - len(described)} more" if count - 1 > len(described) else ""
    report.warnings.append(f"{head}. Routes cannot reach the others: " + "; ".join(described) + more
                           + ". Join them (a missing link or a gap over the snap tolerance) or leave them if real")
