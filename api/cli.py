"""The ``sitmap`` command line. Each sub-command is a thin shell over ``data/``, ``geo/`` or ``api/``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from api import cli_alerts, cli_cluster, cli_import, cli_patrols, cli_report, cli_users
from api.cli_common import fail, url
from data.db.cluster import Cluster, ClusterError
from data.settings import get_settings

app = typer.Typer(help="sitmap: situational-awareness map server for provincial and commune police.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database: the embedded PostGIS cluster, or DATABASE_URL.", no_args_is_help=True)
demo_app = typer.Typer(help="The Điện Biên demo dataset.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")


_fail = fail


def _cluster() -> Cluster:
    return Cluster.from_settings()


_url = url


def _external() -> bool:
    return bool(get_settings().database_url)


@db_app.command("start", help="Start the embedded cluster (initialising it on first use); idempotent.")
def db_start() -> None:
    if _external():
        typer.echo("DATABASE_URL is set: using the external server, nothing to start")
        return
    try:
        started = _cluster().start()
    except ClusterError as exc:
        _fail(str(exc))
    typer.echo(("started" if started else "already running") + f": {_cluster().url()}")


@db_app.command("stop", help="Stop the embedded cluster.")
def db_stop() -> None:
    stopped = _cluster().stop()
    typer.echo("stopped" if stopped else "not running")


@db_app.command("status", help="Is the embedded cluster running, and where are its files.")
def db_status() -> None:
    status = _cluster().status()
    typer.echo(json.dumps(status, indent=2))
    raise typer.Exit(0 if status["running"] or _external() else 3)


@db_app.command("url", help="Print the connection URL of the sitmap database.")
def db_url() -> None:
    typer.echo(_url())


@db_app.command("psql", help="Open psql on the sitmap database (extra arguments go to psql).",
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def db_psql(ctx: typer.Context) -> None:
    psql = shutil.which("psql")
    if not psql:
        _fail("psql not found: apt-get install postgresql-client-15")
    os.execv(psql, [psql, _url(), *ctx.args])


@db_app.command("migrate", help="Create the database if needed and apply all schema migrations.")
def db_migrate() -> None:
    from data.db.migrate import migrate

    try:
        migrate(_url())
    except ClusterError as exc:
        _fail(str(exc))
    typer.echo("schema is up to date")


URL_HELP = ("Any PostgreSQL URL instead of DATABASE_URL or the embedded cluster, e.g. an HA cluster's HAProxy "
            "read-write port (the client tools on PATH are used).")


@db_app.command("backup", help="Dump the sitmap database (pg_dump custom format) to FILE; default: "
                                "SITMAP_BACKUP_DIR/sitmap-<database>-<UTC time>.dump. The file appears only once "
                                "complete.")
def db_backup(
    output: Annotated[Path | None, typer.Option(help="Backup file to write.")] = None,
    url: Annotated[str | None, typer.Option("--url", help=URL_HELP)] = None,
) -> None:
    from data.db.backup import BackupError, backup, default_path, tools_for

    url = url or _url()
    try:
        info = backup(url, output or default_path(url), tools_for(url=url))
    except BackupError as exc:
        _fail(str(exc))
    typer.echo(f"backup written: {info.path} ({info.size_bytes / 1e6:.1f} MB, {info.seconds:.1f} s)")


@db_app.command("restore", help="Replace the sitmap database by the backup FILE. All or nothing: the backup is "
                                "checked, restored into a new database in one transaction, and swapped in for the "
                                "old one only when complete; a failure leaves the database as it was. Sessions on "
                                "the database are ended at the swap: restart `sitmap serve` afterwards.")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A file written by `sitmap db backup`.")],
    keep_previous: Annotated[bool, typer.Option("--keep-previous", help="Keep the replaced database as "
                                                "<name>_before_restore_<time> instead of dropping it.")] = False,
    url: Annotated[str | None, typer.Option("--url", help=URL_HELP)] = None,
) -> None:
    from data.db.backup import BackupError, NotABackup, restore, tools_for

    try:
        info = restore(url or _url(), file, tools_for(url=url), keep_previous=keep_previous)
    except NotABackup as exc:
        _fail(str(exc), 2)
    except BackupError as exc:
        _fail(str(exc))
    kept = f"; the previous database is kept as {info.kept_previous}" if info.kept_previous else ""
    typer.echo(f"restored {file} into {info.database} ({info.seconds:.1f} s){kept}")


@demo_app.command("load", help="Generate and load the Điện Biên demo dataset (deterministic per seed and end).")
def demo_load(
    seed: Annotated[int, typer.Option(help="Random seed of the generated parts.")] = 2025,
    until: Annotated[str | None, typer.Option(help="End of the two years of incidents (ISO date/time, "
                                                   "Asia/Ho_Chi_Minh); default: now.")] = None,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when units are loaded.")] = False,
) -> None:
    from data.demo.loader import is_loaded, load_demo
    from data.ops.demo_analyses import store_for_demo

    url = _url()
    if if_empty and is_loaded(url):
        typer.echo("demo data already loaded: nothing to do")
        return
    end = datetime.fromisoformat(until) if until else None
    report = load_demo(url, seed=seed, until=end, progress=True, then=store_for_demo)
    typer.echo(report.summary())
    _print_demo_users(url)


def _print_demo_users(url: str) -> None:
    from api.accounts import create_demo_users

    typer.echo("\ndemo users (passwords generated for this load; for local use only):")
    for u in create_demo_users(url):
        typer.echo(f"  {u['username']:<20} {u['password']:<18} {u['role']:<10} {u['communes']}")


@demo_app.command("users", help="Give the demo users (one per role) new random passwords and print them.")
def demo_users() -> None:
    _print_demo_users(_url())


@app.command("serve", help="Serve the API and the map on SITMAP_HOST:SITMAP_PORT.")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int | None, typer.Option()] = None,
) -> None:
    import uvicorn

    s = get_settings()
    if (workers or s.workers) > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from api.metrics import prepare_multiprocess

        prepare_multiprocess()  # forked workers write their metrics where any of them can read all
    uvicorn.run("api.app:create_app", factory=True, host=host or s.host, port=port or s.port,
                workers=workers or s.workers, log_level="info", proxy_headers=False,
                access_log=False)  # each request's line is sitmap.request's (api/request_log.py)


export_app = typer.Typer(help="Exports: printable briefing maps.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("briefing", help="A briefing map of one commune: self-contained HTML (opens with no server), "
                                     "or PDF/PNG printed by headless Chromium.")
def export_briefing(
    commune: Annotated[str, typer.Option(help="Official code or name (diacritics optional), e.g. 03166 or "
                                              "'Mường Chà'.")],
    format: Annotated[str, typer.Option("--format", help="html | pdf | png")] = "html",
    output: Annotated[Path | None, typer.Option(help="Output file; default briefing-<code>.<format>.")] = None,
    lang: Annotated[str, typer.Option(help="vi | en")] = "vi",
    until: Annotated[str | None, typer.Option(help="End of the period (ISO date/time, Asia/Ho_Chi_Minh); "
                                                   "default: now.")] = None,
) -> None:
    from data.ops.briefing import UnitNotFound
    from web.briefing import export

    if format not in ("html", "pdf", "png"):
        _fail(f"--format must be html, pdf or png, not {format!r}", 2)
    if lang not in ("vi", "en"):
        _fail(f"--lang must be vi or en, not {lang!r}", 2)
    end = _local_time(until, "--until")
    try:
        path = export(_url(), commune, format, output, lang=lang, until=end)
    except UnitNotFound as exc:
        _fail(str(exc), 2)
    except (FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
    typer.echo(f"briefing written: {path}")


@app.command("audit", help="List the audit log, newest first (who, when, what, from where).")
def audit_list(
    user: Annotated[str | None, typer.Option(help="Only this user name.")] = None,
    action: Annotated[str | None, typer.Option(help="Action, * as wildcard (e.g. 'incident.*').")] = None,
    target: Annotated[str | None, typer.Option(help="Target, * as wildcard (e.g. 'incident:*').")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date/time.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    from api.accounts import parse_time, search_audit

    try:
        rows = search_audit(_url(), username=user, action=action, target=target, since=parse_time(since),
                            until=parse_time(until), limit=limit)
    except ValueError as exc:
        _fail(f"--since/--until must be ISO dates or times: {exc}", 2)
    for r in rows:
        if as_json:
            typer.echo(json.dumps(r, default=str, ensure_ascii=False))
        else:
            typer.echo(f"{r['at']:%Y-%m-%d %H:%M:%S%z}  {r['username'] or '-':<16} {r['action']:<24} "
                       f"{r['target'] or '-':<48} {r['remote_addr'] or '-'}")


analyze_app = typer.Typer(help="Analyses: travel over the road graph (geo/travel), hot spots (geo/hotspots), "
                               "key-area rules (geo/designation).",
                          no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")
# Defaults are the settings (data/settings.py: SITMAP_TRAVEL_SNAP_MAX_M, SITMAP_TRAVEL_WALK_KMH, ...), as for the API.
SnapOpt = Annotated[float | None, typer.Option("--max-snap-m", min=0, help="Metres a point may lie off the road; "
                                               "default SITMAP_TRAVEL_SNAP_MAX_M.")]
WalkOpt = Annotated[float | None, typer.Option("--walk-kmh", min=0.1, help="Walking speed off the road, km/h; "
                                               "default SITMAP_TRAVEL_WALK_KMH.")]
FormatOpt = Annotated[str, typer.Option("--format", help="csv | geojson")]
OutputOpt = Annotated[Path, typer.Option("--output", help="File to write.", dir_okay=False)]


def _analysis(name: str, fmt: str, output: Path, run) -> None:
    """Run ``run(conn) -> (frame, lines to print)``, write the frame, print the lines and the demo note."""
    import psycopg

    from geo.travel.export import FORMATS, write
    from geo.travel.network import TravelError

    if fmt not in FORMATS:
        _fail(f"--format must be csv or geojson, not {fmt!r}", 2)
    try:
        with psycopg.connect(_url()) as conn:
            frame, lines = run(conn)
    except (TravelError, LookupError, ValueError) as exc:
        _fail(str(exc), 2)
    write(frame, output, fmt, name)
    for line in lines:
        typer.echo(line)
    typer.echo(f"{name}: {len(frame)} rows written to {output}")
    if frame.attrs.get("roads_generated"):
        typer.secho(f"note: {frame.attrs['note']}", fg=typer.colors.YELLOW)


def _travel(max_snap_m: float | None, walk_kmh: float | None) -> dict[str, float]:
    """The snapping distance and walking speed given, else the settings'."""
    st = get_settings()
    return {"max_snap_m": st.travel_snap_max_m if max_snap_m is None else max_snap_m,
            "walk_kmh": st.travel_walk_kmh if walk_kmh is None else walk_kmh}


