"""`sitmap cluster up|down|status`: the high-availability cluster (data/ha) on this machine's hosts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli_common import fail
from data.db.cluster import ClusterError

cluster_app = typer.Typer(help="High availability: etcd, PostgreSQL under Patroni, HAProxy and sitmap workers "
                               "(settings SITMAP_CLUSTER_*).", no_args_is_help=True)


@cluster_app.command("up", help="Start etcd, the Patroni nodes, HAProxy and the workers; wait for a leader with a "
                                "synchronous standby; create the database and run the migrations on the leader.")
def up() -> None:
    from data.ha import control

    try:
        control.up()
    except (ClusterError, TimeoutError) as exc:
        fail(str(exc))
    for line in control.status_lines(control.status()):
        typer.echo(line)


@cluster_app.command("down", help="Stop the workers, HAProxy, the Patroni nodes (and their PostgreSQL) and etcd.")
def down() -> None:
    from data.ha import control

    control.down()


@cluster_app.command("status", help="Each member's role, state and lag (Patroni), HAProxy's backends, the workers.")
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False) -> None:
    from data.ha import control

    doc = control.status()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    for line in control.status_lines(doc):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
