"""`sitmap report`: period reports (incidents, clearance, response times, patrols, procedures) as xlsx or csv."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds `sitmap report` (filled in by the period-report work)."""
