"""Exact site selection on a travel-time matrix: LSCP, MCLP and p-median, modelled in PuLP and solved by its
bundled CBC or by HiGHS (``solver="cbc"|"highs"``; HiGHS through PuLP's ``highspy`` interface).

Pure: numpy arrays in, a :class:`SiteResult` out; no database, no HTTP. Units are seconds.

* ``cost`` is an ``(n_demand, n_candidates)`` float array of travel seconds from each demand point (village)
  to each candidate site; ``np.inf`` means unreachable. NaN and negative values are refused.
* ``weights`` is ``(n_demand,)``: population (or incidents), finite and non-negative.
* ``fixed`` are candidate columns that are existing stations: always open, never counted in ``p``.

Every model is reduced before CBC sees it, and every reduction is exact (the optimum is unchanged):
covering models keep only candidate/demand pairs within ``max_s`` and merge demand points that the same
candidates cover (summing their weights); MCLP drops the demand that fixed sites already cover; p-median drops
the pairs a demand would never use because an always-open fixed site is at least as near.

The objective reported is recomputed from ``cost`` for the sites returned (not copied from the solver), so a
caller can check it against the matrix. The status is read from the solver's own answer: ``'optimal'`` only
when CBC proved it (HiGHS: model status ``kOptimal``); ``'time_limit'`` when the limit stopped it (``gap`` is
then the relative gap ``|incumbent - bound| / |incumbent|`` from CBC's final bound or HiGHS's ``mip_gap``, or
``None`` when no solution was found or no bound printed); ``'infeasible'`` when no choice of sites satisfies
the model.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pulp

PROBLEMS = ("lscp", "mclp", "p_median")
STATUSES = ("optimal", "time_limit", "infeasible")
# CBC is PuLP's bundled default. HiGHS solves the LP relaxations of the larger models many times faster (a
# 1,500 x 300 dense p-median: about a minute, where CBC finds no integer solution in minutes), so p-median
# defaults to it; the covering models are small after their reductions and solve in CBC in seconds.
ENGINES = ("cbc", "highs")


@functools.cache
def _highs_version() -> str:
    """HiGHS's version; creating its first instance here keeps the banner that HiGHS writes to the process's
    standard output (fd 1, from C++) out of a command's CSV or JSON."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            version = highspy.Highs().version()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return version


def solver_name(engine: str) -> str:
    """How a result names the engine that solved it."""
    if engine == "highs":
        return f"HiGHS {_highs_version()} (PuLP {pulp.__version__})"
    return f"CBC (PuLP {pulp.__version__})"


SOLVER = solver_name("cbc")


@dataclass(frozen=True)
class SiteResult:
    """One solved site-selection problem.

    ``objective``: LSCP, the number of new sites; MCLP, the covered weight (fixed and new sites together);
    p-median, the weighted travel seconds of the demand it serves (``sum w_i * min over open sites``).
    ``gain_per_site`` is ``(site, weight)`` pairs: for the covering problems the weight each chosen site adds in
    the order of a greedy attribution (start from what the fixed sites cover, then repeatedly take the chosen
    site that adds the most still-uncovered weight, ties to the lower index) so the gains sum to
    ``covered_weight`` minus the fixed sites' coverage; for p-median the weight each chosen site serves as the
    nearest open site, in ``chosen`` order. ``assigned`` holds, per demand point, the open (fixed or chosen)
    column with the least travel time, or -1 when no open site reaches it.
    """

    problem: str
    status: str
    gap: float | None
    objective: float
    chosen: tuple[int, ...]
    fixed: tuple[int, ...]
    covered_weight: float | None
    total_weight: float
    gain_per_site: tuple[tuple[int, float], ...]
    uncoverable: tuple[int, ...]
    solve_s: float
    solver: str
    assigned: tuple[int, ...] = ()
    note: str = ""


# --- input checks: bad input is a ValueError that says what was wrong -------------------------------------


