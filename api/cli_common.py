"""What every ``sitmap`` sub-command module shares: the database URL, the way to fail, the command line's
actor and a way to run one async operation of data/ops on a connection of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from data.permissions import Caller

T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` in red on stderr and end the command with exit status ``code`` (2: bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def url() -> str:
    """The sitmap database's URL (DATABASE_URL, or the embedded cluster's)."""
    from data.db.connection import database_url

    return database_url()


def actor() -> Caller:
    """The local command line acts with an admin's rights, as no signed-in user (audited as ``cli``)."""
    from data.ops.accounts import CLI_ACTOR
    from data.permissions import Caller

    return Caller(None, CLI_ACTOR, "admin")


def run_async(work: Callable[..., Awaitable[T]]) -> T:
    """``work(conn)`` on an autocommit connection of its own; a refused operation ends the command with
    status 2 and its reason."""
    import psycopg

    from data.ops.errors import OpsError

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url(), autocommit=True) as conn:
            return await work(conn)

    try:
        return asyncio.run(go())
    except OpsError as exc:
        fail(exc.detail, 2)
        raise  # not reached: fail exits
