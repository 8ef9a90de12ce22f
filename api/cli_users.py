"""`sitmap user ...`: accounts, roles and commune scopes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from api.cli_common import fail as _fail
from api.cli_common import url as _url

user_app = typer.Typer(help="Accounts: roles admin, commander, planner, officer; commune scopes.",
                       no_args_is_help=True)


T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


def _run(work: Callable[..., Awaitable[T]]) -> T:
    """``work(conn)`` on a connection of its own; a refused request (UserError) ends the command with status 2."""
    import psycopg

    from data.ops.users import UserError

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(_url(), autocommit=True) as conn:
            return await work(conn)

    try:
        return asyncio.run(go())
    except UserError as exc:
        _fail(str(exc), 2)
        raise  # not reached: _fail exits


@user_app.command("add", help="Add a user. --commune takes a 2025 code or exact name (repeatable); officers need one. "
                               "The user must change the password at first sign-in unless --no-force-change.")
def user_add(
    name: Annotated[str, typer.Argument(help="User name used to sign in.")],
    role: Annotated[str, typer.Option(help="admin | commander | planner | officer")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    commune: Annotated[list[str] | None, typer.Option(help="Commune scope (code or exact name).")] = None,
    display_name: Annotated[str | None, typer.Option(help="Full name shown to colleagues.")] = None,
    force_change: Annotated[bool, typer.Option("--force-change/--no-force-change",
                                               help="Make the user change this password at first sign-in.")] = True,
) -> None:
    from data.ops import accounts

    user = _run(lambda conn: accounts.add_user(conn, name, role, password, commune or [], display_name,
                                               force_change))
    typer.echo(f"added {user['username']} ({user['role']}, "
               f"{', '.join(user['communes']) or 'province-wide'})"
               + ("; the password must be changed at first sign-in" if force_change else ""))


@user_app.command("list", help="List users with role, communes and whether disabled.")
def user_list() -> None:
    from api.accounts import list_users

    for u in list_users(_url()):
        state = "disabled" if u["disabled"] else "active"
        typer.echo(f"{u['username']:<24} {u['role']:<10} {state:<9} {', '.join(u['communes']) or 'province-wide'}")


@user_app.command("disable", help="Disable a user and revoke their sessions at once.")
def user_disable(name: Annotated[str, typer.Argument()]) -> None:
    from api.accounts import disable_user

    if not disable_user(_url(), name):
        _fail(f"there is no user {name!r}; see `sitmap user list`", 2)
    typer.echo(f"disabled {name}; their sessions are revoked")


@user_app.command("enable", help="Enable a disabled user again (their old sessions stay revoked).")
def user_enable(name: Annotated[str, typer.Argument()]) -> None:
    from data.ops import accounts

    done = _run(lambda conn: accounts.enable_user(conn, name))
    typer.echo(f"enabled {name}" if done else f"{name} was not disabled; nothing changed")


@user_app.command("passwd", help="Set a user's password (prompted twice, or one line on stdin with "
                                 "--password-stdin); the user must change it at next sign-in unless "
                                 "--no-force-change. The user's sessions end.")
def user_passwd(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from the first line of stdin.")] = False,
    force_change: Annotated[bool, typer.Option("--force-change/--no-force-change",
                                               help="Make the user change it at next sign-in.")] = True,
) -> None:
    from data.ops import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    ended = _run(lambda conn: accounts.reset_password(conn, name, password, force_change))
    typer.echo(f"password of {name} set; {ended} session(s) ended"
               + ("; it must be changed at next sign-in" if force_change else ""))


@user_app.command("set-role", help="Change a user's role: admin | commander | planner | officer.")
def user_set_role(name: Annotated[str, typer.Argument()], role: Annotated[str, typer.Argument()]) -> None:
    from data.ops import accounts

    former = _run(lambda conn: accounts.set_role(conn, name, role))
    typer.echo(f"{name}: role {former} -> {role}")


@user_app.command("set-communes", help="Set a user's commune scope to 2025 commune codes (comma-separated or "
                                       "repeated), or --all to clear it (province-wide) where the role allows it.")
def user_set_communes(
    name: Annotated[str, typer.Argument()],
    codes: Annotated[list[str] | None, typer.Argument(help="CODE[,CODE...]")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Clear the scope: province-wide.")] = False,
) -> None:
    from data.ops import accounts

    refs = [c.strip() for arg in codes or [] for c in arg.split(",") if c.strip()]
    if all_ == bool(refs):
        _fail("give commune codes or --all, not both and not neither", 2)
    done = _run(lambda conn: accounts.set_communes(conn, name, None if all_ else refs))
    typer.echo(f"{name}: {', '.join(done) or 'province-wide'}")