def _coverage_minutes(text: str | None) -> tuple[float, ...]:
    """--minutes as limits (e.g. 15,30,60); default SITMAP_COVERAGE_MINUTES. Exit 2 if malformed."""
    try:
        return tuple(float(m) for m in text.split(",")) if text else tuple(get_settings().coverage_minutes)
    except ValueError:
        _fail(f"--minutes must be numbers separated by commas, such as 15,30,60; not {text!r}", 2)


def _local_time(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time option; without an offset it is Asia/Ho_Chi_Minh's. Exit 2 if malformed."""
    from zoneinfo import ZoneInfo

    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not an ISO date or date-time (e.g. 2026-11-01)", 2)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def _day(text: str | None, option: str):
    from datetime import date

    from geo.travel.network import local_today

    try:
        return date.fromisoformat(text) if text else local_today()
    except ValueError:
        _fail(f"{option} {text!r} is not an ISO date (e.g. 2026-01-01)", 2)


@analyze_app.command("access", help="Every village's trip to its own commune's station and to the nearest station.")
def analyze_access(fmt: FormatOpt = "csv", output: OutputOpt = Path("access.csv"),
                   on: Annotated[str | None, typer.Option(help="Stations in service on this day; default today.")
                                 ] = None, max_snap_m: SnapOpt = None, walk_kmh: WalkOpt = None) -> None:
    from geo.travel.access import access_summaries, access_table

    def run(conn):
        t = access_table(conn, on=_day(on, "--on"), **_travel(max_snap_m, walk_kmh))
        p = access_summaries(t)["province"].iloc[0]
        return t, [f"province, population-weighted: {p['own_station_min_weighted_mean']:.1f} min to the own "
                   f"commune station, {p['nearest_station_min_weighted_mean']:.1f} min to the nearest station "
                   f"({int(p['villages'])} villages, {int(p['villages_without_value'])} without a figure)"]

    _analysis("access", fmt, output, run)


@analyze_app.command("savings", help="Trip per village before 1 March 2025, from 1 March and from 1 July; changes.")
def analyze_savings(fmt: FormatOpt = "csv", output: OutputOpt = Path("savings.csv"),
                    max_snap_m: SnapOpt = None, walk_kmh: WalkOpt = None) -> None:
    from geo.travel.savings import farther_after_july, savings_summaries, savings_table

    def run(conn):
        t = savings_table(conn, **_travel(max_snap_m, walk_kmh))
        p = savings_summaries(t)["province"].iloc[0]
        f = farther_after_july(t)
        return t, [
            "province, population-weighted minutes (km) per trip: "
            f"before {p['before_min']:.1f} ({p['before_km']:.1f}), from 1 March {p['march_min']:.1f} "
            f"({p['march_km']:.1f}), from 1 July {p['july_min']:.1f} ({p['july_km']:.1f})",
            f"change: 1 March {p['change_march_min']:+.1f} min ({p['change_march_km']:+.1f} km), 1 July "
            f"{p['change_july_min']:+.1f} min ({p['change_july_km']:+.1f} km), both {p['change_total_min']:+.1f} min "
            f"({p['change_total_km']:+.1f} km); person-hours for one trip each: {p['person_hours_total']:+,.0f}",
            f"farther since 1 July than from 1 March: {f['villages']} of {f['villages_total']} villages, "
            f"{f['population']:,} of {f['population_total']:,} people, by {f['extra_min_weighted_mean']:.1f} min "
            f"({f['extra_km_weighted_mean']:.1f} km) on average, at most {f['extra_min_max']:.0f} min"]

    _analysis("savings", fmt, output, run)


@analyze_app.command("isochrones", help="Areas reachable by road from a station (or a lon,lat point).")
def analyze_isochrones(station: Annotated[str | None, typer.Option(help="Station code, e.g. CA-03127.")] = None,
                       point: Annotated[str | None, typer.Option(help="lon,lat instead of a station.")] = None,
                       minutes: Annotated[str | None, typer.Option(
                           help="Limits in minutes, comma-separated; default SITMAP_TRAVEL_ISOCHRONE_MINUTES.")] = None,
                       fmt: FormatOpt = "geojson", output: OutputOpt = Path("isochrones.geojson"),
                       max_snap_m: SnapOpt = None, walk_kmh: WalkOpt = None) -> None:
    from geo.travel.isochrones import isochrones, station_isochrones

    if (station is None) == (point is None):
        _fail("give either --station CODE or --point LON,LAT", 2)
    try:
        limits = (tuple(float(m) for m in minutes.split(",")) if minutes is not None
                  else get_settings().travel_isochrone_minutes)
        lonlat = tuple(float(v) for v in point.split(",")) if point else None
    except ValueError:
        _fail("--minutes takes numbers like 15,30,60 and --point two numbers like 103.02,21.38", 2)
    if lonlat is not None and len(lonlat) != 2:
        _fail("--point takes lon,lat", 2)

    def run(conn):
        st = get_settings()
        kw = {"minutes": limits, **_travel(max_snap_m, walk_kmh), "buffer_m": st.travel_isochrone_buffer_m,
              "cell_m": st.travel_isochrone_cell_m}
        if station:
            found = conn.execute("SELECT id FROM station WHERE code = %s", [station]).fetchone()
            if not found:
                raise LookupError(f"there is no station with code {station!r}")
            t = station_isochrones(conn, found[0], **kw)
        else:
            t = isochrones(conn, *lonlat, **kw)
        return t, [f"{r.minutes:g} min: {r.area_km2:.1f} km², {r.reached_road_km:.1f} km of road"
                   for r in t.itertuples()]

    _analysis("isochrones", fmt, output, run)


@analyze_app.command("responses", help="Travel time from the commune station to each incident; median, p90.")
def analyze_responses(since: Annotated[str, typer.Option(help="ISO date/time (Asia/Ho_Chi_Minh).")] = "2024-01-01",
                      until: Annotated[str | None, typer.Option(help="ISO date/time; default now.")] = None,
                      fmt: FormatOpt = "csv", output: OutputOpt = Path("responses.csv"),
                      max_snap_m: SnapOpt = None, walk_kmh: WalkOpt = None) -> None:
    from zoneinfo import ZoneInfo

    from geo.travel.response import response_summary, response_times

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    try:
        start = datetime.fromisoformat(since)
        end = datetime.fromisoformat(until) if until else datetime.now(tz)
    except ValueError:
        _fail("--since/--until must be ISO dates or date-times (e.g. 2025-07-01)", 2)
    start, end = (d if d.tzinfo else d.replace(tzinfo=tz) for d in (start, end))

    def run(conn):
        t = response_times(conn, since=start, until=end, **_travel(max_snap_m, walk_kmh))
        s = response_summary(t)
        ok = t["response_min"].dropna()
        return t, [f"{len(t)} incidents, {len(ok)} with a figure: median {ok.median():.1f} min, p90 "
                   f"{ok.quantile(0.9):.1f} min; {len(s)} commune-months" if len(ok) else f"{len(t)} incidents"]

    _analysis("responses", fmt, output, run)


@analyze_app.command("coverage", help="Population and villages within each limit of a police station, per commune "
                                      "and for the province (printed); the underserved villages to --output.")
def analyze_coverage(
    minutes: Annotated[str | None, typer.Option(help="Limits in minutes, comma-separated, e.g. 30 or 15,30,60; "
                                                "default SITMAP_COVERAGE_MINUTES.")] = None,
    status: Annotated[str | None, typer.Option(help="Only stations with these headquarters statuses, "
                                               "comma-separated (independent, shared, under_construction, "
                                               "planned); default every station in service.")] = None,
    on: Annotated[str | None, typer.Option(help="Stations in service on this day; default today.")] = None,
    underserved_min: Annotated[float | None, typer.Option(min=0.1, help="Underserved beyond these minutes; "
                                                          "default SITMAP_COVERAGE_UNDERSERVED_MIN.")] = None,
    basis: Annotated[str, typer.Option(help="Underserved by the trip to the nearest | own | either station.")
                     ] = "nearest",
    fmt: FormatOpt = "csv", output: OutputOpt = Path("underserved.csv"), max_snap_m: SnapOpt = None,
    walk_kmh: WalkOpt = None,
) -> None:
    from geo.coverage.coverage import coverage

    limits = _coverage_minutes(minutes)
    statuses = tuple(s.strip() for s in status.split(",") if s.strip()) if status is not None else None

    def run(conn):
        cov = coverage(conn, on=_day(on, "--on"), minutes=limits, statuses=statuses,
                       underserved_min=underserved_min or get_settings().coverage_underserved_min,
                       **_travel(max_snap_m, walk_kmh))
        under = cov.underserved(basis=basis)
        return under, [*cov.lines(), f"underserved ({basis} station beyond {cov.underserved_min:g} min): "
                       f"{len(under)} villages, {int(under['population'].sum()):,} people"]

    _analysis("coverage-underserved", fmt, output, run)


@analyze_app.command("scenario", help="A what-if (a JSON file: a list of changes, or a saved scenario's id) "
                                     "beside today: coverage per limit, printed; the villages' minutes today and "
                                     "with the changes to --output. Nothing is stored or changed.")
def analyze_scenario(
    changes: Annotated[str, typer.Argument(help="A JSON file holding the list of changes (add_station, "
                                                "remove_station, move_station, set_status, add_closure), "
                                                "or the id of a saved scenario.")],
    minutes: Annotated[str | None, typer.Option(help="Limits in minutes, comma-separated; default "
                                                "SITMAP_COVERAGE_MINUTES.")] = None,
    fmt: FormatOpt = "csv", output: OutputOpt = Path("scenario.csv"), max_snap_m: SnapOpt = None,
    walk_kmh: WalkOpt = None,
) -> None:
    import geopandas as gpd

    from data.ops.errors import OpsError
    from data.ops.scenarios import check_sync, compute
    from geo.travel.network import local_today

    limits = _coverage_minutes(minutes)

    def run(conn):
        if changes.isdigit():
            row = conn.execute("SELECT changes FROM scenario WHERE id = %s", [int(changes)]).fetchone()
            if row is None:
                raise LookupError(f"there is no scenario {changes}; GET /scenarios lists them")
            given = row[0]
        else:
            try:
                given = json.loads(Path(changes).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{changes}: not a readable JSON file of changes ({exc})") from exc
        try:
            checked = check_sync(conn, given, local_today())
        except OpsError as exc:
            raise ValueError(exc.detail) from exc
        doc, today, scen = compute(conn, checked, on=local_today(), minutes=limits, **_travel(max_snap_m, walk_kmh))
        v = today.villages
        frame = gpd.GeoDataFrame(v.assign(scenario_nearest_min=scen.villages["nearest_min"].to_numpy(),
                                          change_min=scen.villages["nearest_min"].to_numpy() - v["nearest_min"]),
                                 geometry=gpd.points_from_xy(v["lon"], v["lat"]), crs="EPSG:4326")
        frame.attrs.update(today.attrs)
        lines = [f"{r['limit_min']:g} min: today {r['today_population']:,} people ({r['today_share']:.1%}), "
                 f"scenario {r['scenario_population']:,} ({r['scenario_share']:.1%}), change "
                 f"{r['change_population']:+,}" for r in doc["table"]]
        return frame, lines

    _analysis("scenario", fmt, output, run)


@analyze_app.command("refresh", help="Recompute the stored travel analyses that the travel layers draw "
                                    "(village-access, isochrones, reorganisation-savings, response-times), e.g. "
                                    "after a road import; each replaces its previous run, all in one transaction.")
def analyze_refresh(
    only: Annotated[str | None, typer.Option(help="Comma-separated subset of access,isochrones,savings,responses."
                                             )] = None,
    on: Annotated[str | None, typer.Option(help="Stations in service on this day; default today.")] = None,
    since: Annotated[str | None, typer.Option(help="Response times of incidents from this ISO date/time "
                                                   "(Asia/Ho_Chi_Minh); default a year before --until.")] = None,
    until: Annotated[str | None, typer.Option(help="... until this ISO date/time; default now.")] = None,
    minutes: Annotated[str | None, typer.Option(help="Isochrone limits, comma-separated; default "
                                                     "SITMAP_TRAVEL_ISOCHRONE_MINUTES.")] = None,
    max_snap_m: Annotated[float | None, typer.Option("--max-snap-m", min=0, help="Metres a point may lie off the "
                                                     "road; default SITMAP_TRAVEL_SNAP_MAX_M.")] = None,
    walk_kmh: Annotated[float | None, typer.Option("--walk-kmh", min=0.1, help="Walking speed off the road; "
                                                   "default SITMAP_TRAVEL_WALK_KMH.")] = None,
) -> None:
    from zoneinfo import ZoneInfo

    import psycopg

    from data.ops.travel_results import ANALYSES, TravelParams, refresh
    from geo.travel.network import TravelError

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    chosen = [a.strip() for a in only.split(",")] if only else list(ANALYSES)
    if not chosen or any(a not in ANALYSES for a in chosen):
        _fail(f"--only takes a comma-separated subset of {','.join(ANALYSES)}, not {only!r}", 2)
    try:
        start, end = (datetime.fromisoformat(v) if v else None for v in (since, until))
        limits = tuple(float(m) for m in minutes.split(",")) if minutes else None
    except ValueError:
        _fail("--since/--until take ISO dates or date-times (e.g. 2025-07-01), --minutes numbers like 15,30,60", 2)
    if limits is not None and (not limits or min(limits) <= 0):
        _fail("--minutes takes positive limits like 15,30,60", 2)
    start, end = (d if d is None or d.tzinfo else d.replace(tzinfo=tz) for d in (start, end))
    overrides = {k: v for k, v in (("minutes", limits), ("max_snap_m", max_snap_m), ("walk_kmh", walk_kmh))
                 if v is not None}
    params = TravelParams.defaults(on=_day(on, "--on"), since=start, until=end, **overrides)
    try:
        with psycopg.connect(_url()) as conn:
            report = refresh(conn, params, chosen)
    except (TravelError, ValueError) as exc:
        _fail(str(exc), 2)
    typer.echo(report.summary())
    if report.roads_generated:
        typer.secho(f"note: {report.note}", fg=typer.colors.YELLOW)


@analyze_app.command("designations", help="Evaluate the key-area rules (geo/designation/rules.yaml) on the current "
                                         "data, write their proposals (status proposed, origin rule; a re-run on "
                                         "unchanged data writes nothing) and show, unit by unit, where they differ "
                                         "from the approved historical designations, and why.")
def analyze_designations(
    rules: Annotated[Path | None, typer.Option(help="Rule file; default geo/designation/rules.yaml.",
                                               dir_okay=False)] = None,
    until: Annotated[str | None, typer.Option(help="End of the window (ISO date/time, Asia/Ho_Chi_Minh); default "
                                                   "the newest incident.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Evaluate and report; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of text.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report to this file.",
                                                dir_okay=False)] = None,
) -> None:

    import psycopg

    from data.ops.designation_rules import NoCommunes, load, run
    from geo.designation.rules import RuleError

    end = _local_time(until, "--until")
    try:
        ruleset = load(rules)
        with psycopg.connect(_url()) as conn:
            report = run(conn, ruleset, until=end, dry_run=dry_run)
    except (RuleError, NoCommunes) as exc:
        _fail(str(exc), 2)
    doc = report.as_json()
    if output is not None:
        output.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    else:
        for line in report.lines():
            typer.echo(line)
        if output is not None:
            typer.echo(f"report written to {output}")


CategoriesOpt = Annotated[str | None, typer.Option(help="Incident categories, comma-separated; default all.")]
CellsOpt = Annotated[str, typer.Option(help="hex (a hexagonal grid) | commune (the 2025 communes)")]
UntilOpt = Annotated[str | None, typer.Option(help="End of the window (ISO date/time, Asia/Ho_Chi_Minh when without "
                                                   "an offset); default now (the last complete month for emerging).")]
CellMOpt = Annotated[float | None, typer.Option("--cell-m", help="Hexagon width, m; default SITMAP_HOTSPOT_CELL_M.")]
BandMOpt = Annotated[float | None, typer.Option("--band-m", help="Neighbours within this distance, m; default "
                                                "SITMAP_HOTSPOT_BAND_M.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run report as JSON instead of text.")]


def _hotspot_run(as_json: bool, **asked: object) -> None:
    """Read the options as POST /analyses/hotspots reads its body (api/hotspot_request.py), run, store, commit."""
    import psycopg
    from pydantic import ValidationError

    from api.hotspot_request import HotspotRequest
    from data.ops.hotspot_runs import HotspotInputError, run

    cats = asked.pop("categories")
    if cats is not None:
        asked["categories"] = [c.strip() for c in str(cats).split(",") if c.strip()]
    try:
        params = HotspotRequest(**{k: v for k, v in asked.items() if v is not None}).params()
    except ValidationError as exc:
        _fail("; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-') or 'options'}: "
                        f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()), 2)
    except HotspotInputError as exc:
        _fail(str(exc), 2)
    try:
        with psycopg.connect(_url()) as conn:
            report = run(conn, params)
    except HotspotInputError as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))
        return
    for line in report.lines():
        typer.echo(line)


