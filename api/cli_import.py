"""`sitmap import KIND FILE`: the importers of data/importers behind one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import url as _url


def register(app: typer.Typer) -> None:
    app.command("import", help=_IMPORT_HELP)(import_file)


_IMPORT_HELP = ("Import KIND (communes, villages, roads, stations, patrol-points) from FILE "
                "(GeoJSON, Shapefile, GeoPackage, or CSV with lon/lat). All or nothing.")


def import_file(
    kind: Annotated[str, typer.Argument(help="communes | villages | roads | stations | patrol-points")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    era: Annotated[str, typer.Option(help="Administrative era of imported communes.")] = "2025",
) -> None:
    from data.importers import ImportRejected, run_import

    try:
        report = run_import(_url(), kind, file, era=era, progress=True)
    except ImportRejected as exc:
        typer.secho(exc.report(), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(report.summary())