def _check_cost(cost: np.ndarray) -> np.ndarray:
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D (demand x candidates) array, got {cost.ndim} dimension(s)")
    if np.isnan(cost).any():
        raise ValueError("cost holds NaN; use np.inf for an unreachable pair")
    if (cost < 0).any():
        raise ValueError("cost holds negative travel times")
    return cost


def _check_weights(weights: np.ndarray | None, n_demand: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_demand)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_demand,):
        raise ValueError(f"weights must have one value per demand point ({n_demand}), got shape {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return weights


def _check_fixed(fixed: Iterable[int], n_cand: int) -> tuple[int, ...]:
    out = tuple(sorted({int(j) for j in fixed}))
    if out and (out[0] < 0 or out[-1] >= n_cand):
        raise ValueError(f"fixed holds a column outside 0..{n_cand - 1}")
    return out


def _check_p(p: int, n_free: int) -> int:
    if int(p) != p or p < 0:
        raise ValueError(f"p must be a non-negative whole number, got {p!r}")
    if p > n_free:
        raise ValueError(f"p={p} new sites asked but only {n_free} candidates are not already fixed")
    return int(p)


def _check_time(time_limit_s: float) -> float:
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError("time_limit_s must be a positive number of seconds")
    return float(time_limit_s)


def _check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"solver must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


# --- CBC ---------------------------------------------------------------------------------------------------

_OBJ = re.compile(r"^Objective value:\s+(\S+)", re.M)
_BOUND = re.compile(r"^(?:Lower|Upper) bound:\s+(\S+)", re.M)


# CBC checks its time limit only between branch-and-bound steps: a large root LP (a dense p-median) runs on
# for many minutes past it. A watchdog ends that CBC process, and only it, this long after the limit.
HARD_GRACE_S = 5.0


def _own_children_in(tmp: str) -> list[int]:
    """Pids of this process's children whose command line names ``tmp`` (the CBC run of this call)."""
    me, out = os.getpid(), []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == me and tmp in (d / "cmdline").read_bytes().decode(errors="replace"):
                out.append(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def end_cbc_runs_in(tmp: str, fired: list[bool]) -> None:
    """End (SIGKILL) the CBC runs this process started with their files in ``tmp``; note it in ``fired``."""
    fired.append(True)
    for pid in _own_children_in(tmp):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run_cbc(prob: pulp.LpProblem, time_limit_s: float) -> tuple[str, float | None, float, bool]:
    """Solve; return (status, gap, seconds, has_solution), read from CBC's status and its final log lines."""
    with tempfile.TemporaryDirectory(prefix="sitmap-cbc-") as tmp:
        log = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():
            # PuLP 3.x is pinned (4.x needs Python 3.12); its bundled CBC is the point, so its 4.0 notice is noise.
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, timeMode="elapsed", logPath=str(log))
        solver.tmpDir = tmp  # CBC's model and solution files go here, so the watchdog knows its process
        fired: list[bool] = []
        watchdog = threading.Timer(time_limit_s + HARD_GRACE_S, end_cbc_runs_in, (tmp, fired))
        t0 = time.perf_counter()
        watchdog.start()
        try:
            prob.solve(solver)
        except pulp.PulpSolverError:
            if not fired:
                raise
            return "time_limit", None, time.perf_counter() - t0, False
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - t0
        text = log.read_text(errors="replace") if log.exists() else ""
    name = pulp.LpStatus[prob.status]
    if name == "Infeasible":
        return "infeasible", 0.0, seconds, False
    if name == "Optimal" and prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal", 0.0, seconds, True
    if name == "Optimal" and prob.sol_status == pulp.LpSolutionIntegerFeasible:
        # Stopped by the limit at a feasible point: the gap from CBC's final bound, if it printed one.
        obj, bound = _OBJ.search(text), _BOUND.search(text)
        gap = None
        if obj and bound:
            o, b = float(obj.group(1)), float(bound.group(1))
            gap = abs(o - b) / max(abs(o), 1e-9)
        return "time_limit", gap, seconds, True
    # "Not Solved": the limit came before any integer solution.
    return "time_limit", None, seconds, False


def _run_highs(prob: pulp.LpProblem, time_limit_s: float) -> tuple[str, float | None, float, bool]:
    """Solve with HiGHS in this process (it keeps its own time limit); same answer shape as ``_run_cbc``."""
    import highspy

    _highs_version()
    t0 = time.perf_counter()
    prob.solve(pulp.HiGHS(msg=False, timeLimit=time_limit_s))
    seconds = time.perf_counter() - t0
    h = prob.solverModel
    status, info = h.getModelStatus(), h.getInfo()
    if status == highspy.HighsModelStatus.kOptimal:
        return "optimal", 0.0, seconds, True
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return "infeasible", 0.0, seconds, False
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    gap = float(info.mip_gap) if has and math.isfinite(info.mip_gap) else None
    return "time_limit", gap, seconds, has


def _run(prob: pulp.LpProblem, time_limit_s: float, engine: str) -> tuple[str, float | None, float, bool]:
    return _run_highs(prob, time_limit_s) if engine == "highs" else _run_cbc(prob, time_limit_s)


def _binary(prob: pulp.LpProblem, name: str) -> pulp.LpVariable:
    return prob.add_variable(name, cat=pulp.LpBinary)


def _chosen(y: dict[int, pulp.LpVariable]) -> list[int]:
    return sorted(j for j, v in y.items() if (v.value() or 0.0) > 0.5)


# --- shared post-processing --------------------------------------------------------------------------------


def _nearest_open(cost: np.ndarray, open_cols: Sequence[int]) -> np.ndarray:
    if not len(open_cols):
        return np.full(cost.shape[0], -1)
    sub = cost[:, list(open_cols)]
    best = np.argmin(sub, axis=1)
    out = np.asarray(open_cols)[best]
    return np.where(np.isfinite(sub[np.arange(cost.shape[0]), best]), out, -1)


def _greedy_gains(cover: np.ndarray, weights: np.ndarray, fixed: Sequence[int], chosen: Sequence[int]):
    covered = cover[:, list(fixed)].any(axis=1) if len(fixed) else np.zeros(cover.shape[0], bool)
    left, out = sorted(chosen), []
    while left:
        gains = [float(weights[cover[:, j] & ~covered].sum()) for j in left]
        k = int(np.argmax(gains))
        out.append((left[k], gains[k]))
        covered |= cover[:, left[k]]
        left.pop(k)
    return tuple(out)


def _pad(chosen: list[int], p: int, free: Sequence[int]) -> list[int]:
    """Fill up to ``p`` with the lowest unused free columns: the model asked at most ``p`` (so a useless p-th site
    cannot make it infeasible); any further site adds nothing but ``p`` new sites were asked for."""
    taken = set(chosen)
    for j in free:
        if len(chosen) >= p:
            break
        if j not in taken:
            chosen.append(j)
    return sorted(chosen)


def _unique_rows(mask: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge demand rows covered by the same candidate set: one constraint per distinct set, weights summed."""
    if mask.shape[0] == 0:
        return mask, weights
    rows, inverse = np.unique(mask, axis=0, return_inverse=True)
    return rows, np.bincount(inverse.ravel(), weights=weights, minlength=rows.shape[0])


def _covering_result(problem, status, gap, chosen, fx, cost, cover, w, uncoverable, t0, engine, rows, cols,
                     objective) -> SiteResult:
    """The result of a covering model: coverage, greedy gains and nearest open site from the matrix itself."""
    open_cols = sorted(set(fx) | set(chosen))
    covered = cover[:, open_cols].any(axis=1) if open_cols else np.zeros(cost.shape[0], bool)
    return SiteResult(
        problem=problem,
        status=status,
        gap=gap,
        objective=objective(covered),
        chosen=tuple(chosen),
        fixed=fx,
        covered_weight=float(w[covered].sum()),
        total_weight=float(w.sum()),
        gain_per_site=_greedy_gains(cover, w, fx, chosen),
        uncoverable=tuple(int(i) for i in np.flatnonzero(uncoverable)),
        solve_s=time.perf_counter() - t0,
        solver=solver_name(engine),
        assigned=tuple(int(a) for a in _nearest_open(cost, open_cols)),
        note=f"{rows.shape[0]} distinct demand sets x {len(cols)} useful candidates",
    )


# --- LSCP --------------------------------------------------------------------------------------------------


def lscp(
    cost: np.ndarray,
    max_s: float,
    time_limit_s: float = 60,
    *,
    weights: np.ndarray | None = None,
    fixed: Iterable[int] = (),
    solver: str = "cbc",
) -> SiteResult:
    """Location set covering: the fewest new sites so every demand point that can be covered is within ``max_s``.

    Demand points that no candidate reaches within ``max_s`` are listed in ``uncoverable`` and left out of the
    model (they would make it infeasible while telling the planner nothing). ``weights`` (default 1 per point)
    only feed ``covered_weight`` and ``gain_per_site``; ``fixed`` sites are open already and their demand is
    covered before any new site is counted.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n_d, n_c = cost.shape
    w = _check_weights(weights, n_d)
    fx = _check_fixed(fixed, n_c)
    tl = _check_time(time_limit_s)
    engine = _check_engine(solver)
    cover = cost <= max_s
    reach = cover.any(axis=1)
    base = cover[:, list(fx)].any(axis=1) if fx else np.zeros(n_d, bool)
    free = np.setdiff1d(np.arange(n_c), fx)
    need = reach & ~base
    cols = free[cover[np.ix_(need, free)].any(axis=0)] if need.any() else free[:0]
    rows, _ = _unique_rows(cover[np.ix_(need, cols)], w[need])
    status, gap, chosen = "optimal", 0.0, []
    if rows.shape[0]:
        prob = pulp.LpProblem("lscp", pulp.LpMinimize)
        y = {int(j): _binary(prob, f"y{j}") for j in cols}
        prob += pulp.lpSum(y.values())
        for r, row in enumerate(rows):
            prob += pulp.lpSum(y[int(j)] for j in cols[row]) >= 1, f"c{r}"
        status, gap, _, has = _run(prob, tl, engine)
        chosen = _chosen(y) if has else []
    objective = float(len(chosen)) if status != "infeasible" else math.nan
    return _covering_result("lscp", status, gap, chosen, fx, cost, cover, w, ~reach, t0, engine, rows, cols,
                            lambda covered: objective)


# --- MCLP --------------------------------------------------------------------------------------------------


def mclp(
    cost: np.ndarray,
    weights: np.ndarray,
    max_s: float,
    p: int,
    fixed: Iterable[int] = (),
    time_limit_s: float = 60,
    solver: str = "cbc",
) -> SiteResult:
    """Maximal covering: ``p`` new sites (plus the fixed ones) that cover the most weight within ``max_s``.

    The model keeps only the demand the fixed sites leave uncovered and some free candidate can reach, and only
    the candidates that reach such demand; it asks for at most ``p`` sites and pads the answer to exactly ``p``
    with unused candidates when fewer already cover everything coverable (those add nothing). ``uncoverable`` are
    the demand points no candidate, fixed or free, reaches within ``max_s``.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n_d, n_c = cost.shape
    w = _check_weights(weights, n_d)
    fx = _check_fixed(fixed, n_c)
    free = np.setdiff1d(np.arange(n_c), fx)
    p = _check_p(p, len(free))
    tl = _check_time(time_limit_s)
    engine = _check_engine(solver)
    cover = cost <= max_s
    base = cover[:, list(fx)].any(axis=1) if fx else np.zeros(n_d, bool)
    need = ~base & (w > 0) & cover[:, free].any(axis=1)
    cols = free[cover[np.ix_(need, free)].any(axis=0)] if need.any() else free[:0]
    rows, rw = _unique_rows(cover[np.ix_(need, cols)], w[need])
    status, gap, chosen = "optimal", 0.0, []
    if rows.shape[0] and p:
        prob = pulp.LpProblem("mclp", pulp.LpMaximize)
        y = {int(j): _binary(prob, f"y{j}") for j in cols}
        # z_r is continuous: maximising pushes it to min(1, sites covering r), an integer once y is.
        z = [prob.add_variable(f"z{r}", 0, 1) for r in range(rows.shape[0])]
        prob += pulp.LpAffineExpression([(z[r], float(rw[r])) for r in range(len(z))])
        for r, row in enumerate(rows):
            prob += z[r] <= pulp.lpSum(y[int(j)] for j in cols[row]), f"c{r}"
        prob += pulp.lpSum(y.values()) <= p, "p"
        status, gap, _, has = _run(prob, tl, engine)
        chosen = _chosen(y) if has else []
    if status != "infeasible" and (status == "optimal" or chosen):
        chosen = _pad(chosen, p, [int(j) for j in free])
    solved = status == "optimal" or bool(chosen) or not p
    return _covering_result("mclp", status, gap, chosen, fx, cost, cover, w, ~cover.any(axis=1), t0, engine,
                            rows, cols, lambda covered: float(w[covered].sum()) if solved else math.nan)


# --- p-median ----------------------------------------------------------------------------------------------


def _pmedian_model(
    cost: np.ndarray,
    w: np.ndarray,
    dem: np.ndarray,
    free: np.ndarray,
    fx: tuple[int, ...],
    p: int,
    cutoff: float,
):
    """Build the p-median over pairs within ``cutoff`` (exact when ``cutoff`` is inf).

    Per demand ``i`` a pair ``(i, j)`` is kept when ``cost[i, j] <= cutoff`` and ``j`` is nearer than the nearest
    fixed site ``f_i`` (always open, so a farther site is never used); the pair to ``f_i`` itself is always kept.
    When a free candidate lies beyond the cutoff but nearer than ``f_i``, a fallback variable ``u_i`` lets
    ``i`` go unserved within the cutoff at the cost of its nearest such candidate: a lower bound on what it
    would really pay, so the model's optimum is a lower bound on the true p-median (a relaxation).
    """
    prob = pulp.LpProblem("p_median", pulp.LpMinimize)
    y: dict[int, pulp.LpVariable] = {}
    terms: list[tuple[pulp.LpVariable, float]] = []
    fixed_arr = np.asarray(fx, dtype=int)
    n_pairs = 0
    for i in dem:
        row = cost[i]
        f_cost, f_col = math.inf, -1
        if len(fixed_arr):
            k = int(np.argmin(row[fixed_arr]))
            f_cost, f_col = float(row[fixed_arr[k]]), int(fixed_arr[k])
        frow = row[free]
        useful = frow < f_cost
        near = free[useful & (frow <= cutoff)]
        beyond = frow[useful & (frow > cutoff)]
        assign = []
        for j in near:
            j = int(j)
            if j not in y:
                y[j] = _binary(prob, f"y{j}")
            x = prob.add_variable(f"x{i}_{j}", 0, 1)
            assign.append(x)
            terms.append((x, float(w[i] * row[j])))
            prob += x <= y[j], f"a{i}_{j}"
        if f_col >= 0 and math.isfinite(f_cost):
            x = prob.add_variable(f"x{i}_{f_col}", 0, 1)
            assign.append(x)
            terms.append((x, float(w[i] * f_cost)))
        if len(beyond):
            u = prob.add_variable(f"u{i}", 0, 1)
            assign.append(u)
            terms.append((u, float(w[i] * beyond.min())))
        n_pairs += len(assign)
        prob += pulp.lpSum(assign) == 1, f"d{i}"
    prob += pulp.LpAffineExpression(terms)
    prob += pulp.lpSum(y.values()) <= p, "p"
    return prob, y, n_pairs


def p_median(
    cost: np.ndarray,
    weights: np.ndarray,
    p: int,
    fixed: Iterable[int] = (),
    time_limit_s: float = 60,
    cutoff_s: float | None = None,
    solver: str = "highs",
) -> SiteResult:
    """p-median: ``p`` new sites (plus the fixed ones) minimising weighted travel seconds to the nearest open site.

    Demand no candidate reaches at all (a whole row of inf) is excluded and reported in ``uncoverable``; demand
    of zero weight is left out too (it cannot change the objective). Every other demand point must be served
    by some open site at a finite time, so a ``p`` too small to reach all of it is ``'infeasible'``.

    ``cutoff_s=None`` (the default) solves the exact model over every finite pair (reduced: a pair farther than
    the demand's nearest fixed site is dropped). With ``cutoff_s`` the model keeps only pairs within the cutoff
    plus a lower-bound fallback per demand (see ``_pmedian_model``); its answer is then checked against the full
    matrix: if the sites' true weighted time equals the model's optimum, it is the exact p-median; if not, the
    cutoff doubles and the model is solved again (until it covers every pair). So the sparse route never
    returns a worse answer than the dense one; it only solves faster when the optimum serves demand from
    nearby sites, which it does for a province's villages. The time limit is shared by all rounds.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n_d, n_c = cost.shape
    w = _check_weights(weights, n_d)
    fx = _check_fixed(fixed, n_c)
    free = np.setdiff1d(np.arange(n_c), fx)
    p = _check_p(p, len(free))
    tl = _check_time(time_limit_s)
    engine = _check_engine(solver)
    if cutoff_s is not None and not cutoff_s > 0:
        raise ValueError("cutoff_s must be a positive number of seconds (or None for the dense model)")
    reach = np.isfinite(cost).any(axis=1)
    dem = np.flatnonzero(reach & (w > 0))
    max_finite = float(cost[np.isfinite(cost)].max()) if np.isfinite(cost).any() else 0.0
    cutoff = math.inf if cutoff_s is None else float(cutoff_s)
    status, gap, chosen, rounds, n_pairs = "optimal", 0.0, [], 0, 0
    while len(dem):
        rounds += 1
        if cutoff >= max_finite:
            cutoff = math.inf
        prob, y, n_pairs = _pmedian_model(cost, w, dem, free, fx, p, cutoff)
        left = tl - (time.perf_counter() - t0)
        if left <= 0:
            status, gap, chosen = "time_limit", None, []
            break
        status, gap, _, has = _run(prob, left, engine)
        # A cutoff model relaxes the full one, so its infeasibility is the full model's too.
        chosen = _pad(_chosen(y), p, [int(j) for j in free]) if has else []
        if not has:
            break
        relaxed = float(pulp.value(prob.objective) or 0.0)
        true = _weighted_time(cost, w, dem, sorted(set(fx) | set(chosen)))
        if status == "time_limit":
            if gap is not None and true > 0:
                # CBC's bound holds for the relaxation, hence for the true problem: restate the gap on `true`.
                gap = max(0.0, (true - relaxed * (1 - gap)) / true)
            break
        if not math.isfinite(cutoff) or true <= relaxed * (1 + 1e-9) + 1e-6:
            break
        cutoff *= 2
    open_cols = sorted(set(fx) | set(chosen))
    assigned = _nearest_open(cost, open_cols)
    obj = _weighted_time(cost, w, dem, open_cols) if status != "infeasible" and (chosen or not p) else math.nan
    if not len(dem):
        obj = 0.0
    gains = tuple((j, float(w[assigned == j].sum())) for j in chosen)
    return SiteResult(
        problem="p_median",
        status=status,
        gap=gap,
        objective=obj,
        chosen=tuple(chosen),
        fixed=fx,
        covered_weight=float(w[dem].sum()) if status != "infeasible" else None,
        total_weight=float(w.sum()),
        gain_per_site=gains,
        uncoverable=tuple(int(i) for i in np.flatnonzero(~reach)),
        solve_s=time.perf_counter() - t0,
        solver=solver_name(engine),
        assigned=tuple(int(a) for a in assigned),
        note=f"{'dense' if cutoff_s is None else f'sparse from cutoff {cutoff_s:g} s'}; {rounds} round(s), "
        f"last model {n_pairs} assignment variables",
    )


def _weighted_time(cost: np.ndarray, w: np.ndarray, dem: np.ndarray, open_cols: Sequence[int]) -> float:
    if not len(dem):
        return 0.0
    if not open_cols:
        return math.inf
    best = cost[np.ix_(dem, list(open_cols))].min(axis=1)
    return float((w[dem] * best).sum())
