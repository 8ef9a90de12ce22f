"""Site-selection benchmark on the demo: geo/coverage/solvers against spopt's own workflow on the same matrix.

``python -m bench.coverage [--p-max 10] [--minutes 30] [--median-candidates 300] [--median-p 10]
[--time-limit 30] [--median-time-limit 600] [--no-median]`` (or ``make bench``):

1. loads the demo once (``bench.travel.demo_database``, the travel bench's ``sitmap_bench_travel_demo``;
   the bench only reads it);
2. demand: every village with its population; candidates: the stations in service today (fixed: always
   open, not counted in p), every village, and road junctions of any class (``candidates.road_nodes``,
   three or more road ends, thinned to 1 km apart), at least 2,000 in all;
3. travel seconds village -> candidate, door to door, in one pass: ``geo.coverage.matrix.travel_matrix``
   (one read of road_edge, ``scipy.sparse.csgraph.dijkstra`` from the side with fewer nodes), timed;
4. MCLP for p = 1..``--p-max`` within ``--minutes``, stations fixed: ``solvers.mclp`` against
   ``spopt.locate.MCLP.from_cost_matrix(..., predefined_facilities_arr=stations).solve(CBC)`` with
   ``p_facilities = p + stations``;
5. p-median with all villages and ``--median-candidates`` candidates (a seeded sample of the non-station
   candidates, no fixed sites), solved by HiGHS (``--median-time-limit``, default 600 s): ``solvers.p_median``
   dense (every finite pair: the exact model), then sparse from a ``--median-cutoff-min`` cutoff (pairs
   within it plus a fallback per village; the solver doubles the cutoff until the answer is provably exact),
   against ``spopt.locate.PMedian.from_cost_matrix(...).solve(pulp.HiGHS)`` on the same matrix; with
   ``--median-cbc`` ours on CBC too (its dense LP does not finish on this machine: it shows the time limit).
   spopt cannot take inf, so villages no sampled candidate reaches are left out of both sides (counted in
   the output) and the rest of the inf entries become 10^7 s for spopt (a site that far is never in its
   optimum: the objectives are compared to show it). ``--no-median`` skips the section.
The MCLP solves, ours and spopt's, run CBC with ``--time-limit`` seconds (default 30; CBC overruns its
limit inside a large root LP, so a watchdog ends it ``HARD_GRACE_S`` after the limit); a stopped solve
prints its status. spopt's MCLP builds its model in Python loops over every pair (about a minute per p
here), so by default it runs for p = 10 only (``--spopt-p 1,2,...,10`` for all); the whole bench takes about
ten minutes. It prints times, objective values side by side and
ratios spopt / ours, and asserts nothing: timings on a shared machine are noisy. The roads are generated.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
import psycopg
import pulp

from bench.travel import demo_database
from data.settings import get_settings
from geo.coverage import candidates as cand
from geo.coverage import matrix, solvers
from geo.travel import trips
from geo.travel.network import GENERATED_NOTE, local_today

BIG_S = 1e7  # what an unreachable pair costs in spopt's p-median (it cannot take inf)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cbc(limit: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=limit)


def spopt_status(model) -> str:
    p = model.problem
    if pulp.LpStatus[p.status] == "Optimal" and p.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    return "time_limit" if pulp.LpStatus[p.status] in ("Optimal", "Not Solved") else pulp.LpStatus[p.status]


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def build(url: str, spacing_m: float):
    """Demand, candidates (stations first: the fixed columns) and the travel matrix, with its time."""
    s = get_settings()
    with psycopg.connect(url) as c:
        vil = trips.villages(c)[["village_id", "village", "population", "lon", "lat"]]
        st = trips.stations(c, local_today())
        stations = pd.DataFrame({"kind": "station", "label": st["station"], "lon": st["lon"], "lat": st["lat"]})
        pool = pd.concat([stations, cand.villages(c), cand.road_nodes(c, spacing_m=spacing_m,
                                                                      classes=CLASSES, min_degree=3)],
                         ignore_index=True)[["kind", "label", "lon", "lat"]]
        pool["candidate_id"] = np.arange(1, len(pool) + 1)
        tm, secs = timed(matrix.travel_matrix, c, vil, pool, demand_key="village_id", candidate_key="candidate_id",
                         max_snap_m=s.travel_snap_max_m, walk_kmh=s.travel_walk_kmh)
    return vil, pool, len(st), tm, secs


CLASSES = ("national", "provincial", "commune", "village_track", "footpath")


def bench_mclp(cost, w, max_s, n_fixed, p_max, limit, spopt_ps):
    from spopt.locate import MCLP

    fixed = np.arange(n_fixed)
    pre = np.zeros(cost.shape[1], dtype=int)
    pre[fixed] = 1
    rows = []
    for p in range(1, p_max + 1):
        ours, t_ours = timed(solvers.mclp, cost, w, max_s, p, fixed=fixed, time_limit_s=limit)

        def ref(p=p):
            m = MCLP.from_cost_matrix(cost, w, max_s, p_facilities=p + n_fixed, predefined_facilities_arr=pre)
            return m.solve(cbc(limit))

        model, t_ref = timed(ref) if p in spopt_ps else (None, float("nan"))
        rows.append((p, t_ours, ours.status, ours.objective, ours.gain_per_site[-1][1] if ours.chosen else 0.0,
                     t_ref, spopt_status(model) if model else "not run",
                     float(model.problem.objective.value()) if model else float("nan")))
    return rows


def highs(limit: float):
    return pulp.HiGHS(msg=False, timeLimit=limit)


def bench_pmedian(cost, w, p, limit, cutoff_s, with_cbc):
    """Ours (HiGHS dense, HiGHS sparse, optionally CBC dense) and spopt's PMedian on HiGHS: (name, result, s)."""
    from spopt.locate import PMedian

    runs = [("ours, HiGHS, dense", *timed(solvers.p_median, cost, w, p, time_limit_s=limit, solver="highs")),
            (f"ours, HiGHS, sparse from {cutoff_s / 60:g} min",
             *timed(solvers.p_median, cost, w, p, time_limit_s=limit, cutoff_s=cutoff_s, solver="highs"))]
    if with_cbc:
        runs.append(("ours, CBC, dense", *timed(solvers.p_median, cost, w, p, time_limit_s=limit, solver="cbc")))

    def ref():
        solvers.solver_name("highs")  # silences HiGHS's banner once, as ours does
        m = PMedian.from_cost_matrix(np.where(np.isfinite(cost), cost, BIG_S), w, p_facilities=p)
        try:
            return m.solve(highs(limit))
        except RuntimeError:  # spopt raises when the limit came before a solution
            return None

    model, t_ref = timed(ref)
    return runs, model, t_ref


