"""The independent check: for a random sample of villages, shortest paths computed by scipy's Dijkstra over
the same ``road_edge`` rows (forward, one search per village, one-way roads respected) equal the access
table's pgRouting times (reversed search from a super-source, combinations query) within 1 second: on the
demo as it is (close to a tree), on a generated grid with many cycles (where pgRouting 3.4's equicost
driving distance was off by minutes), and on a demo copy where a tenth of the edges were made one-way (some
in each direction); where scipy finds no path the table has none either."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from geo.travel.access import access_table
from tests.test_travel_routes import MAX_SNAP_M, WALK_KMH

ON = date(2026, 1, 1)
SAMPLE = 60


def scipy_times(url: str, origins: list[int], targets: list[int]) -> np.ndarray:
    """Seconds from each origin node to each target node (inf when unreachable), from road_edge alone."""
    with psycopg.connect(url) as conn:
        e = pd.DataFrame(conn.execute("SELECT source, target, cost_s, reverse_cost_s FROM road_edge").fetchall(),
                         columns=["s", "t", "c", "r"])
    arcs = pd.concat([e.loc[e.c >= 0, ["s", "t", "c"]].set_axis(["u", "v", "w"], axis=1),
                      e.loc[e.r >= 0, ["t", "s", "r"]].set_axis(["u", "v", "w"], axis=1)])
    arcs = arcs.groupby(["u", "v"], as_index=False)["w"].min()  # parallel roads: the faster (coo would add them)
    n = int(max(e.s.max(), e.t.max())) + 1
    graph = coo_matrix((arcs.w.clip(lower=1e-9), (arcs.u, arcs.v)), shape=(n, n)).tocsr()
    dist = dijkstra(graph, directed=True, indices=origins)
    return dist[:, targets]


def check_against_scipy(url: str, seed: int) -> tuple[int, int]:
    """(trips compared as times, trips both sides found impossible)."""
    with psycopg.connect(url) as conn:
        t = access_table(conn, on=ON, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
        st = pd.DataFrame(conn.execute(
            "SELECT id FROM station WHERE (valid_from IS NULL OR valid_from <= %s) AND "
            "(valid_to IS NULL OR valid_to >= %s)", [ON, ON]).fetchall(), columns=["id"])
    stations = t.drop_duplicates("nearest_station_id").set_index("nearest_station_id")
    sample = t.sample(SAMPLE, random_state=seed)
    # Every station's node and access leg, from the table's own rows (both columns name the same stations).
    legs = pd.concat([
        t[["own_station_id", "own_station_node", "own_station_access_s"]].set_axis(["id", "node", "access_s"], axis=1),
        t[["nearest_station_id", "nearest_station_node", "nearest_station_access_s"]].set_axis(
            ["id", "node", "access_s"], axis=1)]).dropna().drop_duplicates("id").set_index("id")
    assert len(stations) > 1 and len(legs) <= len(st)
    nodes = legs["node"].astype(int).tolist()
    d = scipy_times(url, sample["village_node"].astype(int).tolist(), nodes)
    own_col = {sid: k for k, sid in enumerate(legs.index)}
    checked = impossible = 0
    for i, (_, row) in enumerate(sample.iterrows()):
        own = d[i, own_col[row["own_station_id"]]] if row["own_station_id"] in own_col else np.inf
        if np.isinf(own):
            assert np.isnan(row["own_station_network_s"])
            impossible += 1
        else:
            assert row["own_station_network_s"] == pytest.approx(own, abs=1.0)
            checked += 1
        near = np.min(d[i] + legs["access_s"].to_numpy())
        if np.isinf(near):
            assert np.isnan(row["nearest_station_s"])
            impossible += 1
        else:
            assert row["nearest_station_s"] - row["village_access_s"] == pytest.approx(near, abs=1.0)
            # The station the table names is one of the nearest (ties aside).
            k = own_col.get(row["nearest_station_id"])
            if k is not None:
                assert d[i, k] + legs["access_s"].iloc[k] == pytest.approx(near, abs=1.0)
            checked += 1
    return checked, impossible


def test_demo_times_equal_scipy(demo_db):
    assert check_against_scipy(demo_db, seed=13) == (2 * SAMPLE, 0)


def test_one_way_times_equal_scipy(demo_db_rw):
    with psycopg.connect(demo_db_rw, autocommit=True) as conn:
        # A tenth of the edges one-way, half of them each way (closing either column), at random but fixed.
        # The demo's graph is close to a tree, so this already cuts some villages off their stations.
        conn.execute("SELECT setseed(0.42)")
        conn.execute("UPDATE road_edge e SET reverse_cost_s = CASE WHEN z.r < 0.5 THEN -1 ELSE reverse_cost_s END, "
                     "cost_s = CASE WHEN z.r >= 0.5 THEN -1 ELSE cost_s END "
                     "FROM (SELECT id, random() AS r FROM road_edge WHERE id % 10 = 0 ORDER BY id) z WHERE z.id = e.id")
        closed = conn.execute("SELECT count(*) FILTER (WHERE cost_s = -1), count(*) FILTER (WHERE reverse_cost_s = -1)"
                              " FROM road_edge").fetchone()
    assert min(closed) > 400
    checked, impossible = check_against_scipy(demo_db_rw, seed=7)
    assert checked >= SAMPLE / 2 and impossible > 0  # both cases compared


def test_grid_with_cycles_equals_scipy(empty_db):
    from bench.travel import build_graph

    build_graph(empty_db, grid=50, villages=400)
    checked, _ = check_against_scipy(empty_db, seed=3)
    assert checked >= SAMPLE
