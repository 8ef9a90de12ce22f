"""Point to point: travel time, road distance, straight-line distance and the route between two points.

Each point (EPSG:4326 lon/lat) is snapped to its nearest open edge within ``max_snap_m`` metres; the edge is
split there by a virtual vertex (-1 for the origin, -2 for the destination) so the trip starts and ends
exactly at the snapped positions, and the leg between the point and the road is walked at ``walk_kmh``.
The road part is pgr_dijkstra over ``road_edge`` in the direction of travel (one-way roads respected).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from shapely import wkb
from shapely.geometry.base import BaseGeometry

from geo.travel.network import (
    OPEN_EDGES_SQL,
    Closures,
    TooFarFromRoad,
    TravelError,
    closed_edge_ids,
    edges_sql,
    require_roads,
    share_cost,
    snap,
    values_sql,
    virtual_pieces,
    walk_seconds,
)

ORIGIN, DESTINATION = -1, -2


class Unreachable(TravelError):
    """No road path joins the two points in the direction of travel; ``reason`` says which case."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason  # "closed", "one_way" or "disconnected"
        super().__init__(message)


@dataclass(frozen=True)
class Route:
    """A trip; seconds, metres, EPSG:4326. ``travel_s`` = ``walk_s`` + ``road_s``."""

    travel_s: float
    road_s: float
    walk_s: float
    road_m: float
    walk_m: float
    straight_m: float
    origin_edge: int
    destination_edge: int
    edges: tuple[int, ...]
    geometry: BaseGeometry  # walk, road, walk as one LineString

    @property
    def ratio(self) -> float:
        """Trip distance (road and walk) over the straight line; NaN for coincident points."""
        return (self.road_m + self.walk_m) / self.straight_m if self.straight_m > 0 else float("nan")


def _between(o: dict, d: dict, vid_id: int) -> list[tuple[int, int, int, float, float]]:
    """When both points lie on the same edge, the direct piece between them (else the path would have to
    run to an end of the edge and back)."""
    if o["edge_id"] != d["edge_id"]:
        return []
    lo, hi = sorted((o["fraction"], d["fraction"]))
    a, b = (ORIGIN, DESTINATION) if o["fraction"] <= d["fraction"] else (DESTINATION, ORIGIN)
    return [(vid_id, a, b, share_cost(o["cost_s"], hi - lo), share_cost(o["reverse_cost_s"], hi - lo))]


def _virtual(o: dict, d: dict, base: int, closures: Closures) -> tuple[str, dict[int, tuple[int, float, float]]]:
    rows = _piece_rows(o, d, base)
    # Which part of which real edge each virtual piece is (edge, fraction from, fraction to).
    parts = {base: (o["edge_id"], 0.0, o["fraction"]), base + 1: (o["edge_id"], o["fraction"], 1.0),
             base + 2: (d["edge_id"], 0.0, d["fraction"]), base + 3: (d["edge_id"], d["fraction"], 1.0),
             base + 4: (o["edge_id"], *sorted((o["fraction"], d["fraction"])))}
    return edges_sql(closures) + values_sql(rows), parts


GEOMETRY_SQL = """
SELECT ST_AsBinary(ST_MakeLine(g ORDER BY k)), coalesce(sum(m), 0)
  FROM (SELECT 0 AS k, ST_SetSRID(ST_MakePoint(%(olon)s, %(olat)s), 4326) AS g, 0 AS m
        UNION ALL
        SELECT t.k, CASE WHEN t.node <> coalesce(t.psource, e.source)
                         THEN ST_Reverse(ST_LineSubstring(e.geom, t.lo, t.hi))
                         ELSE ST_LineSubstring(e.geom, t.lo, t.hi) END, e.length_m * (t.hi - t.lo)
          FROM unnest(%(k)s::int[], %(edge)s::bigint[], %(lo)s::float8[], %(hi)s::float8[], %(node)s::bigint[],
                      %(psource)s::bigint[]) AS t(k, edge, lo, hi, node, psource)
          JOIN road_edge e ON e.id = t.edge
        UNION ALL
        SELECT 1000000000, ST_SetSRID(ST_MakePoint(%(dlon)s, %(dlat)s), 4326), 0) z
"""


