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

Road closures: every query here reads the edges through ``road_edges_sql`` / ``edges_sql`` / ``snap_sql`` of
a ``Closures`` (a time, default now, and optional hypothetical closures), which call the one SQL function
``sitmap_closed_edges`` (migration 0020): an edge within SITMAP_CLOSURE_SNAP_M of a closure in force costs -1
both ways (pgRouting skips it) and no point snaps onto it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from data.settings import get_settings

# The province's clock: a time without an offset, and the day of a date-based analysis, are read in it.
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local_today() -> date:
    """Today in the province. ``date.today()`` is the machine's day (UTC on a server): from 17:00 UTC it is
    still yesterday there, and a date-based analysis of "today" would look at yesterday's noon."""
    return datetime.now(TZ).date()


CLOSURE_KINDS = ("Point", "LineString", "MultiPoint", "MultiLineString")


def _closure_snap_m() -> float:
    return get_settings().closure_snap_m


def closure_geometry(value: Any) -> BaseGeometry:
    """A hypothetical closure as a shapely geometry: WKT (``SRID=4326;`` allowed), a GeoJSON geometry dict or
    a shapely geometry, EPSG:4326 lon/lat; a point or a line (or several). Raises TravelError saying why."""
    try:
        if isinstance(value, BaseGeometry):
            g = value
        elif isinstance(value, str):
            text = value.split(";", 1)[1] if value.upper().startswith("SRID=") else value
            g = shapely.from_wkt(text)
        elif isinstance(value, dict):
            g = shape(value)
        else:
            raise TypeError(type(value).__name__)
    except Exception as exc:  # noqa: BLE001 (any unreadable input gets the same answer)
        raise TravelError(f"a closure must be a WKT or GeoJSON point or line in lon/lat (EPSG:4326), not {value!r:.80}"
                          f" ({exc})") from None
    if g.geom_type not in CLOSURE_KINDS or g.is_empty:
        raise TravelError(f"a closure must be a non-empty {', '.join(CLOSURE_KINDS)}, not {g.geom_type}")
    xy = shapely.get_coordinates(g)
    if not np.isfinite(xy).all() or (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        raise TravelError("a closure's coordinates must be lon in [-180, 180] and lat in [-90, 90] (EPSG:4326)")
    return g


@dataclass(frozen=True)
class Closures:
    """Which road closures a travel question respects: the closures of the ``road_closure`` table in force at
    ``at`` (None: the database's ``now()``; a naive time is Asia/Ho_Chi_Minh) and the hypothetical ``extra``
    ones (not in the table: a what-if), each closing both ways every edge within ``snap_m`` metres
    (default SITMAP_CLOSURE_SNAP_M). The one definition is the SQL function ``sitmap_closed_edges``
    (migration 0020); this only renders its call into the edge queries."""

    at: datetime | None = None
    extra: tuple[BaseGeometry, ...] = ()
    snap_m: float = field(default_factory=_closure_snap_m)

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            object.__setattr__(self, "at", self.at.replace(tzinfo=TZ))
        object.__setattr__(self, "extra", tuple(closure_geometry(g) for g in self.extra))
        if not (math.isfinite(self.snap_m) and self.snap_m > 0):
            raise TravelError(f"the closure distance must be a positive number of metres, not {self.snap_m}")

    @classmethod
    def on_day(cls, on: date, extra: Iterable[Any] = ()) -> Closures:
        """Closures of a date-based analysis: today's (Asia/Ho_Chi_Minh) are those in force now, another
        day's those in force at its noon."""
        now = datetime.now(TZ)
        at = now if on == now.date() else datetime.combine(on, time(12), TZ)
        return cls(at=at, extra=tuple(extra))

    def call_sql(self) -> str:
        """``sitmap_closed_edges(...)`` with this question's values as SQL literals (pgRouting takes its edges as
        text): an ISO time, a float and hex WKB, all made here, never client text."""
        at = "now()" if self.at is None else f"'{self.at.isoformat()}'::timestamptz"
        geoms = ", ".join(f"'{shapely.to_wkb(shapely.set_srid(g, 4326), hex=True, include_srid=True)}'::geometry"
                          for g in self.extra)
        extra = f"ARRAY[{geoms}]::geometry[]" if geoms else "'{}'::geometry[]"
        return f"sitmap_closed_edges({at}, {float(self.snap_m)!r}::float8, {extra})"


def road_edges_sql(closures: Closures | None = None) -> str:
    """``road_edge`` as the travel analyses see it (id, source, target, cost_s, reverse_cost_s, length_m, geom):
    the edges closed by ``closures`` (default: those in force now) cost -1 both ways."""
    c = closures or Closures()
    closed = c.call_sql()
    return ("SELECT r.id, r.source, r.target, CASE WHEN x.id IS NULL THEN r.cost_s ELSE -1 END AS cost_s, "  # noqa: S608
            "CASE WHEN x.id IS NULL THEN r.reverse_cost_s ELSE -1 END AS reverse_cost_s, r.length_m, r.geom "
            f"FROM road_edge r LEFT JOIN {closed} AS x(id) ON x.id = r.id")


def edges_sql(closures: Closures | None = None, *, reverse: bool = False) -> str:
    """The pgRouting edges query (id, source, target, cost, reverse_cost) under ``closures``.

    Forward graph: a trip leaves ``source``. Reversed (``reverse=True``): every direction swapped, so a search
    from the destinations over it yields the cost of reaching them (residents travelling TO a station)."""
    cost, back = ("reverse_cost_s", "cost_s") if reverse else ("cost_s", "reverse_cost_s")
    return (f"SELECT id, source, target, {cost} AS cost, {back} AS reverse_cost "  # noqa: S608 (trusted text)
            f"FROM ({road_edges_sql(closures)}) e")


def closed_edge_ids(conn: psycopg.Connection, closures: Closures | None = None) -> list[int]:
    """The ids of the edges ``closures`` close, ascending."""
    c = closures or Closures()
    query = f"SELECT x FROM {c.call_sql()} AS x ORDER BY 1"  # noqa: S608 (literals made here)
    return [int(r[0]) for r in conn.execute(query).fetchall()]


def closures_attrs(conn: psycopg.Connection, closures: Closures | None = None) -> dict[str, object]:
    """What an output says about the closures it respected: when, how many drawn ones, the edges closed."""
    c = closures or Closures()
    return {"closures_at": c.at.isoformat() if c.at is not None else "now",
            "hypothetical_closures": len(c.extra), "closure_snap_m": c.snap_m,
            "closed_edges": closed_edge_ids(conn, c)}


# Every road as built, no closure respected: only to tell a closure from a missing road in an answer.
OPEN_EDGES_SQL = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge"

# The edges of the closures in force now (default closure distance): for callers that ask about now.
EDGES_SQL = edges_sql()
REVERSED_EDGES_SQL = edges_sql(reverse=True)

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
# A closed edge is left out here (not given cost -1): the index keeps proposing the next nearest open ones.
_SNAP_SQL = """
SELECT p.key, e.id, e.source, e.target, e.cost_s, e.reverse_cost_s, e.length_m, e.d,
       ST_LineLocatePoint(e.geom, p.g), ST_X(ST_ClosestPoint(e.geom, p.g)), ST_Y(ST_ClosestPoint(e.geom, p.g))
  FROM (SELECT key, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g
          FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS t(key, lon, lat)) p
  LEFT JOIN LATERAL (
        SELECT c.*, ST_Distance(p.g::geography, c.geom::geography) AS d
          FROM (SELECT * FROM road_edge WHERE (cost_s >= 0 OR reverse_cost_s >= 0)
                   AND id <> ALL(coalesce((SELECT array_agg(x.id) FROM {closed} AS x(id)), '{{}}'))
                 ORDER BY geom <-> p.g LIMIT 8) c
         ORDER BY d, c.id LIMIT 1) e ON true
"""


def snap_sql(closures: Closures | None = None) -> str:
    """The snapping query: nearest edge that is open in a direction and not closed by ``closures``."""
    return _SNAP_SQL.format(closed=(closures or Closures()).call_sql())


SNAP_SQL = snap_sql()

SNAP_COLUMNS = ["key", "edge_id", "source", "target", "cost_s", "reverse_cost_s", "length_m", "snap_m",
                "fraction", "snap_lon", "snap_lat"]


def snap(conn: psycopg.Connection, keys, lons, lats, closures: Closures | None = None) -> pd.DataFrame:
    """Nearest open edge of each point (EPSG:4326 lon/lat), in one query; an edge closed by ``closures``
    (default: those in force now) is not open.

    Columns: ``key``, ``edge_id`` (NaN when there are no roads), the edge's ``source``, ``target``,
    ``cost_s``, ``reverse_cost_s``, ``length_m``; ``snap_m`` (geodesic metres from the point to the edge),
    ``fraction`` (0 at ``source``, 1 at ``target``) and ``snap_lon``/``snap_lat`` (the snapped position).
    """
    keys = [int(k) for k in keys]
    rows = conn.execute(snap_sql(closures), [keys, [float(x) for x in lons], [float(y) for y in lats]]).fetchall()
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
