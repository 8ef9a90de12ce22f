"""The road graph as pgRouting sees it, and points snapped onto it.

An edge ``source -> target`` costs ``cost_s`` seconds that way and ``reverse_cost_s`` the other way; -1
closes that direction (one-way road), which pgRouting reads as "no edge" because it is negative. Points
(villages, stations, incidents, clicks) are EPSG:4326 lon/lat; they are snapped to the nearest open edge
within a maximum distance (metres, geodesic) and the leg between the point and the road is walked.

Two ways of attaching a point are used:
- ``virtual`` pieces (point to point, isochrones): the edge is split at the snapped position by a virtual
  vertex with a negative id, so a point in the middle of a long footpath is reached exactly;
- one ``attach`` node per point (bulk tables): the end of the snapped edge that is cheaper to reach in the
  direction of travel, with the walk and the part of the edge counted as the point's access leg. Tables
  then report plain node ids that anyone can check against ``road_edge`` with ``pgr_dijkstra``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import psycopg

# Forward graph: a trip leaves ``source``. Reversed graph: every direction swapped, so a search from the
# destinations over it yields the cost of reaching them (residents travelling TO a station).
EDGES_SQL = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge"
REVERSED_EDGES_SQL = "SELECT id, source, target, reverse_cost_s AS cost, cost_s AS reverse_cost FROM road_edge"

GENERATED_NOTE = ("The roads and travel speeds of this database are generated (demo data): the figures "
                  "illustrate the method and are not findings about real travel.")


class TravelError(ValueError):
    """A travel question that cannot be answered; the message says why and what to change."""


class NoRoads(TravelError):
    """The road graph is empty."""


class TooFarFromRoad(TravelError):
    """A point lies farther from every open road than the snapping distance allows."""

    def __init__(self, label: str, lon: float, lat: float, distance_m: float | None, max_m: float) -> None:
        self.label, self.lon, self.lat, self.distance_m, self.max_m = label, lon, lat, distance_m, max_m
        far = "no open road at all" if distance_m is None else f"{distance_m:,.0f} m from the nearest open road"
        super().__init__(f"the {label} ({lon:.6f}, {lat:.6f}) is {far}, farther than the {max_m:,.0f} m "
                         f"allowed; choose a point nearer a road or allow a larger snapping distance")


def roads_generated(conn: psycopg.Connection) -> bool:
    """True when any road edge is generated (the demo): outputs must then say so."""
    return bool(conn.execute("SELECT coalesce(bool_or(is_generated), false) FROM road_edge").fetchone()[0])


def provenance(conn: psycopg.Connection) -> dict[str, object]:
    """What every output carries about its road graph."""
    generated = roads_generated(conn)
    return {"roads_generated": generated, "note": GENERATED_NOTE if generated else ""}


def walk_seconds(metres: np.ndarray | float, walk_kmh: float) -> np.ndarray | float:
    if walk_kmh <= 0:
        raise TravelError(f"walking speed must be above 0 km/h, not {walk_kmh}")
    return np.asarray(metres, dtype=float) / (walk_kmh / 3.6)


# The index proposes 8 edges by planar distance in degrees, then the geodesic distance picks one: at 21° N a
# degree of longitude is 0.93 of one of latitude, so the true nearest is always among the first few.
SNAP_SQL = """
SELECT p.key, e.id, e.source, e.target, e.cost_s, e.reverse_cost_s, e.length_m, e.d,
       ST_LineLocatePoint(e.geom, p.g), ST_X(ST_ClosestPoint(e.geom, p.g)), ST_Y(ST_ClosestPoint(e.geom, p.g))
  FROM (SELECT key, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g
          FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS t(key, lon, lat)) p
  LEFT JOIN LATERAL (
        SELECT c.*, ST_Distance(p.g::geography, c.geom::geography) AS d
          FROM (SELECT * FROM road_edge WHERE cost_s >= 0 OR reverse_cost_s >= 0
                 ORDER BY geom <-> p.g LIMIT 8) c
         ORDER BY d, c.id LIMIT 1) e ON true
"""

SNAP_COLUMNS = ["key", "edge_id", "source", "target", "cost_s", "reverse_cost_s", "length_m", "snap_m",
                "fraction", "snap_lon", "snap_lat"]


def snap(conn: psycopg.Connection, keys, lons, lats) -> pd.DataFrame:
    """Nearest open edge of each point (EPSG:4326 lon/lat), in one query.

    Columns: ``key``, ``edge_id`` (NaN when there are no roads), the edge's ``source``, ``target``,
    ``cost_s``, ``reverse_cost_s``, ``length_m``; ``snap_m`` (geodesic metres from the point to the edge),
    ``fraction`` (0 at ``source``, 1 at ``target``) and ``snap_lon``/``snap_lat`` (the snapped position).
    """
    keys = [int(k) for k in keys]
    rows = conn.execute(SNAP_SQL, [keys, [float(x) for x in lons], [float(y) for y in lats]]).fetchall()
    df = pd.DataFrame(rows, columns=SNAP_COLUMNS)
    return df.astype({c: float for c in SNAP_COLUMNS[1:]})


def _piece(cost: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Cost of a share of an edge in one direction (NaN when closed); a point on the node itself needs none."""
    return np.where(share == 0, 0.0, np.where(cost >= 0, cost * share, np.nan))


