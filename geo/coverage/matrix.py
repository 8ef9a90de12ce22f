"""Travel seconds from every village (demand) to every candidate site, in one pass over the road graph.

Residents travel TO a site, so ``cost[i, j]`` is door to door: village i's access leg (walk to the road and
the part of its edge), the shortest road path from the village's node to the candidate's node, and the
candidate's access leg (``geo.travel.trips.attached``: villages ``out``, candidates ``in``). ``np.inf``:
unreachable (no road path, a point too far from any road, or beyond ``cutoff_s`` when one is given).

Why scipy and not pgRouting: the edges are read once (one ``SELECT`` of ``road_edge``, or of the caller's
edge query, e.g. one that closes roads) into a sparse matrix, and ``scipy.sparse.csgraph.dijkstra`` runs
the searches in C from the side with fewer distinct nodes, stopping at the cutoff, with nothing per pair
crossing the wire. A many-to-many ``pgr_dijkstraCost`` returns one row per (village, candidate) pair
(2,000 villages x 2,000 candidates is 4 million rows to build, send and parse) and rebuilds its graph from
SQL for each call. Parallel edges keep their cheapest cost; a one-way direction (cost < 0) is no edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geo.travel.network import EDGES_SQL, provenance
from geo.travel.trips import attached

# csgraph drops explicit zeros of a sparse matrix as "no edge" once they are summed away; a zero-cost edge
# (two nodes on the same spot) keeps a cost too small to change any figure.
ZERO_COST_S = 1e-9
# Rows of the dense (sources x graph nodes) distance block computed at once: bounds memory to
# CHUNK x nodes x 8 bytes (256 x 60,000 nodes = 120 MB).
CHUNK = 256


@dataclass(frozen=True)
class Graph:
    """The road graph as a sparse matrix: ``index`` maps a road node id to its row."""

    matrix: csr_matrix
    index: pd.Series  # road node id -> position

    def positions(self, nodes: pd.Series | np.ndarray) -> np.ndarray:
        """Positions of road node ids (-1 where the id is NaN or not in the graph)."""
        ids = pd.Series(np.asarray(nodes, dtype=float))
        pos = ids.map(self.index)
        return pos.fillna(-1).to_numpy(np.int64)


def read_graph(conn: psycopg.Connection, edges_sql: str = EDGES_SQL) -> Graph:
    """The forward graph of ``edges_sql`` (columns id, source, target, cost, reverse_cost; a negative cost
    closes that direction), read in one query."""
    rows = conn.execute(f"SELECT source, target, cost, reverse_cost FROM ({edges_sql}) e").fetchall()  # noqa: S608
    e = pd.DataFrame(rows, columns=["source", "target", "cost", "reverse_cost"], dtype=float)
    ids = np.unique(np.concatenate([e["source"].to_numpy(), e["target"].to_numpy()]))
    index = pd.Series(np.arange(len(ids)), index=ids)
    a, b = index[e["source"]].to_numpy(), index[e["target"]].to_numpy()
    fwd = pd.DataFrame({"a": a, "b": b, "c": e["cost"].to_numpy()})
    rev = pd.DataFrame({"a": b, "b": a, "c": e["reverse_cost"].to_numpy()})
    arcs = pd.concat([fwd, rev], ignore_index=True)
    arcs = arcs[(arcs["c"] >= 0) & np.isfinite(arcs["c"]) & (arcs["a"] != arcs["b"])]
    arcs = arcs.groupby(["a", "b"], sort=False)["c"].min().reset_index()
    cost = np.maximum(arcs["c"].to_numpy(float), ZERO_COST_S)
    m = csr_matrix((cost, (arcs["a"].to_numpy(), arcs["b"].to_numpy())), shape=(len(ids), len(ids)))
    return Graph(m, index)


def network_seconds(graph: Graph, from_pos: np.ndarray, to_pos: np.ndarray, cutoff_s: float = np.inf
                    ) -> np.ndarray:
    """Road seconds from each of ``from_pos`` to each of ``to_pos`` (graph positions, -1 = not attached),
    shape (len(from_pos), len(to_pos)); inf where there is no path or it is longer than ``cutoff_s``.

    The searches start from the side with fewer distinct nodes (forward from the origins, or over the
    transposed graph from the destinations), ``CHUNK`` sources at a time."""
    out = np.full((len(from_pos), len(to_pos)), np.inf)
    fo, to = from_pos[from_pos >= 0], to_pos[to_pos >= 0]
    if not len(fo) or not len(to):
        return out
    forward = len(np.unique(fo)) <= len(np.unique(to))
    src_all, dst_all = (from_pos, to_pos) if forward else (to_pos, from_pos)
    g = graph.matrix if forward else graph.matrix.T.tocsr()
    sources = np.unique(src_all[src_all >= 0])
    dst_ok = dst_all >= 0
    block = np.full((len(src_all), len(dst_all)), np.inf)
    where = {int(s): np.flatnonzero(src_all == s) for s in sources}
    limit = float(cutoff_s) if np.isfinite(cutoff_s) else np.inf
    for start in range(0, len(sources), CHUNK):
        batch = sources[start:start + CHUNK]
        d = dijkstra(g, directed=True, indices=batch, limit=limit)
        d = d[:, dst_all[dst_ok]]
        for k, s in enumerate(batch):
            block[np.ix_(where[int(s)], np.flatnonzero(dst_ok))] = d[k]
    return block if forward else np.ascontiguousarray(block.T)


@dataclass(frozen=True)
class TravelMatrix:
    """``seconds[i, j]``: village ``demand.iloc[i]`` to candidate ``candidates.iloc[j]``, door to door."""

    seconds: np.ndarray
    demand: pd.DataFrame  # the attached villages (index as given, e.g. village_id), with access legs
    candidates: pd.DataFrame  # the attached candidates (index as given, e.g. candidate_id)
    attrs: dict[str, object] = field(default_factory=dict)


def travel_matrix(conn: psycopg.Connection, demand: pd.DataFrame, candidates: pd.DataFrame, *,
                  demand_key: str, candidate_key: str, max_snap_m: float, walk_kmh: float,
                  cutoff_s: float = np.inf, edges_sql: str = EDGES_SQL, graph: Graph | None = None
                  ) -> TravelMatrix:
    """Door-to-door seconds from every row of ``demand`` to every row of ``candidates`` (both with ``lon``,
    ``lat`` in EPSG:4326 and their key column). ``cutoff_s``: times above it are inf (a search stops there).
    ``graph``: a graph already read (``read_graph``) to reuse across calls on the same edges."""
    dem = attached(conn, demand, demand_key, "out", max_snap_m, walk_kmh)
    can = attached(conn, candidates, candidate_key, "in", max_snap_m, walk_kmh)
    graph = graph or read_graph(conn, edges_sql)
    net = network_seconds(graph, graph.positions(dem["node"]), graph.positions(can["node"]), cutoff_s)
    d_acc = dem["access_s"].to_numpy(float)
    c_acc = can["access_s"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        secs = d_acc[:, None] + net + c_acc[None, :]
    secs[~np.isfinite(secs)] = np.inf
    if np.isfinite(cutoff_s):
        secs[secs > cutoff_s] = np.inf
    attrs = {**provenance(conn), "max_snap_m": max_snap_m, "walk_kmh": walk_kmh,
             "cutoff_s": None if not np.isfinite(cutoff_s) else float(cutoff_s)}
    return TravelMatrix(secs, dem, can, attrs)