@analyze_app.command("hotspots", help="Getis-Ord Gi* hot and cold spots (FDR corrected) of the incidents in a "
                                      "window, stored as a new hot-spot run: the latest run of its categories is "
                                      "the hotspots layer; earlier runs stay at /hotspot-runs/{id}.")
def analyze_hotspots(
    categories: CategoriesOpt = None, cells: CellsOpt = "hex",
    since: Annotated[str | None, typer.Option(help="Start of the window (ISO date/time, Asia/Ho_Chi_Minh); "
                                                   "default a year before --until.")] = None,
    until: UntilOpt = None, cell_m: CellMOpt = None, band_m: BandMOpt = None, as_json: JsonOpt = False,
) -> None:
    _hotspot_run(as_json, analysis="gi_star", categories=categories, cells=cells, since=since, until=until,
                 cell_m=cell_m, band_m=band_m)


@analyze_app.command("emerging", help="Emerging hot spots (monthly Gi* slices and a Mann-Kendall trend per cell, "
                                      "ArcGIS's 17 patterns), stored as a new run: the latest of its categories is "
                                      "the emerging-hotspots layer.")
def analyze_emerging(
    categories: CategoriesOpt = None, cells: CellsOpt = "hex", until: UntilOpt = None,
    months: Annotated[int | None, typer.Option(help="Monthly bins before --until; default SITMAP_HOTSPOT_MONTHS.")
                      ] = None,
    confidence: Annotated[int | None, typer.Option(help="90 | 95 | 99 (per cent); default "
                                                   "SITMAP_HOTSPOT_EMERGING_CONFIDENCE.")] = None,
    cell_m: CellMOpt = None, band_m: BandMOpt = None, as_json: JsonOpt = False,
) -> None:
    _hotspot_run(as_json, analysis="emerging", categories=categories, cells=cells, until=until, months=months,
                 confidence=confidence, cell_m=cell_m, band_m=band_m)


