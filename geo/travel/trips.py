"""Many trips at once: villages and stations attached to the graph, the nearest station of every village
in one multi-source pass, and trips to assigned stations in one query.

Residents travel TO the station, so both searches run over the reversed graph from the stations: the cost
of reaching a station from node v in the real graph is the cost of reaching v from the station in the
reversed one, one-way roads included. Times in seconds, distances in metres (geodesic for straight lines,
``road_edge.length_m`` on the road, walking legs geodesic).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg

from data import vocab
from geo.geodesic import GEOD
from geo.travel.network import Closures, attach, edges_sql, require_roads, snap, tree_walk, values_sql

VILLAGES_SQL = """
SELECT s.id, s.name, coalesce(s.population, 0), s.unit_id, u.code, u.name, s.pre2025_unit_id, o.code, o.name,
       o.parent_id, ST_X(s.geom), ST_Y(s.geom)
  FROM settlement s LEFT JOIN admin_unit u ON u.id = s.unit_id LEFT JOIN admin_unit o ON o.id = s.pre2025_unit_id
 ORDER BY s.id
"""
VILLAGE_COLUMNS = ["village_id", "village", "population", "unit_id", "commune_code", "commune", "pre2025_unit_id",
                   "pre2025_code", "pre2025_commune", "district_id", "lon", "lat"]

STATIONS_SQL = """
SELECT id, code, name, kind, unit_id, ST_X(geom), ST_Y(geom) FROM station
 WHERE (valid_from IS NULL OR valid_from <= %(on)s) AND (valid_to IS NULL OR valid_to >= %(on)s)
   AND kind = ANY(%(kinds)s) ORDER BY id
"""
STATION_COLUMNS = ["station_id", "station_code", "station", "kind", "unit_id", "lon", "lat"]


def villages(conn: psycopg.Connection) -> pd.DataFrame:
    """Every settlement with its 2025 commune, pre-2025 commune and that commune's district (EPSG:4326)."""
    df = pd.DataFrame(conn.execute(VILLAGES_SQL).fetchall(), columns=VILLAGE_COLUMNS)
    return df.astype({"population": int})


