"""`sitmap alerts ...`: notification rules and their webhooks."""

from __future__ import annotations

import typer

alerts_app = typer.Typer(help="Notification rules (who hears of what) and their webhooks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