@analyze_app.command("sites", help="Where new stations would help most: lscp (fewest new sites so every reachable "
                                   "village is within --minutes), mclp (the --p new sites covering the most "
                                   "people) or pmedian (least population-weighted travel time); stations in "
                                   "service are kept. Solved exactly (CBC); prints the chosen sites.")
def analyze_sites(
    problem: Annotated[str, typer.Option(help="lscp | mclp | pmedian")] = "mclp",
    minutes: Annotated[float, typer.Option(help="The covering limit in minutes.")] = 30.0,
    p: Annotated[int, typer.Option("--p", help="New sites (mclp, pmedian).")] = 3,
    candidates: Annotated[str, typer.Option(help="villages | nodes (national/provincial road junctions) | FILE "
                                                 "(GeoJSON or CSV lon,lat of proposed plots)")] = "villages",
    spacing_m: Annotated[float, typer.Option(help="Least metres between two junction candidates.")] = 2000.0,
    demand: Annotated[str, typer.Option(help="population | incidents")] = "population",
    time_limit_s: Annotated[float, typer.Option(help="The solver stops here and reports its gap.")] = 60.0,
    solver: Annotated[str | None, typer.Option(help="cbc | highs; default CBC for lscp/mclp, HiGHS for "
                                                    "pmedian.")] = None,
    max_snap_m: SnapOpt = None, walk_kmh: WalkOpt = None, as_json: JsonOpt = False,
) -> None:
    import psycopg

    from data.ops.errors import OpsError
    from data.ops.site_selection import SiteParams, select_sites
    from geo.travel.network import TravelError

    plots = None
    kind = candidates
    if candidates not in ("villages", "nodes"):
        from data.importers.plots import PlotsRejected, read_plots

        if not Path(candidates).is_file():
            _fail(f"--candidates must be villages, nodes or a file of proposed plots; {candidates!r} is no file", 2)
        try:
            plots, kind = read_plots(Path(candidates)), "file"
        except PlotsRejected as exc:
            _fail(str(exc), 2)
    params = SiteParams(problem=problem, minutes=minutes, p=p, candidates=kind, demand=demand,  # type: ignore[arg-type]
                        time_limit_s=time_limit_s, solver=solver, spacing_m=spacing_m, plots=plots)
    try:
        with psycopg.connect(_url()) as conn:
            doc = select_sites(conn, params, **_travel(max_snap_m, walk_kmh))
    except OpsError as exc:
        _fail(f"--{str(exc.extra.get('field', 'options')).replace('_', '-')}: {exc.detail}", 2)
    except TravelError as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        return
    for line in site_lines(doc):
        typer.echo(line)
    if doc["roads_generated"]:
        typer.secho(f"note: {doc['note']}", fg=typer.colors.YELLOW)


