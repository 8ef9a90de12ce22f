"""geo/hotspots against independent implementations and known answers, without a database or HTTP."""

from __future__ import annotations

import warnings

import numpy as np
import pymannkendall
import pytest
import shapely
from esda.getisord import G_Local
from libpysal.weights import DistanceBand, W

from geo.hotspots import emerging, gistar, grid, trend, weights
from geo.hotspots.analysis import gi_star_frame, hex_cells, hex_index


def _hex_area() -> shapely.Geometry:
    """An irregular area (metres) some 30 km across, holes and all, for a grid to cover."""
    return shapely.Polygon([(0, 0), (30_000, 2_000), (28_000, 25_000), (12_000, 31_000), (-3_000, 18_000)],
                           holes=[[(10_000, 10_000), (14_000, 10_000), (12_000, 14_000)]])


def test_a_point_falls_in_the_hexagon_whose_outline_holds_it() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-20_000, 20_000, 5000), rng.uniform(-20_000, 20_000, 5000)
    q, r = grid.cell_of(x, y, 1000.0)
    outlines = grid.outlines(q, r, 1000.0)
    assert shapely.covers(outlines, shapely.points(x, y)).all()
    # Centres of neighbours are one width apart; a hexagon's area is sqrt(3)/2 width^2.
    cx, cy = grid.centres(np.array([0, 1, 0]), np.array([0, 0, 1]), 1000.0)
    assert np.allclose(np.hypot(cx[1:] - cx[0], cy[1:] - cy[0]), 1000.0)
    assert shapely.area(outlines[0]) == pytest.approx(np.sqrt(3) / 2 * 1000.0 ** 2)


