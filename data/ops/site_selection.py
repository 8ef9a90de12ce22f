"""Site selection on the database: where new headquarters or permanent posts would help most.

The candidates (geo/coverage/candidates.py: villages, road junctions, or proposed plots, which the command
line reads from a file with data/importers/plots.py), the demand (each village's population, or the
incidents nearest to it), the travel matrix from every village to every candidate and every station in
service (geo/coverage/matrix.py, one pass) and one of the exact solvers (geo/coverage/solvers.py). The
stations in service are the fixed sites: kept, never counted in p (LSCP: the fewest new sites so that every
village some site reaches within the limit is covered, the existing stations included). Synchronous: runs in
a worker thread of api/analysis_runner.py, or from the command line. Nothing is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
import psycopg

from data.ops.errors import invalid
from geo.coverage import candidates as cand
from geo.coverage import solvers
from geo.coverage.coverage import station_frame
from geo.coverage.matrix import TravelMatrix, travel_matrix
from geo.travel.network import local_today
from geo.travel.trips import villages

Problem = Literal["lscp", "mclp", "pmedian"]
PROBLEMS: tuple[str, ...] = ("lscp", "mclp", "pmedian")
DEMANDS: tuple[str, ...] = ("population", "incidents")
CANDIDATE_KINDS: tuple[str, ...] = ("villages", "nodes", "file")
MAX_TIME_LIMIT_S = 600.0

# Each incident counts for the settlement nearest to it (planar order by the index, then the first).
INCIDENTS_SQL = """
SELECT s.id, count(*) FROM incident i
 CROSS JOIN LATERAL (SELECT id FROM settlement ORDER BY geom <-> i.geom LIMIT 1) s
 WHERE i.geom IS NOT NULL GROUP BY s.id
"""

PLACE_SQL = """
SELECT p.k, v.name, u.code, u.name
  FROM unnest(%s::int[], %s::float8[], %s::float8[]) AS p(k, lon, lat)
  CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS g) pt
  LEFT JOIN LATERAL (SELECT name FROM settlement ORDER BY geom <-> pt.g LIMIT 1) v ON true
  LEFT JOIN admin_unit u ON u.id = sitmap_commune_at(pt.g)
