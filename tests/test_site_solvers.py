"""The site-selection solvers (geo/coverage/solvers.py) against brute force over every subset, and against spopt.

Pure: generated matrices, no database. Travel seconds; np.inf marks an unreachable pair. The chosen sets may
differ on ties, so answers are compared by objective value.
"""

from __future__ import annotations

import itertools
import math
import signal
import subprocess
import sys

import numpy as np
import pulp
import pytest
from spopt.locate import LSCP, MCLP, PMedian

from geo.coverage.solvers import ENGINES, end_cbc_runs_in, lscp, mclp, p_median

MAX_S = 1200.0


def instance(seed: int, n_d: int = 40, n_c: int = 13, inf_share: float = 0.25):
    """Villages and candidates on a plane, seconds ~ distance; some pairs unreachable, one village cut off."""
    rng = np.random.default_rng(seed)
    dem, cand = rng.random((n_d, 2)), rng.random((n_c, 2))
    cost = np.linalg.norm(dem[:, None, :] - cand[None, :, :], axis=2) * 3000
    cost[rng.random(cost.shape) < inf_share] = np.inf
    cost[0] = np.inf  # a village no road reaches
    weights = rng.integers(0, 500, n_d).astype(float)
    weights[1] = 0.0
    if seed % 2:
        # Three villages each reached from one candidate only: p-median with p < 3 has no finite answer.
        for i, j in ((2, 5), (3, 9), (4, 11)):
            cost[i] = np.inf
            cost[i, j] = 900.0
            weights[i] = 100.0
    return cost, weights


def brute_lscp(cover: np.ndarray) -> int:
    need = cover[cover.any(axis=1)]
    n_c = cover.shape[1]
    for k in range(n_c + 1):
        for s in itertools.combinations(range(n_c), k):
            if need[:, list(s)].any(axis=1).all():
                return k
    raise AssertionError("unreachable: all candidates cover all coverable demand")


def brute_mclp(cover, w, p, fixed) -> float:
    free = [j for j in range(cover.shape[1]) if j not in fixed]
    return max(float(w[cover[:, list(fixed) + list(s)].any(axis=1)].sum()) for s in itertools.combinations(free, p))


def brute_pmedian(cost, w, p, fixed) -> float:
    """Least weighted time over all p-subsets; demand no candidate reaches (or of zero weight) is left out."""
    dem = np.isfinite(cost).any(axis=1) & (w > 0)
    free = [j for j in range(cost.shape[1]) if j not in fixed]
    best = math.inf
    for s in itertools.combinations(free, p):
        t = cost[np.ix_(dem, list(fixed) + list(s))].min(axis=1)
        if np.isfinite(t).all():
            best = min(best, float((w[dem] * t).sum()))
    return best


SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_matches_brute_force_and_names_the_uncoverable(seed, engine):
    cost, _ = instance(seed)
    cover = cost <= MAX_S
    res = lscp(cost, MAX_S, solver=engine)
    assert res.status == "optimal" and res.gap == 0.0
    assert res.objective == len(res.chosen) == brute_lscp(cover)
    assert set(res.uncoverable) == set(np.flatnonzero(~cover.any(axis=1)))
    assert 0 in res.uncoverable
    coverable = cover.any(axis=1)
    assert cover[np.ix_(coverable, list(res.chosen))].any(axis=1).all()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [1, 2, 4])
def test_mclp_matches_brute_force_with_fixed_sites(seed, p, engine):
    cost, w = instance(seed)
    cover = cost <= MAX_S
    fixed = (2, 7)
    res = mclp(cost, w, MAX_S, p, fixed=fixed, solver=engine)
    assert res.status == "optimal"
    assert len(res.chosen) == p and not set(res.chosen) & set(fixed)
    assert res.objective == pytest.approx(brute_mclp(cover, w, p, fixed))
    assert res.covered_weight == res.objective
    base = float(w[cover[:, list(fixed)].any(axis=1)].sum())
    assert sum(g for _, g in res.gain_per_site) == pytest.approx(res.objective - base)
    assert sorted(j for j, _ in res.gain_per_site) == list(res.chosen)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [2, 3, 5])