def route(conn: psycopg.Connection, origin: tuple[float, float], destination: tuple[float, float], *,
          max_snap_m: float, walk_kmh: float, closures: Closures | None = None) -> Route:
    """The fastest trip from ``origin`` to ``destination`` (lon, lat in EPSG:4326).

    Raises ``TooFarFromRoad`` (with the distance) when a point is more than ``max_snap_m`` metres from every
    open road, ``Unreachable`` (reason ``closed``, ``one_way`` or ``disconnected``) when no road path exists; it never
    returns a made-up figure. Roads closed by ``closures`` (default: the closures in force now) are neither
    snapped to nor driven.
    """
    require_roads(conn)
    closures = closures or Closures(at=datetime.now(UTC))
    sn = snap(conn, [1, 2], [origin[0], destination[0]], [origin[1], destination[1]], closures)
    ends = []
    for (label, (lon, lat)), (_, s) in zip((("origin", origin), ("destination", destination)), sn.iterrows(),
                                           strict=True):
        if s.isna()["edge_id"] or s["snap_m"] > max_snap_m:
            raise TooFarFromRoad(label, lon, lat, None if s.isna()["edge_id"] else float(s["snap_m"]), max_snap_m)
        ends.append(s.to_dict())
    o, d = ends
    straight_m = float(conn.execute(
        "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)", [*origin, *destination]).fetchone()[0])
    base = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM road_edge").fetchone()[0])
    graph, parts = _virtual(o, d, base, closures)
    path = conn.execute("SELECT node, edge, cost, agg_cost FROM pgr_dijkstra(%s, %s::bigint, %s::bigint, true) "
                        "ORDER BY path_seq", [graph, ORIGIN, DESTINATION]).fetchall()
    if not path:
        closed = closed_edge_ids(conn, closures)
        if closed:
            open_graph = OPEN_EDGES_SQL + values_sql(_piece_rows(o, d, base))
            if conn.execute("SELECT count(*) FROM pgr_dijkstraCost(%s, %s::bigint, %s::bigint, true)",
                            [open_graph, ORIGIN, DESTINATION]).fetchone()[0]:
                raise Unreachable("closed", f"no road path leads from the origin to the destination while the road "
                                            f"closures in force are (edges {', '.join(map(str, closed[:20]))} "
                                            "closed); with those roads open the trip exists")
        undirected = conn.execute("SELECT count(*) FROM pgr_dijkstraCost(%s, %s::bigint, %s::bigint, false)",
                                  [graph, ORIGIN, DESTINATION]).fetchone()[0]
        if undirected:
            raise Unreachable("one_way", "no road path leads from the origin to the destination in the allowed "
                                         "directions: one-way roads only allow the trip the other way")
        raise Unreachable("disconnected", "the origin and the destination are on road pieces that are not "
                                          "connected to each other")
    road_s = float(path[-1][3])
    piece_source = {r[0]: r[1] for r in _piece_rows(o, d, base)}
    # One step per edge of the path: (order, real edge, fraction from, fraction to, node it is left from,
    # source of the piece); a step runs backwards when it is left from the piece's target.
    steps = [(k + 1, int(parts.get(edge, (edge,))[0]), *parts.get(edge, (edge, 0.0, 1.0))[1:], int(node),
              piece_source.get(edge)) for k, (node, edge, _c, _a) in enumerate(path[:-1])]
    cols = [list(x) for x in zip(*steps, strict=True)] if steps else [[]] * 6
    geom_wkb, road_m = conn.execute(GEOMETRY_SQL, {
        "olon": origin[0], "olat": origin[1], "dlon": destination[0], "dlat": destination[1],
        "k": cols[0], "edge": cols[1], "lo": cols[2], "hi": cols[3], "node": cols[4], "psource": cols[5]}).fetchone()
    walk_m = float(o["snap_m"] + d["snap_m"])
    walk_s = float(walk_seconds(walk_m, walk_kmh))
    # A point snapped onto a node leaves by a piece of no length: not an edge of the route.
    real_edges = tuple(dict.fromkeys(st[1] for st in steps if st[3] - st[2] > 1e-12))
    return Route(travel_s=road_s + walk_s, road_s=road_s, walk_s=walk_s, road_m=float(road_m), walk_m=walk_m,
                 straight_m=straight_m, origin_edge=int(o["edge_id"]), destination_edge=int(d["edge_id"]),
                 edges=real_edges, geometry=wkb.loads(bytes(geom_wkb)))


def _piece_rows(o: dict, d: dict, base: int) -> list[tuple[int, int, int, float, float]]:
    return virtual_pieces(o, ORIGIN, base) + virtual_pieces(d, DESTINATION, base + 2) + _between(o, d, base + 4)
