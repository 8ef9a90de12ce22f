"""`sitmap user ...`: accounts, roles and commune scopes."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli_common import fail as _fail
from api.cli_common import url as _url

user_app = typer.Typer(help="Accounts: roles admin, commander, planner, officer; commune scopes.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


@user_app.command("add", help="Add a user. --commune takes a 2025 code or exact name (repeatable); officers need one.")
def user_add(
    name: Annotated[str, typer.Argument(help="User name used to sign in.")],
    role: Annotated[str, typer.Option(help="admin | commander | planner | officer")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    commune: Annotated[list[str] | None, typer.Option(help="Commune scope (code or exact name).")] = None,
    display_name: Annotated[str | None, typer.Option(help="Full name shown to colleagues.")] = None,
) -> None:
    from api.accounts import add_user
    from data.ops.users import UserError

    try:
        user = add_user(_url(), name, role, password, commune or [], display_name)
    except UserError as exc:
        _fail(str(exc), 2)
    typer.echo(f"added {user['username']} ({user['role']}, "
               f"{', '.join(user['communes']) or 'province-wide'})")


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
