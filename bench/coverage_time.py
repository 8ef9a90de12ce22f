"""Coverage benchmark: the province's coverage figures on the demo (target: under 2 s).

``python -m bench.coverage_time [--repeats 5]``: loads the demo once into ``sitmap_bench_travel_demo`` (shared
with bench/travel.py), then times ``geo.coverage.coverage.coverage`` for every station in service (villages
and stations attached to the road, one multi-source search for the nearest station, one combinations query
for the own stations, the tables, the curve) and for the independent headquarters only, and prints the
median with the figures. It asserts nothing: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import psycopg

from bench.travel import demo_database, log
from geo.coverage.coverage import coverage

ON = date(2026, 1, 1)
MAX_SNAP_M, WALK_KMH = 1000.0, 4.0
TARGET_S = 2.0


def timed(conn: psycopg.Connection, repeats: int, **kw) -> tuple[list[float], object]:
    times, run = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        run = coverage(conn, on=ON, minutes=(15, 30, 60), max_snap_m=MAX_SNAP_M, walk_kmh=WALK_KMH, **kw)
        times.append(time.perf_counter() - t)
    return times, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    url = demo_database("sitmap_bench_travel_demo")
    with psycopg.connect(url) as conn:
        log("warming up...")
        timed(conn, 1)
        for label, kw in (("every station in service", {}), ("independent headquarters only",
                                                             {"statuses": ("independent",)})):
            times, run = timed(conn, args.repeats, **kw)
            p = run.province.iloc[0]
            med = statistics.median(times)
            print(f"coverage of the province ({label}, {run.attrs['stations']} stations, {int(p['villages'])} "
                  f"villages): median {med * 1000:.0f} ms over {len(times)} runs (min {min(times) * 1000:.0f}, "
                  f"max {max(times) * 1000:.0f}); target < {TARGET_S:g} s: {'met' if med < TARGET_S else 'NOT met'}")
            print("  population within " + ", ".join(
                f"{m:g} min: {int(p[f'population_within_{m:g}']):,} ({p[f'share_within_{m:g}'] * 100:.1f} %)"
                for m in run.minutes) + f" of {int(p['population']):,}; unreachable: "
                f"{int(p['villages_unreachable'])} villages")
        print(f"note: {run.attrs['note'] or 'roads imported (not generated)'}")


if __name__ == "__main__":
    main()