@pytest.mark.parametrize("fixed", [(), (4,)])
def test_pmedian_matches_brute_force_dense_and_sparse(seed, p, fixed, engine):
    cost, w = instance(seed)
    want = brute_pmedian(cost, w, p, fixed)
    for cutoff in (None, 400.0):
        res = p_median(cost, w, p, fixed=fixed, cutoff_s=cutoff, solver=engine)
        assert res.solver.startswith({"cbc": "CBC", "highs": "HiGHS"}[engine])
        if math.isinf(want):
            assert res.status == "infeasible", (cutoff, res)
            continue
        assert res.status == "optimal", (cutoff, res)
        assert res.objective == pytest.approx(want), cutoff
        assert len(res.chosen) == p and 0 in res.uncoverable
        served = np.asarray(res.assigned)
        assert served[0] == -1
        assert sum(g for _, g in res.gain_per_site) == pytest.approx(float(w[np.isin(served, res.chosen)].sum()))


def test_some_generated_pmedian_is_infeasible_and_some_is_not():
    # The brute-force comparison above must exercise both outcomes, or it would not test the infeasible path.
    outcomes = {
        math.isinf(brute_pmedian(*instance(seed), p, fixed))
        for seed in SEEDS
        for p in (2, 3, 5)
        for fixed in ((), (4,))
    }
    assert outcomes == {True, False}


def medium(seed: int = 7, n_d: int = 160, n_c: int = 45):
    rng = np.random.default_rng(seed)
    dem, cand = rng.random((n_d, 2)), rng.random((n_c, 2))
    cost = np.linalg.norm(dem[:, None, :] - cand[None, :, :], axis=2) * 3000
    return cost, rng.integers(1, 800, n_d).astype(float)


def cbc():
    return pulp.PULP_CBC_CMD(msg=False)


def test_agrees_with_spopt_on_a_medium_instance():
    cost, w = medium()
    ref = LSCP.from_cost_matrix(cost, MAX_S / 2).solve(cbc())
    assert lscp(cost, MAX_S / 2).objective == pytest.approx(ref.problem.objective.value())

    fixed = np.array([3, 17])
    pre = np.zeros(cost.shape[1], dtype=int)
    pre[fixed] = 1
    ref = MCLP.from_cost_matrix(cost, w, MAX_S / 2, p_facilities=5 + len(fixed), predefined_facilities_arr=pre)
    ref = ref.solve(cbc())
    ours = mclp(cost, w, MAX_S / 2, 5, fixed=fixed)
    assert ours.objective == pytest.approx(ref.problem.objective.value())

    ref = PMedian.from_cost_matrix(cost, w, p_facilities=4).solve(cbc())
    want = ref.problem.objective.value()
    assert p_median(cost, w, 4).objective == pytest.approx(want)
    assert p_median(cost, w, 4, cutoff_s=600).objective == pytest.approx(want)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_time_limit_is_reported_as_such_with_a_feasible_answer(engine):
    # A random set cover of this size is far from proved optimal in one second (CBC's root alone takes longer).
    rng = np.random.default_rng(1)
    covers = rng.random((400, 200)) < 0.03
    cost = np.where(covers, 100.0, 10_000.0)
    res = lscp(cost, 500, time_limit_s=1, solver=engine)
    assert res.status == "time_limit"
    assert res.gap is not None and 0 < res.gap < 1
    need = covers.any(axis=1)
    assert covers[np.ix_(need, list(res.chosen))].any(axis=1).all()
    assert res.objective == len(res.chosen)


def test_the_watchdog_ends_only_the_solver_run_of_its_own_folder(tmp_path):
    # CBC overruns its limit inside a large root LP; the watchdog ends the child that names this run's folder.
    mine, other = tmp_path / "sitmap-cbc-mine", tmp_path / "sitmap-cbc-other"
    sleeper = [sys.executable, "-c", "import sys, time; time.sleep(600)"]
    runs = {d: subprocess.Popen([*sleeper, str(d)]) for d in (mine, other)}
    try:
        fired: list[bool] = []
        end_cbc_runs_in(str(mine), fired)
        assert fired == [True]
        assert runs[mine].wait(timeout=30) == -signal.SIGKILL
        assert runs[other].poll() is None  # another run's solver keeps going
    finally:
        for proc in runs.values():
            proc.kill()
            proc.wait()


def test_bad_input_says_what_is_wrong():
    cost, w = instance(0)
    with pytest.raises(ValueError, match="NaN"):
        lscp(np.full((2, 2), np.nan), 10)
    with pytest.raises(ValueError, match="p=20"):
        mclp(cost, w, MAX_S, 20, fixed=(0,))
    with pytest.raises(ValueError, match="weights"):
        p_median(cost, w[:-1], 2)
    with pytest.raises(ValueError, match="fixed"):
        mclp(cost, w, MAX_S, 1, fixed=(99,))
    with pytest.raises(ValueError, match="solver must be one of cbc, highs"):
        lscp(cost, MAX_S, solver="gurobi")