def test_the_grid_covers_the_area_once_and_each_inner_cell_has_six_neighbours() -> None:
    area = _hex_area()
    cells = hex_cells(area, 2000.0, 2100.0)
    assert shapely.union_all(cells.outlines).symmetric_difference(area).area < 1e-3 * area.area
    assert sum(shapely.area(cells.outlines)) == pytest.approx(area.area, rel=1e-9)
    inner = [i for i, g in enumerate(cells.outlines) if g.area == pytest.approx(np.sqrt(3) / 2 * 2000.0 ** 2)]
    assert inner and max(cells.neighbours[inner]) == 6
    idx = hex_index(cells, np.array([1.0, 1e9]), np.array([1.0, 1e9]), 2000.0)
    assert idx[1] == -1 and shapely.covers(cells.outlines[idx[0]], shapely.Point(1.0, 1.0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gi_star_z_scores_equal_pysal_esda(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cells = hex_cells(_hex_area(), 1500.0, 1600.0)
    n = len(cells.ids)
    y = rng.poisson(rng.gamma(0.6, 2.0, n)).astype(float)
    y[:5] += 25  # a cluster
    ours = gistar.gi_star(y, cells.weights)
    # esda with libpysal weights built the usual way: a distance band on the centres, binary.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = DistanceBand(np.column_stack([cells.x, cells.y]), threshold=1600.0, binary=True, silence_warnings=True)
        theirs = G_Local(y, w, transform="B", star=True, permutations=0)
    assert (w.sparse != cells.weights).nnz == 0
    assert np.max(np.abs(ours - theirs.Zs)) < 1e-6
    # And from an explicit neighbour list (communes): the same numbers.
    neighbours = {i: list(cells.weights[i].indices) for i in range(n)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs2 = G_Local(y, W(neighbours, silence_warnings=True), transform="B", star=True, permutations=0)
    assert np.max(np.abs(ours - theirs2.Zs)) < 1e-6


def test_fdr_adjustment_is_benjamini_hochberg() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    m = len(p)
    # Step-up by hand: adjusted p_(i) = min over j >= i of p_(j) m / j.
    by_hand = np.minimum.accumulate((p * m / np.arange(1, m + 1))[::-1])[::-1]
    assert np.allclose(gistar.fdr_adjust(p), np.minimum(by_hand, 1))
    classes = gistar.classify(np.array([3.0] * m), gistar.fdr_adjust(p))
    assert list(classes[:2]) == ["hot_95", "hot_95"] and classes[-1] == "not_significant"


def test_classes_follow_adjusted_p_and_the_sign_of_z_and_unusable_cells_are_insufficient() -> None:
    z = np.array([3.0, 2.0, 1.7, -3.0, -2.0, 0.1, np.nan, 4.0])
    p = np.array([0.005, 0.04, 0.09, 0.005, 0.04, 0.9, np.nan, 0.001])
    usable = np.array([True] * 7 + [False])
    assert list(gistar.classify(z, p, usable)) == ["hot_99", "hot_95", "hot_90", "cold_99", "cold_95",
                                                    "not_significant", "insufficient", "insufficient"]


def test_too_few_incidents_classify_nothing_and_say_so() -> None:
    cells = hex_cells(_hex_area(), 2000.0, 2100.0)
    index = np.array([0] * 12 + [1] * 5)
    frame, notes = gi_star_frame(cells, index, min_incidents=30)
    assert set(frame["class"]) == {"insufficient"}
    assert any("Only 17 incidents" in n and "30" in n for n in notes)


def test_a_single_incident_in_a_quiet_area_is_not_a_hot_spot() -> None:
    """Gi*'s normal p alone calls one incident among few a 99 % hot spot; the exact count test does not."""
    cells = hex_cells(_hex_area(), 1000.0, 1100.0)
    n = len(cells.ids)
    rng = np.random.default_rng(5)
    index = rng.integers(0, n, 60)
    index[:3] = 7  # three incidents in one cell where about 0.1 are expected
    counts = np.bincount(index, minlength=n)
    z = gistar.gi_star(counts, cells.weights)
    assert gistar.classify(z, gistar.fdr_adjust(gistar.p_values(z)))[7].startswith("hot")
    frame, _notes = gi_star_frame(cells, index, min_incidents=30)
    assert frame["class"][7] == "not_significant"


@pytest.mark.parametrize("seed", range(6))
def test_mann_kendall_equals_pymannkendall(seed: int) -> None:
    rng = np.random.default_rng(seed)
    series = np.round(rng.normal(0, 1, (8, 24)) + np.linspace(0, seed / 2, 24), 1)  # ties from the rounding
    series[0] = 1.0  # all tied
    ours = trend.mann_kendall(series)
    for i, row in enumerate(series):
        ref = pymannkendall.original_test(row)
        assert ours.s[i] == ref.s and ours.z[i] == pytest.approx(ref.z, abs=1e-9)
        assert ours.p[i] == pytest.approx(ref.p, abs=1e-9)


def _marks(text: str) -> tuple[np.ndarray, np.ndarray]:
    return np.array([c == "+" for c in text]), np.array([c == "-" for c in text])


@pytest.mark.parametrize(("bins", "rising", "falling", "expected"), [
    ("." * 23 + "+", False, False, "new_hot"),
    ("." * 18 + "+" * 6, True, False, "consecutive_hot"),         # starts in month 18 of 24 and stays
    ("+" * 24, True, False, "intensifying_hot"),
    ("+" * 24, False, False, "persistent_hot"),
    ("." + "+" * 23, False, True, "diminishing_hot"),
    ("+" * 22 + "..", False, True, "historical_hot"),
    ("..+...+...+..+..+.....+", False, False, "sporadic_hot"),
    ("..+...+...+..+..+......", False, False, "sporadic_hot"),    # on again, off again; never cold
    ("--......+..+.........++", False, False, "oscillating_hot"),
    ("." * 23 + "-", False, False, "new_cold"),
    ("." * 20 + "-" * 4, False, False, "consecutive_cold"),
    ("-" * 24, False, True, "intensifying_cold"),
    ("-" * 24, False, False, "persistent_cold"),
    ("-" * 24, True, False, "diminishing_cold"),
    ("-" * 23 + ".", False, False, "historical_cold"),
    ("..-....-....-...", False, False, "sporadic_cold"),
    ("++.....-.......-", False, False, "oscillating_cold"),
    ("." * 24, True, False, "no_pattern"),
    ("+.........-...........", False, False, "no_pattern"),       # both kinds, neither now
])
def test_emerging_patterns_follow_the_established_definitions(bins, rising, falling, expected) -> None:
    hot, cold = _marks(bins)
    assert emerging.pattern(hot, cold, rising, falling) == expected


def test_space_time_gi_star_is_gi_star_over_the_cube() -> None:
    """With a time window of 0 bins, a bin's z is Gi* over all n * T features with the spatial weights
    block-diagonal in time (computed here with esda)."""
    rng = np.random.default_rng(9)
    cells = hex_cells(_hex_area(), 3000.0, 3100.0)
    n, t = len(cells.ids), 6
    cube = rng.poisson(1.5, (n, t)).astype(float)
    ours = emerging.space_time_gi_star(cube, cells.weights, time_steps=0).z
    import scipy.sparse as sp

    big = sp.kron(sp.identity(t), cells.weights).tocsr()       # feature index = bin * n + cell
    neighbours = {i: list(big[i].indices) for i in range(n * t)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = G_Local(cube.T.ravel(), W(neighbours, silence_warnings=True), transform="B", star=True,
                      permutations=0)
    assert np.max(np.abs(ours - ref.Zs.reshape(t, n).T)) < 1e-6
    # With one bin back, each bin adds the previous bin's neighbourhood (the first bin has none before it).
    lagged = sp.kron(sp.identity(t), sp.identity(n)) + sp.kron(sp.eye(t, k=-1), gistar.with_self(cells.weights))
    lagged = (lagged + sp.kron(sp.identity(t), cells.weights)).tocsr()
    lagged.setdiag(0)
    lagged.eliminate_zeros()
    neighbours = {i: list(lagged[i].indices) for i in range(n * t)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref1 = G_Local(cube.T.ravel(), W(neighbours, silence_warnings=True), transform="B", star=True,
                       permutations=0)
    ours1 = emerging.space_time_gi_star(cube, cells.weights, time_steps=1).z
    assert np.max(np.abs(ours1 - ref1.Zs.reshape(t, n).T)) < 1e-6


def test_weights_from_pairs_are_symmetric_binary_and_ignore_self_pairs() -> None:
    w = weights.from_pairs(4, np.array([0, 1, 2, 2]), np.array([1, 0, 2, 3]))
    assert (w != w.T).nnz == 0 and set(w.data) == {1.0} and w.diagonal().sum() == 0
    assert list(weights.neighbour_counts(w)) == [1, 1, 1, 1]