def highs_status(model) -> str:
    import highspy

    if model is None:
        return "time_limit (no solution)"
    return "optimal" if model.problem.solverModel.getModelStatus() == highspy.HighsModelStatus.kOptimal \
        else "time_limit"


def fmt(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.0f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--p-max", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--median-candidates", type=int, default=300)
    ap.add_argument("--median-p", type=int, default=10)
    ap.add_argument("--median-cutoff-min", type=float, default=60.0)
    ap.add_argument("--spacing-m", type=float, default=1000.0)
    ap.add_argument("--time-limit", type=float, default=30.0)
    # spopt builds its MCLP in Python loops over every pair (about a minute each on the demo): by default it
    # runs for p = 10 only, so the bench stays within about five minutes.
    ap.add_argument("--spopt-p", default="10", help="comma-separated p for which spopt's MCLP runs too")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--no-median", action="store_true", help="skip the p-median section (about five minutes)")
    ap.add_argument("--median-time-limit", type=float, default=600.0, help="HiGHS's limit per p-median solve")
    ap.add_argument("--median-cbc", action="store_true", help="run our p-median on CBC too (it stops at the limit)")
    a = ap.parse_args(argv)

    url = demo_database("sitmap_bench_travel_demo")
    vil, pool, n_fixed, tm, t_matrix = build(url, a.spacing_m)
    cost = tm.seconds
    w = vil.set_index("village_id").loc[tm.demand.index, "population"].to_numpy(float)
    kinds = pool["kind"].value_counts().to_dict()
    print(f"# Site selection on the demo ({GENERATED_NOTE})")
    print(f"demand: {cost.shape[0]:,} villages, population {w.sum():,.0f}; candidates: {cost.shape[1]:,} "
          f"({n_fixed} stations in service today, fixed; {kinds.get('village', 0):,} villages; "
          f"{kinds.get('node', 0):,} road junctions >= 3 road ends, {a.spacing_m:,.0f} m apart)")
    print(f"travel matrix (geo.coverage.matrix.travel_matrix, one pass): {t_matrix:.2f} s, "
          f"{np.isfinite(cost).mean():.1%} of pairs reachable")
    print(f"CBC time limit per solve (ours and spopt's): {a.time_limit:.0f} s\n")

    max_s = a.minutes * 60
    spopt_ps = {int(x) for x in a.spopt_p.split(",") if x}
    rows = bench_mclp(cost, w, max_s, n_fixed, a.p_max, a.time_limit, spopt_ps)
    base = solvers.mclp(cost, w, max_s, 0, fixed=range(n_fixed)).objective
    print(f"## MCLP within {a.minutes:g} min, stations fixed (they cover {base:,.0f} = {base / w.sum():.1%})")
    print("| p | ours s | status | covered | p-th site adds | spopt s | status | spopt covered | spopt/ours |")
    print("|---:|---:|---|---:|---:|---:|---|---:|---:|")
    for p, t_o, s_o, obj_o, gain, t_r, s_r, obj_r in rows:
        ran = np.isfinite(t_r)
        print(f"| {p} | {t_o:.2f} | {s_o} | {fmt(obj_o)} | {fmt(gain)} | {f'{t_r:.2f}' if ran else '-'} | {s_r} | "
              f"{fmt(obj_r)} | {f'{t_r / t_o:.1f}x' if ran else '-'} |")
    both = [r for r in rows if r[0] in spopt_ps]
    to, tr = sum(r[1] for r in both), sum(r[5] for r in both)
    same = all(abs(r[3] - r[7]) <= 1e-6 * max(1.0, r[7]) for r in both)
    if both:
        print(f"| p in {sorted(spopt_ps)} | {to:.2f} | | | | {tr:.2f} | | | {tr / to:.1f}x |")
    print(f"ours for all p: {sum(r[1] for r in rows):.2f} s; objectives equal to spopt's where both ran: {same}\n")

    if a.no_median:
        return
    rng = np.random.default_rng(a.seed)
    pick = np.sort(rng.choice(np.arange(n_fixed, cost.shape[1]), size=a.median_candidates, replace=False))
    sub = cost[:, pick]
    keep = np.isfinite(sub).any(axis=1)
    sub, ws = sub[keep], w[keep]
    runs, model, t_r = bench_pmedian(sub, ws, a.median_p, a.median_time_limit, a.median_cutoff_min * 60,
                                     a.median_cbc)
    ref_obj = float(model.problem.objective.value()) if model is not None else float("nan")
    print(f"## p-median, p = {a.median_p}, {sub.shape[0]:,} villages x {sub.shape[1]} candidates (seed {a.seed}; "
          f"{int((~keep).sum())} villages no sampled candidate reaches left out), time limit "
          f"{a.median_time_limit:.0f} s per solve")
    print("| solver | s | status | weighted seconds | mean min per person | spopt/ours | note |")
    print("|---|---:|---|---:|---:|---:|---|")

    def mean_min(obj: float) -> str:
        return f"{obj / ws.sum() / 60:.1f}" if obj is not None and np.isfinite(obj) else "-"

    for name, r, t in runs:
        print(f"| {name} | {t:.2f} | {r.status} | {fmt(r.objective)} | {mean_min(r.objective)} | {t_r / t:.1f}x | "
              f"{r.note} |")
    print(f"| spopt PMedian, HiGHS | {t_r:.2f} | {highs_status(model)} | {fmt(ref_obj)} | {mean_min(ref_obj)} | "
          f"1.0x | dense, {sub.size:,} assignment variables, inf as {BIG_S:g} s |")

    def equal(x: float | None) -> bool:
        return bool(x is not None and np.isfinite(x) and abs(x - ref_obj) <= 1e-6 * ref_obj)

    print("objectives equal to spopt's: " + ", ".join(f"{name}: {equal(r.objective)}" for name, r, _ in runs))


if __name__ == "__main__":
    main()
