"""The hot-spot analysis against the demo's ground truth (demo_planted_cluster) and against the null.

The planted clusters' effect sizes are the demo data file's (data/demo/dienbien.yaml incidents.planted), fixed
before these tests were written. Three scenes:
- the demo itself: its planted cells must be found (>= 90 % hot at 95 %);
- the demo's planted clusters, planted by the demo's own code with the demo's effect sizes, on a background
  without spatial structure (as many incidents of each category as the demo has, uniform over the province):
  recovery, the share of hot cells far from any planted cluster (<= 5 %) and each cluster's emerging pattern.
  The demo's own background is not that null: it follows population, roads and the border, and Gi* rightly
  finds its concentrations too (the closing note of issue 14 gives those figures);
- the null alone (several seeds): hot cells at no more than the nominal false-discovery rate.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import psycopg
import pytest
import shapely

from data.demo.clusters import plant
from data.demo.gen_util import to_metric
from data.demo.loader import read_config
from data.ops.hotspot_runs import HotspotParams, compute
from geo.hotspots import grid
from geo.hotspots.analysis import Cells, emerging_frame, gi_star_frame, hex_cells, hex_index

HOT = ("hot_95", "hot_99")
PLANTED_CATEGORIES = ("drugs", "theft", "illegal_border_crossing")


@pytest.fixture(scope="module")
def db(demo_db: str):
    with psycopg.connect(demo_db) as conn:
        yield conn


@pytest.fixture(scope="module")
def truth(db) -> list[dict]:
    cols = ("name", "category", "cell_size_m", "cells", "trend", "effect", "starts_at", "ends_at")
    return [dict(zip(cols, r, strict=True)) for r in db.execute(
        f"SELECT {', '.join(cols)} FROM demo_planted_cluster ORDER BY id").fetchall()]


@pytest.fixture(scope="module")
def params() -> HotspotParams:
    return HotspotParams.defaults()


def _square_centres(cluster: dict) -> tuple[np.ndarray, np.ndarray]:
    """Centres (metres, the grid's CRS) of a planted cluster's square cells E{ix}N{iy}."""
    size = cluster["cell_size_m"]
    ij = [tuple(int(v) for v in c[1:].split("N")) for c in cluster["cells"]]
    return np.array([(i + 0.5) * size for i, _ in ij]), np.array([(j + 0.5) * size for _, j in ij])


def _planted_cells(cells: Cells, cluster: dict, width: float) -> np.ndarray:
    x, y = _square_centres(cluster)
    idx = hex_index(cells, x, y, width)
    assert (idx >= 0).all(), f"{cluster['name']}: a planted cell lies outside the grid"
    return idx


def _far_from_clusters(cells: Cells, clusters: list[dict], distance: float) -> np.ndarray:
    squares = shapely.union_all([shapely.box(x - c["cell_size_m"] / 2, y - c["cell_size_m"] / 2,
                                             x + c["cell_size_m"] / 2, y + c["cell_size_m"] / 2)
                                 for c in clusters for x, y in zip(*_square_centres(c), strict=True)])
    return shapely.distance(shapely.points(cells.x, cells.y), squares) > distance


def test_the_demo_srid_is_the_grid_the_analysis_uses(truth, params) -> None:
    assert {c["effect"]["grid"]["srid"] for c in truth} == {params.srid}


def test_on_the_demo_the_planted_cells_are_found(db, truth, params) -> None:
    found, total = 0, 0
    for category in PLANTED_CATEGORIES:
        mine = [c for c in truth if c["category"] == category]
        start = min(c["effect"]["period_start"] for c in mine)
        p = HotspotParams.defaults(categories=(category,), since=datetime.fromisoformat(start),
                                   until=max(c["ends_at"] for c in mine))
        done = compute(db, p)
        classes = done.frame["class"].to_numpy()
        for c in mine:
            idx = _planted_cells(done.cells, c, p.cell_m)
            found += int(np.isin(classes[idx], HOT).sum())
            total += len(idx)
    assert total >= 10 and found / total >= 0.9, f"{found} of {total} planted cells hot at 95 %"


@pytest.fixture(scope="module")
def null_scene(db, truth, params):
    """The demo's planted clusters (the demo's code and data file) on a uniform background, per category:
    (cells, {category: (cell index, period index)}, periods)."""
    cfg = read_config()
    start = datetime.fromisoformat(truth[0]["effect"]["period_start"])
    until = truth[0]["ends_at"]
    planted = plant(db, cfg, np.random.default_rng(2024), start, until)
    area = shapely.from_wkb(db.execute(
        "SELECT ST_AsBinary(ST_Transform(ST_Union(geom), %s)) FROM admin_unit WHERE era = '2025' "
        "AND kind IN ('commune', 'ward', 'township')", [params.srid]).fetchone()[0])
    cells = hex_cells(area, params.cell_m, params.band_m)
    periods = int(cfg["incidents"]["periods"])
    plen = (until - start).total_seconds() / periods
    px, py = to_metric(db, planted.lon, planted.lat, params.srid)
    rng = np.random.default_rng(7)
    scene = {}
    for category in PLANTED_CATEGORIES:
        n_demo = db.execute("SELECT count(*) FROM incident WHERE category = %s", [category]).fetchone()[0]
        mine = np.array(planted.category) == category
        bx, by = _uniform(area, n_demo - int(mine.sum()), rng)
        x, y = np.concatenate([px[mine], bx]), np.concatenate([py[mine], by])
        t = np.concatenate([planted.t[mine], rng.uniform(start.timestamp(), until.timestamp(), len(bx))])
        period = np.minimum(((t - start.timestamp()) // plen).astype(int), periods - 1)
        scene[category] = (hex_index(cells, x, y, params.cell_m), period)
    return cells, scene, periods


def _uniform(area: shapely.Geometry, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = area.bounds
    shapely.prepare(area)
    xs, ys = [], []
    while sum(len(v) for v in xs) < n:
        x, y = rng.uniform(x0, x1, 2 * n), rng.uniform(y0, y1, 2 * n)
        inside = shapely.contains_xy(area, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def test_planted_clusters_on_a_null_background_are_found_and_little_else(null_scene, truth, params) -> None:
    cells, scene, _periods = null_scene
    found = total = hot_total = hot_far = 0
    far = _far_from_clusters(cells, truth, params.band_m)
    for category, (index, _period) in scene.items():
        frame, _notes = gi_star_frame(cells, index, params.min_incidents)
        hot = np.isin(frame["class"].to_numpy(), HOT)
        for c in (c for c in truth if c["category"] == category):
            idx = _planted_cells(cells, c, params.cell_m)
            found += int(hot[idx].sum())
            total += len(idx)
        hot_total += int(hot.sum())
        hot_far += int((hot & far).sum())
    assert found / total >= 0.9, f"{found} of {total} planted cells hot at 95 %"
    assert hot_total and hot_far / hot_total <= 0.05, f"{hot_far} of {hot_total} hot cells far from every cluster"


# What the established definitions make of the planted designs that 24 monthly tests can see: the
# intensifying cluster starts at 2-3 incidents a month in 16 km2, not significant on their own, so its first
# months are not hot and it is "consecutive" (hot in fewer than 90 % of the months); the diminishing cluster
# ends at 1-2 a month, so its last months are not hot and it is "historical". The ground-truth rows name the
# generating trend; the closing note of issue 14 reports this difference instead of re-labelling the rows.
SEEN_AS = {"intensifying_hot": "consecutive_hot", "diminishing_hot": "historical_hot"}


def test_each_planted_cluster_gets_its_emerging_pattern(null_scene, truth, params) -> None:
    cells, scene, periods = null_scene
    got, trends = {}, {}
    for category, (index, period) in scene.items():
        frame, _notes = emerging_frame(cells, index, period, periods, params.time_steps, params.confidence,
                                       params.min_incidents_per_month)
        for c in (c for c in truth if c["category"] == category):
            rows = frame.iloc[_planted_cells(cells, c, params.cell_m)]
            got[c["name"]] = Counter(rows["trend"]).most_common(1)[0][0]
            rising = (rows["trend_p"] < 0.10) & (rows["trend_z"] > 0)
            falling = (rows["trend_p"] < 0.10) & (rows["trend_z"] < 0)
            trends[c["name"]] = ("rising" if rising.mean() > 0.5 else "falling" if falling.mean() > 0.5
                                 else "flat")
            sp = c["effect"]["start_period"]
            if sp:  # never hot before it was planted
                assert not any("+" in b[:sp - 1] for b in rows["bins"]), (c["name"], list(rows["bins"]))
    assert got == {c["name"]: SEEN_AS.get(c["trend"], c["trend"]) for c in truth}
    # The trend each design plants is the one Mann-Kendall finds in the cluster's z-scores.
    expected = {c["name"]: "rising" if c["effect"]["slope_per_period"] > 0 or c["effect"]["start_period"]
                else "falling" if c["effect"]["slope_per_period"] < 0 else "flat" for c in truth}
    assert trends == expected


@pytest.mark.parametrize("incidents", [400, 4000])
def test_no_clusters_no_hot_spots_beyond_the_false_discovery_rate(db, params, incidents) -> None:
    """Under complete spatial randomness every discovery is false, so the FDR is the share of runs with any
    hot cell; 20 seeds at q = 0.05 allow at most 3 (P(4 or more) = 1.6 %). Gi*'s normal p alone fails this
    (13 of 40 runs at 3,947 incidents)."""
    area = shapely.from_wkb(db.execute(
        "SELECT ST_AsBinary(ST_Transform(ST_Union(geom), %s)) FROM admin_unit WHERE era = '2025' "
        "AND kind IN ('commune', 'ward', 'township')", [params.srid]).fetchone()[0])
    cells = hex_cells(area, params.cell_m, params.band_m)
    runs_with_hot, shares = 0, []
    for seed in range(20):
        x, y = _uniform(area, incidents, np.random.default_rng(seed))
        frame, _notes = gi_star_frame(cells, hex_index(cells, x, y, params.cell_m), params.min_incidents)
        hot = np.isin(frame["class"].to_numpy(), HOT)
        runs_with_hot += bool(hot.any())
        shares.append(hot.mean())
    assert runs_with_hot <= 3 and max(shares) <= 0.05, (runs_with_hot, max(shares))


def test_a_square_cell_centre_falls_in_one_hexagon() -> None:
    q, r = grid.cell_of(np.array([1000.0]), np.array([1000.0]), 2000.0)
    assert shapely.covers(grid.hexagon(int(q[0]), int(r[0]), 2000.0), shapely.Point(1000.0, 1000.0))
