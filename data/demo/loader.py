"""Load the demo dataset: replace every demo table in one transaction, deterministically per seed and end.

Stages: geography (boundaries, settlements, roads; ``data.demo.geography``), then police, incidents and the
service statistics (``data.demo.police``, ``data.demo.incidents``). Each stage draws from its own child
generator of the seed, so changing one stage does not shift the others' randomness.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import yaml
from psycopg import sql

DATA_FILE = Path(__file__).resolve().parent / "dienbien.yaml"
# Tables the demo never replaces: the eras (migration data), users and their audit trail, bookkeeping.
KEEP_TABLES = ("admin_era", "app_user", "audit_log", "data_version", "alembic_version")


@dataclass
class DemoReport:
    seed: int
    until: datetime
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.timings.get("total", 0.0)

    def summary(self) -> str:
        lines = [f"demo loaded (seed {self.seed}, until {self.until.isoformat()}) in {self.seconds:.1f} s"]
        lines += [f"  {k:<28} {v:>8,}" for k, v in self.counts.items()]
        lines.append("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items() if k != "total"))
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def read_config(path: Path = DATA_FILE) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def is_loaded(url: str) -> bool:
    """Whether any unit of the current era is in the database (False when the schema is missing)."""
    cfg = read_config()
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM admin_unit WHERE era = %s)",
                               [cfg["geography"]["eras"]["current"]]).fetchone()
    except psycopg.errors.UndefinedTable:
        return False
    return bool(row and row[0])


def _demo_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename <> ALL(%s) AND tablename NOT LIKE 'spatial_ref_sys%%' "
                        "ORDER BY tablename", [list(KEEP_TABLES) + ["spatial_ref_sys"]]).fetchall()
    return [r[0] for r in rows]


def _optional(module: str, attr: str):
    """A stage's function, or None when its module does not exist yet (another part of the project)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    return getattr(mod, attr)


# Run at the end of a load with the loaded database and the demo's end; returns counts for the report. The
# callers (the CLI's `sitmap demo load`, the tests' demo fixture) pass data.ops.demo_analyses.store_for_demo
# so the travel and hot-spot layers are filled: data.demo may not import data.ops, its neighbour on the same floor.
Finish = Callable[[psycopg.Connection, datetime], Mapping[str, int]]


def load_demo(url: str, *, seed: int = 2025, until: datetime | None = None, progress: bool = True,
              then: Finish | None = None) -> DemoReport:
    from tqdm import tqdm

    from data.demo.geography import build_geography, write_geography

    t0 = time.perf_counter()
    cfg = read_config()
    tz = ZoneInfo(cfg["province"]["timezone"])
    until = datetime.now(tz) if until is None else (until if until.tzinfo else until.replace(tzinfo=tz))
    report = DemoReport(seed=seed, until=until)
    rng_geo, rng_police, rng_incidents = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    stages = ["geography (build)", "geography (write)", "police", "incidents", "service statistics"]
    bar = tqdm(total=len(stages), disable=not progress, unit="stage", desc="demo")

    def step(name: str, started: float) -> float:
        now = time.perf_counter()
        report.timings[name] = now - started
        bar.update(1)
        return now

    t = time.perf_counter()
    bar.set_description("geography: boundaries, villages, roads")
    geo = build_geography(cfg, rng_geo)
    report.notes += geo.notes
    t = step("geography (build)", t)
    with psycopg.connect(url) as conn, conn.transaction():
        tables = _demo_tables(conn)
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in tables)))
        bar.set_description("geography: writing")
        report.counts.update(write_geography(conn, cfg, geo))
        t = step("geography (write)", t)

        later = [
            ("police", "data.demo.police", "load_police", lambda f: f(conn, cfg, rng_police, progress)),
            ("incidents", "data.demo.incidents", "load_incidents",
             lambda f: f(conn, cfg, rng_incidents, until, progress)),
            ("service statistics", "data.demo.police", "load_service_stats", lambda f: f(conn, cfg)),
        ]
        for name, module, attr, call in later:
            bar.set_description(name)
            fn = _optional(module, attr)
            if fn is None:
                report.skipped.append(f"{name}: {module} does not exist yet")
                if progress:
                    bar.write(f"skipped {name}: {module} does not exist yet")
                t = step(name, t)
                continue
            report.counts.update(call(fn) or {})
            t = step(name, t)
    # Fresh tables have no planner statistics until autovacuum gets to them; without them the patrol-points
    # layer's per-point last-visit join was planned as a nested scan (33 s for ogr2ogr instead of ~1 s).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(sql.Identifier(n) for n in tables)))
    if then is not None:
        # After the commit and ANALYZE: the analyses' queries need the planner statistics. Their own
        # transaction stores all of them or none.
        bar.set_description("travel analyses")
        t = time.perf_counter()
        with psycopg.connect(url) as conn:
            report.counts.update(then(conn, until))
            conn.execute("ANALYZE travel_run, travel_access, travel_isochrone, travel_saving, travel_response")
        report.timings["travel analyses"] = time.perf_counter() - t
    bar.close()
    report.timings["total"] = time.perf_counter() - t0
    return report
