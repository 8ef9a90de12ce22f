"""Hot-spot runs against the database: gather the incidents and cells, run geo/hotspots, store the run.

A run (``hotspot_run``) keeps what it was asked (analysis, cells, categories, window, every parameter), who
asked, how many incidents and cells it saw, whether the incidents were generated, its notes and a summary;
its cells (``hotspot_cell``) keep count, z, FDR-adjusted p, class and, for an emerging run, the pattern and
the months. Runs are never replaced: the layers show the latest of each category and kind of cell, and every
earlier run stays readable by id. One transaction per run: a failed run leaves nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import shapely

from data import vocab
from data.settings import get_settings
from geo.hotspots import analysis, weights

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CATEGORIES = tuple(vocab.codes(vocab.INCIDENT_CATEGORIES))
COMMUNES = vocab.kinds_sql("u.kind", vocab.COMMUNE_LEVEL_KINDS)
GENERATED_NOTE = ("The incidents are generated (the demo): planted clusters (demo_planted_cluster) on a background "
                  "that follows population, roads and the border.")


class HotspotInputError(ValueError):
    """A run asked for something the data cannot give (unknown category, empty window, no communes)."""


@dataclass(frozen=True)
class HotspotParams:
    analysis: str = "gi_star"           # gi_star | emerging
    cells: str = "hex"                  # hex | commune
    categories: tuple[str, ...] = ()    # empty: every category
    since: datetime | None = None       # Gi*: the window; default the last 12 months before `until`
    until: datetime | None = None       # default: now (Gi*), the end of the last complete month (emerging)
    cell_m: float = 2000.0
    band_m: float = 2100.0
    srid: int = 3405
    commune_neighbours: str = "contiguity"
    commune_band_m: float = 20_000.0
    min_incidents: int = 30
    months: int = 24
    time_steps: int = 1
    confidence: int = 90
    min_incidents_per_month: int = 10

    @classmethod
    def defaults(cls, **overrides: object) -> HotspotParams:
        st = get_settings()
        base = dict(cell_m=st.hotspot_cell_m, band_m=st.hotspot_band_m, srid=st.hotspot_srid,
                    commune_neighbours=st.hotspot_commune_neighbours, commune_band_m=st.hotspot_commune_band_m,
                    min_incidents=st.hotspot_min_incidents, months=st.hotspot_months,
                    time_steps=st.hotspot_time_steps, confidence=st.hotspot_emerging_confidence,
                    min_incidents_per_month=st.hotspot_min_incidents_per_month)
        base.update({k: v for k, v in overrides.items() if v is not None})
        p = cls(**base)  # type: ignore[arg-type]
        p.check()
        return p

    def check(self) -> None:
        if self.analysis not in vocab.codes(vocab.HOTSPOT_ANALYSES):
            raise HotspotInputError(f"analysis must be one of {vocab.codes(vocab.HOTSPOT_ANALYSES)}, "
                                    f"not {self.analysis!r}")
        if self.cells not in vocab.codes(vocab.HOTSPOT_CELLS):
            raise HotspotInputError(f"cells must be one of {vocab.codes(vocab.HOTSPOT_CELLS)}, not {self.cells!r}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            raise HotspotInputError(f"unknown incident categories {unknown}: use any of {list(CATEGORIES)}")
        if self.since and self.until and self.since >= self.until:
            raise HotspotInputError("since must be before until")
        if self.commune_neighbours not in ("contiguity", "distance"):
            raise HotspotInputError("commune neighbours must be 'contiguity' or 'distance'")
        if self.confidence not in (90, 95, 99):
            raise HotspotInputError("confidence must be 90, 95 or 99 (per cent)")

    @property
    def category_key(self) -> str:
        return ",".join(sorted(set(self.categories))) if self.categories else "all"


@dataclass
class RunReport:
    run_id: int
    analysis: str
    cells: str
    category: str
    period_start: datetime
    period_end: datetime
    incident_count: int
    cell_count: int
    incidents_generated: bool
    classes: dict[str, int] = field(default_factory=dict)
    patterns: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        d["period_start"], d["period_end"] = self.period_start.isoformat(), self.period_end.isoformat()
        return d

    def lines(self) -> list[str]:
        out = [f"hot-spot run {self.run_id}: {self.analysis} over {self.cell_count} {self.cells} cells, "
               f"{self.incident_count} incidents of {self.category}, "
               f"{self.period_start:%Y-%m-%d} to {self.period_end:%Y-%m-%d}"]
        out += [f"  {k}: {v}" for k, v in (self.patterns or self.classes).items()]
        out += [f"note: {n}" for n in self.notes]
        return out


def _window(conn: psycopg.Connection, p: HotspotParams) -> tuple[datetime, datetime]:
    now = datetime.now(TZ)
    if p.analysis == "gi_star":
        until = p.until or now
        return (p.since or until - timedelta(days=365)), until
    end = (p.until or now).astimezone(TZ)
    end = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)   # the last complete month ends here
    start = end
    for _ in range(p.months):
        start = (start - timedelta(days=1)).replace(day=1)
    return start, end


def _area(conn: psycopg.Connection, srid: int) -> shapely.Geometry:
    area_sql = f"SELECT ST_AsBinary(ST_Transform(ST_Union(u.geom), %s)) FROM admin_unit u WHERE u.era = '2025' AND {COMMUNES}"  # noqa: E501, S608 (vocabulary)
    row = conn.execute(area_sql, [srid]).fetchone()
    if not row or row[0] is None:
        raise HotspotInputError("the database holds no 2025 communes: import the boundaries first")
    return shapely.from_wkb(row[0])


def _communes(conn: psycopg.Connection, p: HotspotParams) -> analysis.Cells:
    rows = conn.execute(
        f"""SELECT u.id, u.code, ST_AsBinary(ST_Transform(u.geom, %(srid)s)),
                   ST_X(ST_Transform(ST_PointOnSurface(u.geom), %(srid)s)),
                   ST_Y(ST_Transform(ST_PointOnSurface(u.geom), %(srid)s))
              FROM admin_unit u WHERE u.era = '2025' AND {COMMUNES} ORDER BY u.code""",  # noqa: S608
        {"srid": p.srid}).fetchall()
    if not rows:
        raise HotspotInputError("the database holds no 2025 communes: import the boundaries first")
    ids = [r[0] for r in rows]
    x, y = np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    if p.commune_neighbours == "distance":
        w = weights.distance_band(x, y, p.commune_band_m)
    else:
        pairs = conn.execute(
            f"""SELECT a.id, b.id FROM admin_unit a JOIN admin_unit b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
                 WHERE a.era = '2025' AND b.era = '2025' AND {COMMUNES.replace('u.', 'a.')}
                   AND {COMMUNES.replace('u.', 'b.')}""").fetchall()  # noqa: S608 (vocabulary)
        pos = {uid: i for i, uid in enumerate(ids)}
        w = weights.from_pairs(len(ids), np.array([pos[a] for a, _ in pairs], dtype=np.int64),
                               np.array([pos[b] for _, b in pairs], dtype=np.int64))
    return analysis.Cells(ids=[r[1] for r in rows], x=x, y=y,
                          outlines=np.array([shapely.from_wkb(r[2]) for r in rows], dtype=object),
                          weights=w, unit_ids=ids)


def _incidents(conn: psycopg.Connection, p: HotspotParams, start: datetime, end: datetime) -> pd.DataFrame:
    cats = list(p.categories) or list(CATEGORIES)
    rows = conn.execute(
        """SELECT ST_X(ST_Transform(geom, %(srid)s)), ST_Y(ST_Transform(geom, %(srid)s)), occurred_at, unit_id,
                  is_generated
             FROM incident WHERE category = ANY(%(cats)s) AND occurred_at >= %(start)s AND occurred_at < %(end)s""",
        {"srid": p.srid, "cats": cats, "start": start, "end": end}).fetchall()
    return pd.DataFrame(rows, columns=["x", "y", "at", "unit_id", "generated"])


def _month_index(at: pd.Series, start: datetime) -> np.ndarray:
    local = pd.to_datetime(at, utc=True).dt.tz_convert(TZ)
    s = start.astimezone(TZ)
    return ((local.dt.year - s.year) * 12 + (local.dt.month - s.month)).to_numpy(dtype=np.int64)


@dataclass
class Computed:
    report: RunReport
    cells: analysis.Cells
    frame: pd.DataFrame


def run(conn: psycopg.Connection, p: HotspotParams, created_by: int | None = None) -> RunReport:
    """Compute and store one run, all or nothing (its own transaction, or a savepoint inside the caller's);
    returns what it found."""
    done = compute(conn, p)
    with conn.transaction():
        done.report.run_id = _store(conn, p, done.report, done.cells, done.frame, created_by)
    return done.report


def compute(conn: psycopg.Connection, p: HotspotParams) -> Computed:
    """One run's cells and results, read from the database, nothing written."""
    p.check()
    start, end = _window(conn, p)
    cells = (analysis.hex_cells(_area(conn, p.srid), p.cell_m, p.band_m) if p.cells == "hex"
             else _communes(conn, p))
    inc = _incidents(conn, p, start, end)
    if p.cells == "hex":
        index = analysis.hex_index(cells, inc["x"].to_numpy(float), inc["y"].to_numpy(float), p.cell_m)
    else:
        pos = {uid: i for i, uid in enumerate(cells.unit_ids)}
        index = np.array([pos.get(u, -1) if u is not None else -1 for u in inc["unit_id"]], dtype=np.int64)
    if p.analysis == "gi_star":
        frame, notes = analysis.gi_star_frame(cells, index, p.min_incidents)
    else:
        frame, notes = analysis.emerging_frame(cells, index, _month_index(inc["at"], start), p.months,
                                               p.time_steps, p.confidence, p.min_incidents_per_month)
    generated = bool(len(inc)) and bool(inc["generated"].any())
    if generated:
        notes.append(GENERATED_NOTE)
    counted = int((index >= 0).sum())
    report = RunReport(0, p.analysis, p.cells, p.category_key, start, end, counted, len(cells.ids), generated,
                       classes=frame["class"].value_counts().to_dict(),
                       patterns=frame["trend"].value_counts().to_dict() if "trend" in frame else {},
                       notes=notes)
    return Computed(report, cells, frame)


def _store(conn: psycopg.Connection, p: HotspotParams, report: RunReport, cells: analysis.Cells,
           frame: pd.DataFrame, created_by: int | None) -> int:
    params = {k: v for k, v in asdict(p).items() if k not in ("since", "until")}
    method = ("Getis-Ord Gi*, binary weights, FDR" if p.analysis == "gi_star"
              else "space-time Gi* + Mann-Kendall (emerging hot spots), FDR")
    run_id = conn.execute(
        """INSERT INTO hotspot_run (method, params, cell_size_m, period_start, period_end, category, analysis, cells,
                                    categories, created_by, incident_count, cell_count, incidents_generated, notes,
                                    summary)
           VALUES (%s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb) RETURNING id""",
        [method, json.dumps(params), p.cell_m if p.cells == "hex" else 0.0, report.period_start, report.period_end,
         report.category, p.analysis, p.cells, sorted(set(p.categories)), created_by, report.incident_count,
         report.cell_count, report.incidents_generated, json.dumps(report.notes),
         json.dumps({"classes": report.classes, "patterns": report.patterns})]).fetchone()[0]
    cols = ["cell", "count", "z", "p", "class", "trend", "trend_z", "trend_p", "hot_bins", "cold_bins", "bins",
            "neighbours"]
    data = frame.reindex(columns=cols).astype(object).where(frame.reindex(columns=cols).notna(), None)
    conn.execute("CREATE TEMP TABLE hotspot_cell_in (cell text, count int, z float8, p float8, class text, "
                 "trend text, trend_z float8, trend_p float8, hot_bins int, cold_bins int, bins text, "
                 "neighbours int, geom geometry)")
    with conn.cursor() as cur, cur.copy("COPY hotspot_cell_in FROM STDIN") as copy:
        for row, g in zip(data.itertuples(index=False), cells.outlines, strict=True):
            copy.write_row([_plain(v) for v in row] + [f"SRID={p.srid};{shapely.to_wkt(g, rounding_precision=2)}"])
    conn.execute("""INSERT INTO hotspot_cell (run_id, cell, count, z, p, "class", trend, trend_z, trend_p, hot_bins,
                                              cold_bins, bins, neighbours, geom)
                    SELECT %s, cell, count, z, p, class, trend, trend_z, trend_p, hot_bins, cold_bins, bins,
                           neighbours, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Transform(geom, 4326)), 3))
                      FROM hotspot_cell_in""", [run_id])
    conn.execute("DROP TABLE hotspot_cell_in")
    return run_id


def _plain(v: object) -> object:
    """A frame value as COPY takes it: numpy scalars as Python numbers, NaN as NULL."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


# The runs the demo load stores, so that the hot-spot layers show something on a fresh `make run`.
DEMO_RUNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    *(("gi_star", "hex", (c,)) for c in ("drugs", "theft", "illegal_border_crossing")),
    ("gi_star", "hex", ()),
    ("gi_star", "commune", ()),
    *(("emerging", "hex", (c,)) for c in ("drugs", "theft", "illegal_border_crossing")),
    ("emerging", "hex", ()),
)


def store_for_demo(conn: psycopg.Connection, until: datetime) -> dict[str, int]:
    """The demo's hot-spot runs (DEMO_RUNS) with the settings' parameters, ending at the demo's end."""
    out = {}
    for analysis_, cells, categories in DEMO_RUNS:
        report = run(conn, HotspotParams.defaults(analysis=analysis_, cells=cells, categories=categories,
                                                  until=until))
        out[f"hotspots {analysis_} {cells} {report.category}"] = report.cell_count
    return out