def stations(conn: psycopg.Connection, on: date, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Stations in service on ``on`` (their valid_from/valid_to), of ``kinds`` (default: every kind)."""
    kinds = list(kinds or vocab.codes(vocab.STATION_KINDS))
    return pd.DataFrame(conn.execute(STATIONS_SQL, {"on": on, "kinds": kinds}).fetchall(), columns=STATION_COLUMNS)


def attached(conn: psycopg.Connection, frame: pd.DataFrame, key: str, direction: str, max_snap_m: float,
             walk_kmh: float, closures: Closures | None = None) -> pd.DataFrame:
    """``frame`` with its points' attach node and access leg (see ``network.attach``), indexed by ``key``;
    edges closed by ``closures`` (default: in force now) are not snapped to."""
    require_roads(conn)
    sn = attach(snap(conn, frame[key], frame["lon"], frame["lat"], closures), direction, max_snap_m, walk_kmh)
    sn = sn.rename(columns={"key": key}).set_index(key)
    return frame.set_index(key).join(sn[["edge_id", "snap_m", "snap_ok", "node", "access_s", "access_m"]])


def straight_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic metres between arrays of points (NaN where a point is missing)."""
    a = [np.asarray(x, dtype=float) for x in (lon1, lat1, lon2, lat2)]
    ok = np.isfinite(a[0]) & np.isfinite(a[1]) & np.isfinite(a[2]) & np.isfinite(a[3])
    out = np.full(len(a[0]), np.nan)
    if ok.any():
        out[ok] = GEOD.inv(a[0][ok], a[1][ok], a[2][ok], a[3][ok])[2]
    return out


SUPER_SOURCE = -1


def nearest_station(conn: psycopg.Connection, st: pd.DataFrame, max_s: float = 1e9,
                    closures: Closures | None = None) -> pd.DataFrame:
    """For every network node, the station reached fastest from it and how (one search for all stations),
    over the roads open under ``closures`` (default: the closures in force now).

    ``st``: attached stations (``attached(..., "in", ...)``), indexed by station_id. A virtual super-source
    (-1) is joined to every station's attach node by a virtual edge costing that station's access leg, so a
    station far off the road is not treated as if it stood on it; one pgr_drivingDistance from the
    super-source over the reversed graph then gives every node its cheapest station, which is the one whose
    virtual edge starts the node's path in the tree. (pgr_drivingDistance with several starts and equicost
    was tried first: pgRouting 3.4 returned costs above the shortest on a graph with cycles.)
    Returns, indexed by node: ``station_id``, ``network_s`` (node to the station's node), ``total_s``
    (plus the station's access leg), ``network_m``, ``total_m``.
    """
    st = st[st["snap_ok"]]
    cols = ["station_id", "network_s", "total_s", "network_m", "total_m"]
    if st.empty:
        return pd.DataFrame(columns=cols)
    base = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM road_edge").fetchone()[0])
    ids = list(st.index)
    rows = [(base + i, SUPER_SOURCE, int(st.at[sid, "node"]), float(st.at[sid, "access_s"]), -1.0)
            for i, sid in enumerate(ids)]
    found = conn.execute(
        "SELECT d.node, d.edge, d.agg_cost, e.source, e.target, e.length_m "
        "FROM pgr_drivingDistance(%s, %s::bigint, %s, true) d LEFT JOIN road_edge e ON e.id = d.edge",
        [edges_sql(closures, reverse=True) + values_sql(rows), SUPER_SOURCE, max_s]).fetchall()
    df = pd.DataFrame(found, columns=["node", "edge", "agg_cost", "e_source", "e_target", "e_length"])
    ends = {int(e): (int(a), int(b)) for e, a, b in df[["edge", "e_source", "e_target"]].dropna().to_numpy()}
    lens = {int(e): float(m) for e, m in df[["edge", "e_length"]].dropna().to_numpy()}
    for i, sid in enumerate(ids):
        ends[base + i] = (SUPER_SOURCE, int(st.at[sid, "node"]))
        lens[base + i] = float(st.at[sid, "access_m"])
    metres, first = tree_walk(list(zip(df["node"].astype(int), df["edge"].astype(int), df["agg_cost"],
                                       strict=True)), lens, ends)
    df = df[df["node"] != SUPER_SOURCE]
    nodes = df["node"].astype(int).to_numpy()
    station = np.asarray(ids)[np.array([first[n] for n in nodes], dtype=np.int64) - base]
    out = pd.DataFrame({"station_id": station, "total_s": df["agg_cost"].to_numpy(float),
                        "total_m": [metres[n] for n in nodes]}, index=nodes)
    out["network_s"] = out["total_s"] - st.loc[station, "access_s"].to_numpy(float)
    out["network_m"] = out["total_m"] - st.loc[station, "access_m"].to_numpy(float)
    out.index.name = "node"
    return out[cols]


def pair_trips(conn: psycopg.Connection, pairs: pd.DataFrame, search_from: str = "to",
               closures: Closures | None = None) -> pd.DataFrame:
    """Node-to-node trips ``from_node -> to_node`` for ``pairs`` in one query (pgr_dijkstra, combinations),
    over the roads open under ``closures`` (default: the closures in force now).

    pgRouting runs one search per distinct source, stopping once that source's targets are found, so the
    search starts at the side with fewer distinct nodes: ``search_from="to"`` (villages to their stations)
    searches from each destination over the reversed graph, ``"from"`` (stations to incidents) from each
    origin over the forward graph. Returns ``pairs`` with ``network_s`` and ``network_m``; NaN where no
    path exists; 0 where both nodes are the same.
    """
    p = pairs[["from_node", "to_node"]].dropna().astype(int).drop_duplicates()
    p = p[p["from_node"] != p["to_node"]]
    found: dict[tuple[int, int], tuple[float, float]] = {}
    if not p.empty:
        backwards = search_from == "to"
        ends = [(int(b), int(a)) if backwards else (int(a), int(b)) for a, b in p.itertuples(index=False)]
        combos = ", ".join(f"({a}::bigint, {b}::bigint)" for a, b in ends)
        rows = conn.execute(
            "SELECT p.start_vid, p.end_vid, sum(p.cost), sum(e.length_m) "
            "FROM pgr_dijkstra(%s, %s, true) p JOIN road_edge e ON e.id = p.edge GROUP BY 1, 2",
            [edges_sql(closures, reverse=backwards),
             f"SELECT * FROM (VALUES {combos}) AS c(source, target)"],  # noqa: S608 (ints)
        ).fetchall()
        found = {((int(t), int(s)) if backwards else (int(s), int(t))): (float(c), float(m)) for s, t, c, m in rows}
    out = pairs.copy()
    net_s, net_m = [], []
    for a, b in zip(pairs["from_node"], pairs["to_node"], strict=True):
        if pd.isna(a) or pd.isna(b):
            net_s.append(np.nan)
            net_m.append(np.nan)
        elif int(a) == int(b):
            net_s.append(0.0)
            net_m.append(0.0)
        else:
            c, m = found.get((int(a), int(b)), (np.nan, np.nan))
            net_s.append(c)
            net_m.append(m)
    out["network_s"], out["network_m"] = net_s, net_m
    return out