def site_lines(doc: dict) -> list[str]:
    """A site selection's answer as text: the solver's status, the objective, each site and what it adds."""
    unit = "incidents" if doc["demand"] == "incidents" else "population"
    gap = "" if doc["gap"] in (None, 0) else f", gap {doc['gap'] * 100:.2f} %"
    cov = doc["coverage"]
    out = [f"{doc['problem']}: {doc['status']}{gap} ({doc['solver']}, {doc['solve_s']:.1f} s; matrix "
           f"{doc['villages']} villages x {doc['candidates']['count']} candidates + {doc['fixed_stations']} "
           f"stations in {doc['matrix_s']:.1f} s)",
           f"objective: {doc['objective']:,.0f} ({doc['objective_is']})" if doc["objective"] is not None
           else "objective: none (no solution)",
           f"{unit} within {cov['within_min']:g} min: {cov['before'][unit]:,.0f} "
           f"({(cov['before']['share'] or 0) * 100:.1f} %) today, {cov['after'][unit]:,.0f} "
           f"({(cov['after']['share'] or 0) * 100:.1f} %) with the new sites: +{cov['gained']:,.0f}"]
    if doc["uncoverable"]["villages"]:
        out.append(f"{doc['uncoverable']['villages']} villages ({doc['uncoverable'][unit]:,.0f}) cannot be reached "
                   f"within {cov['within_min']:g} min from any site")
    if doc["problem"] == "pmedian" and cov["before"]["mean_min"] is not None:
        out.append(f"mean minutes to the nearest station ({unit}-weighted): {cov['before']['mean_min']:.1f} today, "
                   f"{cov['after']['mean_min']:.1f} with the new sites")
    gained = unit + (" served" if doc["problem"] == "pmedian" else " gained")
    out.append(f"{'#':>3}  {'site':<34} {'lon':>10} {'lat':>9}  {'commune':<24} {gained:>18}")
    for s in doc["chosen"]:
        out.append(f"{s['rank']:>3}  {str(s['label'])[:34]:<34} {s['lon']:>10.5f} {s['lat']:>9.5f}  "
                   f"{str(s['commune'] or '-')[:24]:<24} {s[unit + '_gained']:>18,.0f}")
    return out


# Sub-commands with a module of their own (api/cli_*.py); each adds itself to the app.
for _module in (cli_import, cli_users, cli_report, cli_patrols, cli_alerts, cli_cluster):
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry for `python -m api.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