"""


@dataclass(frozen=True)
class SiteParams:
    problem: Problem = "mclp"
    minutes: float = 30.0
    p: int = 3
    candidates: str = "villages"
    demand: str = "population"
    time_limit_s: float = 60.0
    # cbc | highs; None: each problem's default (geo/coverage/solvers.py: CBC covers, HiGHS solves p-median)
    solver: str | None = None
    spacing_m: float = 2000.0  # road junctions: least distance between two candidates
    plots: pd.DataFrame | None = None  # kind "file": lon, lat, label
    on: date | None = None  # stations in service on this day (default today)
    communes: frozenset[str] | None = None  # demand only from these 2025 communes (None: the province)

    def check(self) -> SiteParams:
        if self.problem not in PROBLEMS:
            raise invalid(f"problem must be one of {', '.join(PROBLEMS)}, not {self.problem!r}", field="problem")
        if self.demand not in DEMANDS:
            raise invalid(f"demand must be one of {', '.join(DEMANDS)}, not {self.demand!r}", field="demand")
        if self.candidates not in CANDIDATE_KINDS:
            raise invalid(f"candidates must be one of {', '.join(CANDIDATE_KINDS)}", field="candidates")
        if self.candidates == "file" and self.plots is None:
            raise invalid("candidates 'file' needs the proposed plots (a GeoJSON or CSV file of lon,lat points)",
                          field="candidates")
        if not 0 < self.minutes <= 600:
            raise invalid(f"minutes must be above 0 and at most 600, not {self.minutes:g}", field="minutes")
        if not 1 <= self.p <= 50:
            raise invalid(f"p (new sites) must be 1 to 50, not {self.p}", field="p")
        if self.solver is not None and self.solver not in solvers.ENGINES:
            raise invalid(f"solver must be one of {', '.join(solvers.ENGINES)}, not {self.solver!r}", field="solver")
        if not 0 < self.time_limit_s <= MAX_TIME_LIMIT_S:
            raise invalid(f"time_limit_s must be above 0 and at most {MAX_TIME_LIMIT_S:g} s", field="time_limit_s")
        return self


def demand_frame(conn: psycopg.Connection, kind: str, communes: frozenset[str] | None) -> pd.DataFrame:
    """Villages with a ``weight``: population, or the number of incidents nearest to each."""
    vil = villages(conn)
    if kind == "incidents":
        counts = dict(conn.execute(INCIDENTS_SQL).fetchall())
        vil["weight"] = vil["village_id"].map(counts).fillna(0).astype(float)
    else:
        vil["weight"] = vil["population"].astype(float)
    if communes is not None:
        vil = vil[vil["commune_code"].isin(communes)]
    if vil.empty:
        raise invalid("there are no villages to serve in the communes asked", field="commune")
    return vil.reset_index(drop=True)


def candidate_frame(conn: psycopg.Connection, params: SiteParams) -> pd.DataFrame:
    try:
        if params.candidates == "villages":
            return cand.villages(conn)
        if params.candidates == "nodes":
            return cand.road_nodes(conn, spacing_m=params.spacing_m)
        plots = params.plots
        return cand.points(plots["lon"], plots["lat"], plots.get("label"))
    except cand.CandidateError as exc:
        raise invalid(str(exc), field="candidates") from None


def _places(conn: psycopg.Connection, lon: np.ndarray, lat: np.ndarray) -> list[tuple[str, str, str]]:
    rows = conn.execute(PLACE_SQL, [list(range(len(lon))), [float(x) for x in lon], [float(y) for y in lat]]
                        ).fetchall()
    by = {r[0]: (r[1], r[2], r[3]) for r in rows}
    return [by.get(i, (None, None, None)) for i in range(len(lon))]


def _covered(m: TravelMatrix, w: np.ndarray, cols: list[int], max_s: float) -> float:
    if not cols:
        return 0.0
    return float(w[(m.seconds[:, cols] <= max_s).any(axis=1)].sum())


def _mean_min(m: TravelMatrix, w: np.ndarray, cols: list[int]) -> float | None:
    """Weighted mean minutes to the nearest open site, over the demand some open site reaches."""
    if not cols:
        return None
    best = m.seconds[:, cols].min(axis=1)
    ok = np.isfinite(best) & (w > 0)
    return float(np.average(best[ok], weights=w[ok]) / 60) if ok.any() else None


def solve(m: TravelMatrix, weights: np.ndarray, fixed: list[int], params: SiteParams) -> solvers.SiteResult:
    """The solver asked for, on the matrix as it is (the tests call this and the solver directly alike)."""
    max_s = params.minutes * 60
    engine = {"solver": params.solver} if params.solver else {}
    try:
        if params.problem == "lscp":
            return solvers.lscp(m.seconds, max_s, params.time_limit_s, weights=weights, fixed=fixed, **engine)
        if params.problem == "mclp":
            return solvers.mclp(m.seconds, weights, max_s, params.p, fixed, params.time_limit_s, **engine)
        return solvers.p_median(m.seconds, weights, params.p, fixed, params.time_limit_s, **engine)
    except ValueError as exc:
        raise invalid(str(exc), field="p") from None


def build(conn: psycopg.Connection, params: SiteParams, *, max_snap_m: float, walk_kmh: float
          ) -> tuple[TravelMatrix, np.ndarray, list[int], int]:
    """The matrix (new candidates first, then the stations in service), the demand weights, the fixed
    columns and the number of new candidates."""
    dem = demand_frame(conn, params.demand, params.communes)
    new = candidate_frame(conn, params)
    st = station_frame(conn, params.on or local_today())
    fixed = pd.DataFrame({"kind": "station", "label": st["station"].to_numpy(object), "lon": st["lon"],
                          "lat": st["lat"], "station_id": st["station_id"].to_numpy(float),
                          "station_code": st["station_code"].to_numpy(object)})
    sites = pd.concat([new.assign(station_id=np.nan, station_code=None), fixed], ignore_index=True)
    sites["col"] = np.arange(len(sites))
    # p-median needs every finite time; the covering problems none beyond their limit.
    cutoff = np.inf if params.problem == "pmedian" else params.minutes * 60
    m = travel_matrix(conn, dem, sites, demand_key="village_id", candidate_key="col", max_snap_m=max_snap_m,
                      walk_kmh=walk_kmh, cutoff_s=cutoff)
    weights = m.demand["weight"].to_numpy(float)
    return m, weights, list(range(len(new), len(sites))), len(new)


def select_sites(conn: psycopg.Connection, params: SiteParams, *, max_snap_m: float, walk_kmh: float
                 ) -> dict[str, Any]:
    """Solve ``params`` on the current data; the answer as a JSON-able document."""
    params = params.check()
    t0 = time.perf_counter()
    m, w, fixed, n_new = build(conn, params, max_snap_m=max_snap_m, walk_kmh=walk_kmh)
    matrix_s = time.perf_counter() - t0
    r = solve(m, w, fixed, params)
    max_s = params.minutes * 60
    opened = sorted(set(fixed) | set(r.chosen))
    gains = dict(r.gain_per_site)
    sites = m.candidates
    chosen = list(r.chosen)
    lon = sites["lon"].to_numpy(float)[chosen] if chosen else np.array([])
    lat = sites["lat"].to_numpy(float)[chosen] if chosen else np.array([])
    places = _places(conn, lon, lat) if chosen else []
    unit = "incidents" if params.demand == "incidents" else "population"
    rows = []
    for rank, (j, (village, code, commune)) in enumerate(zip(chosen, places, strict=True), start=1):
        s = sites.iloc[j]
        rows.append({"rank": rank, "candidate_id": int(s["candidate_id"]), "kind": s["kind"], "label": s["label"],
                     "lon": float(s["lon"]), "lat": float(s["lat"]), "nearest_village": village,
                     "commune_code": code, "commune": commune, f"{unit}_gained": gains.get(j, 0.0),
                     "access_m": None if pd.isna(s["access_m"]) else float(s["access_m"])})
    before, after = _covered(m, w, fixed, max_s), _covered(m, w, opened, max_s)
    # A covering problem's matrix stops at its limit: a mean over it would leave the far villages out.
    mean = _mean_min if params.problem == "pmedian" else (lambda *_: None)
    total = float(w.sum())
    unc = list(r.uncoverable)
    attached_new = int(sites["snap_ok"].iloc[:n_new].sum())
    doc = {
        "analysis": "sites", "problem": params.problem, "minutes": params.minutes,
        "p": None if params.problem == "lscp" else params.p, "demand": params.demand,
        "candidates": {"kind": params.candidates, "count": n_new, "on_the_road": attached_new,
                       **({"spacing_m": params.spacing_m} if params.candidates == "nodes" else {})},
        "fixed_stations": len(fixed), "villages": len(m.demand),
        "status": r.status, "gap": r.gap, "objective": None if not np.isfinite(r.objective) else r.objective,
        "objective_is": {"lscp": "new sites needed", "mclp": f"{unit} within {params.minutes:g} min (existing and "
                         "new sites)", "pmedian": f"{unit}-weighted travel seconds to the nearest site"
                         }[params.problem],
        "chosen": rows,
        "coverage": {"before": {unit: before, "share": before / total if total else None,
                                "mean_min": mean(m, w, fixed)},
                     "after": {unit: after, "share": after / total if total else None,
                               "mean_min": mean(m, w, opened)},
                     "gained": after - before, "total": total, "within_min": params.minutes},
        "gain_is": ("what each site adds, in the order of a greedy attribution" if params.problem != "pmedian"
                    else f"the {unit} each site serves as the nearest open site"),
        "uncoverable": {"villages": len(unc), unit: float(w[unc].sum()) if unc else 0.0,
                        "names": m.demand["village"].iloc[unc[:50]].tolist()},
        "solver": r.solver, "solve_s": r.solve_s, "matrix_s": matrix_s, "solver_note": r.note,
        **{k: m.attrs[k] for k in ("roads_generated", "note")},
    }
    return doc
