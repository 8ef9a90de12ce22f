"""Travel benchmark: the village access table on a dense generated road graph, against one pgRouting query
per village and against networkx; and isochrones for one station on the demo.

``python -m bench.travel [--grid 230] [--villages 3000] [--per-village-sample 150]``:

1. builds (once per size) a database ``sitmap_bench_travel`` on the embedded cluster (or DATABASE_URL's
   server): a jittered grid of roads over the province with ``2·g·(g-1)`` edges less a tenth dropped (230:
   ~95,000; the default 240 gives > 100,000), mixed road classes with the speeds of ``geo/road_costs``,
   slope factors, 3 % one-way; 45 square communes with a station each; villages on random nodes;
2. times ``geo.travel.access.access_table`` (one multi-source search for the nearest station, one
   combinations query for the own stations);
3. times one ``pgr_dijkstraCost`` query per village (village node to every station node, which answers both
   the nearest and the own station) on a random sample and extrapolates to all villages (``--per-village-all``
   runs them all), checking that the sample's times equal the table's;
4. times networkx: load the same rows, one multi-source Dijkstra over the reversed graph for the nearest
   station and one single-source Dijkstra per station for the own ones;
5. loads the demo into ``sitmap_bench_travel_demo`` (once) and times isochrones (15/30/60 min) for one
   commune station, median of repeated runs.
It prints times and ratios and asserts nothing: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from urllib.parse import urlsplit

import numpy as np
import psycopg

from data.db.connection import ensure_database
from data.db.migrate import migrate
from data.settings import get_settings
from geo.road_costs import class_speeds
from geo.travel.access import access_table
from geo.travel.isochrones import station_isochrones
from geo.travel.network import EDGES_SQL

ON = date(2026, 1, 1)
MAX_SNAP_M, WALK_KMH = 1000.0, 4.0
LON0, LON1, LAT0, LAT1 = 102.2, 103.6, 20.9, 22.4
CLASSES = ("national", "provincial", "commune", "village_track", "footpath")
CLASS_P = (0.05, 0.1, 0.35, 0.45, 0.05)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_url(name: str) -> str:
    s = get_settings()
    if s.database_url:
        parts = urlsplit(s.database_url.replace("postgresql+psycopg://", "postgresql://"))
        return parts._replace(path=f"/{name}").geturl()
    from data.db.cluster import Cluster

    cluster = Cluster.from_settings(s)
    cluster.start()
    return cluster.url(name)


def demo_database(name: str) -> str:
    """The demo loaded once into database ``name`` (a bench's own, kept between runs); its URL."""
    url = bench_url(name)
    ensure_database(url)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as c:
        if c.execute("SELECT count(*) FROM admin_unit").fetchone()[0] == 0:
            log(f"loading the demo into {name} (once)...")
            from data.demo.loader import load_demo

            load_demo(url, progress=False)
    return url


def build_graph(url: str, grid: int, villages: int, seed: int = 11) -> None:
    """The dense graph, communes, stations and villages (skipped when this size is already there)."""
    ensure_database(url)
    migrate(url)
    rng = np.random.default_rng(seed)
    with psycopg.connect(url, autocommit=True) as c:
        have = c.execute("SELECT count(*) FROM road_edge").fetchone()[0]
        tag = c.execute("SELECT count(*) FROM settlement").fetchone()[0]
        want = 2 * grid * (grid - 1)
        if want * 0.85 < have < want and tag == villages:
            log(f"bench graph present: {have} edges, {tag} villages")
            return
        log(f"building a {grid}x{grid} road grid...")
        for t in ("settlement", "station_status_history", "station", "road_edge"):
            c.execute(f"DELETE FROM {t}")  # noqa: S608 (constant names)
        c.execute("DELETE FROM admin_unit")
        xs = np.linspace(LON0, LON1, grid)
        ys = np.linspace(LAT0, LAT1, grid)
        step = (xs[1] - xs[0], ys[1] - ys[0])
        gx, gy = np.meshgrid(xs, ys)
        lon = gx + rng.uniform(-0.3, 0.3, gx.shape) * step[0]
        lat = gy + rng.uniform(-0.3, 0.3, gy.shape) * step[1]
        node = np.arange(grid * grid).reshape(grid, grid) + 1
        a = np.concatenate([node[:, :-1].ravel(), node[:-1, :].ravel()])
        b = np.concatenate([node[:, 1:].ravel(), node[1:, :].ravel()])
        keep = rng.random(len(a)) > 0.1
        a, b = a[keep], b[keep]
        flat_lon, flat_lat = lon.ravel(), lat.ravel()
        ax, ay, bx, by = flat_lon[a - 1], flat_lat[a - 1], flat_lon[b - 1], flat_lat[b - 1]
        length = np.hypot((bx - ax) * 111_320 * np.cos(np.radians((ay + by) / 2)), (by - ay) * 110_574)
        cls = rng.choice(CLASSES, size=len(a), p=CLASS_P)
        speeds = class_speeds(get_settings())
        speed = np.array([speeds[k] for k in cls])
        slope = rng.uniform(1.0, 1.6, len(a))
        cost = length / (speed / 3.6) * slope
        rev = np.where(rng.random(len(a)) < 0.03, -1.0, cost)
        with c.cursor().copy("COPY road_edge (id, source, target, road_class, length_m, speed_kmh, slope_factor, "
                             "cost_s, reverse_cost_s, is_generated, geom) FROM STDIN") as cp:
            for i in range(len(a)):
                cp.write_row((i + 1, int(a[i]), int(b[i]), cls[i], float(length[i]), float(speed[i]), float(slope[i]),
                              float(cost[i]), float(rev[i]), True,
                              f"SRID=4326;LINESTRING({ax[i]} {ay[i]}, {bx[i]} {by[i]})"))
        # 45 communes as a 9 x 5 grid of rectangles, a station at the node nearest each centre.
        cx, cy = np.linspace(LON0, LON1, 10), np.linspace(LAT0, LAT1, 6)
        for i in range(9):
            for j in range(5):
                code = f"B{i}{j}"
                uid = c.execute(
                    "INSERT INTO admin_unit (era, code, name, name_ascii, kind, is_generated, geom) VALUES ('2025', "
                    "%s, %s, %s, 'commune', true, ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326))) RETURNING id",
                    [code, f"Xã {code}", f"xa {code.lower()}", cx[i], cy[j], cx[i + 1], cy[j + 1]]).fetchone()[0]
                k = int(np.argmin(np.hypot(flat_lon - (cx[i] + cx[i + 1]) / 2, flat_lat - (cy[j] + cy[j + 1]) / 2)))
                c.execute("INSERT INTO station (code, name, kind, unit_id, hq_status, is_generated, geom) VALUES "
                          "(%s, %s, 'commune_police', %s, 'shared', true, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                          [f"CA-{code}", f"Công an xã {code}", uid, float(flat_lon[k]), float(flat_lat[k])])
        used = np.unique(np.concatenate([a, b]))
        picks = rng.choice(used, size=villages, replace=False)
        c.execute(
            "INSERT INTO settlement (name, name_ascii, kind, population, unit_id, is_generated, geom) "
            "SELECT 'Bản ' || k, 'ban ' || k, 'ban', p, (SELECT id FROM admin_unit u WHERE ST_Intersects(u.geom, g) "
            "ORDER BY id LIMIT 1), true, g FROM unnest(%s::int[], %s::int[], %s::float8[], %s::float8[]) "
            "AS t(k, p, x, y), LATERAL (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) g) z",
            [list(range(1, villages + 1)), rng.integers(50, 3000, villages).tolist(),
             flat_lon[picks - 1].tolist(), flat_lat[picks - 1].tolist()])
        c.execute("VACUUM ANALYZE road_edge")
        c.execute("VACUUM ANALYZE settlement")
        log(f"built {len(a)} edges, {villages} villages, 45 stations")


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def per_village(url: str, table, sample: int, seed: int = 5) -> tuple[float, int, float]:
    """Seconds for ``sample`` per-village queries, how many, and the largest difference from the table (s)."""
    # Villages on the grid's jittered rim may lie outside every commune: no own station to compare.
    rows = table[table["own_station_node"].notna()]
    rows = rows.sample(min(sample, len(rows)), random_state=seed)
    station_nodes = sorted({int(n) for n in table["own_station_node"].dropna()}
                           | {int(n) for n in table["nearest_station_node"].dropna()})
    worst = 0.0
    with psycopg.connect(url) as c:
        t = time.perf_counter()
        for _, r in rows.iterrows():
            got = dict(c.execute("SELECT end_vid, agg_cost FROM pgr_dijkstraCost(%s, %s::bigint, %s::bigint[], true)",
                                 [EDGES_SQL, int(r["village_node"]), station_nodes]).fetchall())
            if int(r["village_node"]) in station_nodes:
                got[int(r["village_node"])] = 0.0
            own = got.get(int(r["own_station_node"]), np.nan)
            if np.isfinite(own) or np.isfinite(r["own_station_network_s"]):
                worst = max(worst, abs(own - r["own_station_network_s"]))
            if got:
                worst = max(worst, abs(min(got.values()) - r["nearest_station_network_s"]))
        return time.perf_counter() - t, len(rows), worst


def networkx_baseline(url: str, table) -> float:
    import networkx as nx

    t = time.perf_counter()
    with psycopg.connect(url) as c:
        edges = c.execute("SELECT source, target, cost_s, reverse_cost_s FROM road_edge").fetchall()
    rg = nx.DiGraph()  # reversed graph: an arc v -> u for every road u -> v
    for s, tt, cost, rev in edges:
        if cost >= 0:
            rg.add_edge(tt, s, w=cost)
        if rev >= 0:
            rg.add_edge(s, tt, w=rev)
    stations = {int(n) for n in table["own_station_node"].dropna()}
    nx.multi_source_dijkstra_path_length(rg, stations, weight="w")
    for n in stations:
        nx.single_source_dijkstra_path_length(rg, n, weight="w")
    return time.perf_counter() - t


def demo_isochrones(repeats: int) -> list[float]:
    url = demo_database("sitmap_bench_travel_demo")
    with psycopg.connect(url, autocommit=True) as c:
        sid = c.execute("SELECT id FROM station WHERE kind = 'commune_police' AND valid_from IS NOT NULL "
                        "ORDER BY code LIMIT 1").fetchone()[0]
        times = []
        for _ in range(repeats + 1):
            _, s = timed(station_isochrones, c, sid, minutes=(15, 30, 60), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
            times.append(s)
    return times[1:]  # the first run warms the caches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=240)
    ap.add_argument("--villages", type=int, default=3000)
    ap.add_argument("--per-village-sample", type=int, default=150)
    ap.add_argument("--per-village-all", action="store_true")
    ap.add_argument("--isochrone-repeats", type=int, default=10)
    ap.add_argument("--skip-networkx", action="store_true")
    args = ap.parse_args()

    url = bench_url("sitmap_bench_travel")
    build_graph(url, args.grid, args.villages)
    with psycopg.connect(url) as c:
        n_edges = c.execute("SELECT count(*) FROM road_edge").fetchone()[0]
        table, ours = timed(access_table, c, on=ON, max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH)
    n = len(table)
    print(f"road graph: {n_edges:,} edges; {n:,} villages ({table['own_station_node'].isna().sum()} outside every "
          "commune); 45 stations")
    print(f"access table (one multi-source pass + one combinations query): {ours:8.2f} s")
    sample = n if args.per_village_all else args.per_village_sample
    spent, done, worst = per_village(url, table, sample)
    full = spent / done * n
    how = "measured" if done == n else f"extrapolated from {done}"
    print(f"one pgr_dijkstraCost per village ({how}):           {full:8.2f} s   "
          f"({spent / done * 1000:.0f} ms each; same times within {worst:.2g} s)  ratio {full / ours:5.1f}x "
          f"(target >= 20x)")
    if not args.skip_networkx:
        try:
            nxs = networkx_baseline(url, table)
            print(f"networkx (load, multi-source + one search per station):   {nxs:8.2f} s   ratio {nxs / ours:5.1f}x")
        except ImportError:
            print("networkx is not installed (pip install networkx): baseline skipped")
    iso = demo_isochrones(args.isochrone_repeats)
    print(f"isochrones 15/30/60 min for one station on the demo: median {statistics.median(iso) * 1000:.0f} ms, "
          f"max {max(iso) * 1000:.0f} ms over {len(iso)} runs (target < 300 ms)")
    print("note: the benchmark's graph and the demo's roads and speeds are generated")


if __name__ == "__main__":
    main()
