"""`sitmap patrol ...`: patrol schedules and team assignments."""

from __future__ import annotations

import typer

patrol_app = typer.Typer(help="Patrol schedules: teams and officers assigned to patrol points.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(patrol_app, name="patrol")
