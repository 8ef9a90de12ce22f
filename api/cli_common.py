"""What every ``sitmap`` sub-command module shares: the database URL and the way to fail."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` in red on stderr and end the command with exit status ``code`` (2: bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def url() -> str:
    """The sitmap database's URL (DATABASE_URL, or the embedded cluster's)."""
    from data.db.connection import database_url

    return database_url()
