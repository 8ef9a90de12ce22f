"""`sitmap import KIND FILE`: the importers of data/importers behind one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import url as _url


def register(app: typer.Typer) -> None:
    app.command("import", help=_IMPORT_HELP)(import_file)


_IMPORT_HELP = ("Import KIND (communes, villages, roads, stations, patrol-points, incidents) from FILE "
                "(GeoJSON, Shapefile, GeoPackage, CSV or .xlsx with lon/lat). All or nothing. Official column names "
                "(MA_XA, TEN_XA, DAN_SO, ...) are recognised; exit status 2 when rejected.")


def import_file(
    kind: Annotated[str, typer.Argument(help="communes | villages | roads | stations | patrol-points | incidents")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    era: Annotated[str, typer.Option(help="Administrative era of imported communes.")] = "2025",
    columns: Annotated[str | None, typer.Option(
        help="Map other columns to fields, e.g. code=MA_XA,name=TEN_XA (overrides the column vocabulary).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check everything and print the full report; write nothing.")] = False,
    reject_report: Annotated[bool, typer.Option(
        "--reject-report", help="When rejected, write FILE.rejects.csv beside FILE (row, field, value, reason).")
    ] = False,
) -> None:
    import getpass

    from api.import_audit import recorder
    from data.importers import ImportRejected, run_import
    from data.importers.columns import parse_mapping
    from data.importers.report import rejects_path

    try:
        mapping = parse_mapping(columns)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--columns") from exc
    try:
        report = run_import(_url(), kind, file, era=era, progress=True, dry_run=dry_run, column_map=mapping,
                            on_written=recorder(None, f"cli:{getpass.getuser()}", None))
    except ImportRejected as exc:
        typer.secho(exc.report(), fg=typer.colors.RED, err=True)
        if reject_report:
            written = exc.import_report.write_rejects_csv(rejects_path(file))
            typer.secho(f"reject report written to {written}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(report.summary())