def attach(snapped: pd.DataFrame, direction: Literal["out", "in"], max_snap_m: float,
           walk_kmh: float) -> pd.DataFrame:
    """One network node per snapped point, with the access leg between point and node.

    ``out``: the trip starts at the point (a resident leaving the village): point -> node.
    ``in``: the trip ends at the point (arriving at a station): node -> point.
    Adds ``node`` (NaN when no road is near enough or both directions are closed), ``access_s`` (walking the
    ``snap_m`` at ``walk_kmh`` plus the drive along the edge, seconds), ``access_m`` (walk plus that part of
    the edge, metres) and ``snap_ok`` (within ``max_snap_m``).
    """
    s = snapped
    f = s["fraction"].to_numpy(float)
    fwd, rev = s["cost_s"].to_numpy(float), s["reverse_cost_s"].to_numpy(float)
    if direction == "out":  # point -> source runs against the edge, point -> target along it
        to_source, to_target = _piece(rev, f), _piece(fwd, 1 - f)
    else:                   # source -> point runs along the edge, target -> point against it
        to_source, to_target = _piece(fwd, f), _piece(rev, 1 - f)
    use_target = np.nan_to_num(to_target, nan=np.inf) < np.nan_to_num(to_source, nan=np.inf)
    drive_s = np.where(use_target, to_target, to_source)
    node = np.where(use_target, s["target"].to_numpy(float), s["source"].to_numpy(float))
    part_m = s["length_m"].to_numpy(float) * np.where(use_target, 1 - f, f)
    ok = (s["snap_m"].to_numpy(float) <= max_snap_m) & np.isfinite(drive_s)
    out = s.copy()
    out["snap_ok"] = ok
    out["node"] = np.where(ok, node, np.nan)
    out["access_s"] = np.where(ok, walk_seconds(s["snap_m"].to_numpy(float), walk_kmh) + drive_s, np.nan)
    out["access_m"] = np.where(ok, s["snap_m"].to_numpy(float) + part_m, np.nan)
    return out


def snap_reason(row: pd.Series, max_snap_m: float) -> str:
    """Why a snapped point has no node (empty when it has one)."""
    if pd.isna(row["edge_id"]):
        return "no open road in the graph"
    if row["snap_m"] > max_snap_m:
        return f"{row['snap_m']:,.0f} m from the nearest road (more than {max_snap_m:,.0f} m)"
    if pd.isna(row.get("node")):
        return "its nearest road is closed in the direction of travel"
    return ""


def require_roads(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM road_edge)").fetchone()[0]:
        raise NoRoads("the road graph is empty: import roads first (`sitmap import roads FILE`)")


def share_cost(c: float, share: float) -> float:
    """Cost of a share of an edge in one direction; a closed direction (-1) stays closed."""
    return c * share if c >= 0 else -1.0


def virtual_pieces(s: dict, vid: int, first_id: int) -> list[tuple[int, int, int, float, float]]:
    """The two pieces ``source -> vid -> target`` of a snapped point's edge, as extra edges with ids
    ``first_id`` and ``first_id + 1`` (above every real id), for pgRouting to start or end at ``vid``."""
    f = s["fraction"]
    return [(first_id, int(s["source"]), vid, share_cost(s["cost_s"], f), share_cost(s["reverse_cost_s"], f)),
            (first_id + 1, vid, int(s["target"]), share_cost(s["cost_s"], 1 - f),
             share_cost(s["reverse_cost_s"], 1 - f))]


def values_sql(rows: list[tuple[int, int, int, float, float]]) -> str:
    """Extra edges ``(id, source, target, cost, reverse_cost)`` as SQL text to append to an edges query.

    The values are integers and floats made here, never client text; a closed direction is -1.
    """
    def num(x: float) -> str:
        return "-1" if x is None or not np.isfinite(x) or x < 0 else repr(float(x))

    body = ", ".join(f"({int(i)}::bigint, {int(a)}::bigint, {int(b)}::bigint, {num(c)}::float8, {num(r)}::float8)"
                     for i, a, b, c, r in rows)
    if not rows:
        return ""
    return f" UNION ALL SELECT * FROM (VALUES {body}) AS v(id, source, target, cost, reverse_cost)"  # noqa: S608


def tree_walk(rows: list[tuple[int, int, float]], edge_len: dict[int, float], edge_ends: dict[int, tuple[int, int]]
              ) -> tuple[dict[int, float], dict[int, int]]:
    """Metres from the root of a shortest-path tree to each node, and the first edge of each node's path.

    ``rows`` are ``(node, edge into node, agg_cost)`` as pgr_drivingDistance returns them (edge -1 for the
    root); a node's predecessor is its edge's other end. Sorting on the cumulative cost puts parents first
    (a parent's cost is never above its child's); ties from zero-cost edges are resolved by further passes.
    """
    metres: dict[int, float] = {}
    first: dict[int, int] = {}
    pending = sorted(rows, key=lambda r: r[2])
    while pending:
        left = []
        for node, edge, agg in pending:
            if edge == -1:
                metres[node], first[node] = 0.0, -1
                continue
            a, b = edge_ends[edge]
            pred = a if b == node else b
            if pred in metres:
                metres[node] = metres[pred] + edge_len[edge]
                first[node] = edge if first[pred] == -1 else first[pred]
            else:
                left.append((node, edge, agg))
        if len(left) == len(pending):
            raise RuntimeError("the shortest-path tree has nodes whose predecessor is not in the tree")
        pending = left
    return metres, first
