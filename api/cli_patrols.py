"""`sitmap patrol ...`: patrol schedules and team assignments.

The same operations as the commune chiefs' routes (data/ops/patrol_schedules.py), each audited as the local
command line acting with an admin's rights; ``due`` prints ``sitmap_patrol_due`` (migration 0021), the one
definition of overdue that the map, the phone and the notifications read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from api.cli_common import actor as _actor
from api.cli_common import fail as _fail
from api.cli_common import run_async as _run
from api.cli_common import url as _url

patrol_app = typer.Typer(help="Patrol schedules: teams and officers assigned to patrol points.", no_args_is_help=True)

ADDR = "local"


def register(app: typer.Typer) -> None:
    app.add_typer(patrol_app, name="patrol")


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{name} {value!r} is not an ISO time, e.g. 2025-09-01T06:00:00+07:00", 2)
    if at.tzinfo is None:
        _fail(f"{name} needs a UTC offset, e.g. 2025-09-01T06:00:00+07:00", 2)
    return at


async def _team_id(conn, ref: str) -> int:
    """A team by its id or its exact name (one team only)."""
    rows = await (await conn.execute("SELECT id FROM security_team WHERE id::text = %s OR name = %s ORDER BY id",
                                     (ref, ref))).fetchall()
    if len(rows) != 1:
        _fail(f"{'no' if not rows else len(rows)} security teams are called {ref!r}; give the team's id "
              "(sitmap patrol teams --commune CODE)", 2)
    return rows[0][0]


def _when(s: dict) -> str:
    return f"every {s['every_hours']} h" if s["every_hours"] else "shifts " + ",".join(s["shifts"])


@patrol_app.command("assign")
def patrol_assign(
    point: Annotated[int, typer.Option(help="The patrol point's id.")],
    team: Annotated[str | None, typer.Option(help="A security team: its id or exact name.")] = None,
    user: Annotated[str | None, typer.Option(help="An officer's user name.")] = None,
    every: Annotated[int | None, typer.Option(help="Due this many hours after the last visit.")] = None,
    shifts: Annotated[str | None, typer.Option(help="Named shifts, e.g. morning,night (Asia/Ho_Chi_Minh).")] = None,
    valid_from: Annotated[str | None, typer.Option("--from", help="ISO time with an offset; default now.")] = None,
    valid_to: Annotated[str | None, typer.Option("--to", help="ISO time with an offset; default without end.")]
    = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Assign a security team and/or an officer to a patrol point, every N hours or for named shifts."""
    from data.ops import patrol_schedules as ops

    named = [s.strip() for s in shifts.split(",") if s.strip()] if shifts is not None else None

    async def work(conn):
        team_id = await _team_id(conn, team) if team is not None else None
        item = ops.NewSchedule(point, team_id, user, every, named, _time(valid_from, "--from"),
                               _time(valid_to, "--to"), note)
        return await ops.create(conn, _actor(), item, ADDR)

    s = _run(work)
    who = " and ".join(x for x in (s["team_name"], s["username"]) if x)
    typer.echo(f"schedule {s['id']}: {who} at patrol point {s['patrol_point_id']} ({s['point_name']}, "
               f"{s['unit_code']}), {_when(s)}, from {s['valid_from'].isoformat()}")


@patrol_app.command("list")
def patrol_list(commune: Annotated[str | None, typer.Option(help="A 2025 commune code.")] = None,
                limit: Annotated[int, typer.Option(min=1, max=10000)] = 200) -> None:
    """The patrol schedules (of one commune), newest first."""
    from data.ops import patrol_schedules as ops

    rows = _run(lambda conn: ops.search(conn, _actor(), unit_code=commune, limit=limit))
    for s in rows:
        who = " + ".join(x for x in (s["team_name"], s["username"]) if x)
        until = s["valid_to"].isoformat() if s["valid_to"] else "-"
        typer.echo(f"{s['id']:>6} v{s['version']:<3} {s['unit_code'] or '':<8} point {s['patrol_point_id']:<6} "
                   f"{_when(s):<28} {who}  [{s['valid_from'].isoformat()} .. {until}]")
    typer.echo(f"{len(rows)} schedule(s)")


@patrol_app.command("delete")
def patrol_delete(schedule: Annotated[int, typer.Argument(help="The schedule's id.")]) -> None:
    """Delete a patrol schedule (at its current version)."""
    from data.ops import patrol_schedules as ops

    async def work(conn):
        row = await ops.read(conn, _actor(), schedule)
        await ops.delete(conn, _actor(), schedule, row["version"], ADDR)

    _run(work)
    typer.echo(f"deleted schedule {schedule}")


@patrol_app.command("member")
def patrol_member(user: Annotated[str, typer.Option(help="An officer's user name.")],
                  team: Annotated[str | None, typer.Option(help="A team's id or exact name; omit for none.")] = None
                  ) -> None:
    """Put an officer in a security team: their route of the day includes the team's schedules."""
    from data.ops import patrol_schedules as ops

    async def work(conn):
        team_id = await _team_id(conn, team) if team is not None else None
        await ops.set_member(conn, user, team_id)
        return team_id

    team_id = _run(work)
    typer.echo(f"{user}: team {team_id}" if team_id is not None else f"{user}: no team")


@patrol_app.command("teams")
def patrol_teams(commune: Annotated[str | None, typer.Option(help="A 2025 commune code.")] = None,
                 limit: Annotated[int, typer.Option(min=1, max=10000)] = 200) -> None:
    """The security teams (of one commune) and the patrol points they look after."""
    from data.ops import patrol_schedules as ops

    rows = _run(lambda conn: ops.teams(conn, _actor(), unit_code=commune, limit=limit))
    for t in rows:
        pts = ",".join(map(str, t["patrol_point_ids"])) or "-"
        typer.echo(f"{t['id']:>6} {t['unit_code'] or '':<8} {t['members']:>3} members  {t['name']}  points: {pts}")
    typer.echo(f"{len(rows)} team(s)")


@patrol_app.command("due")
def patrol_due(at: Annotated[str | None, typer.Option(help="ISO time with an offset; default now.")] = None,
               commune: Annotated[str | None, typer.Option(help="A 2025 commune code.")] = None,
               overdue_only: Annotated[bool, typer.Option("--overdue-only")] = False,
               limit: Annotated[int, typer.Option(min=1, max=100000)] = 200) -> None:
    """When each patrol point is due and whether it is overdue (sitmap_patrol_due), most overdue first."""
    import psycopg

    when = _time(at, "--at")
    with psycopg.connect(_url()) as conn:
        rows = conn.execute(
            "SELECT d.patrol_point_id, u.code, p.name, d.schedule_id, d.interval_hours, s.shifts, d.last_visit_at, "
            "d.due_at, d.overdue, d.overdue_hours FROM sitmap_patrol_due(coalesce(%(at)s, now())) d "
            "JOIN patrol_point p ON p.id = d.patrol_point_id LEFT JOIN admin_unit u ON u.id = d.unit_id "
            "LEFT JOIN patrol_schedule s ON s.id = d.schedule_id "
            "WHERE (%(code)s::text IS NULL OR u.code = %(code)s) AND (NOT %(only)s OR d.overdue) "
            "ORDER BY d.overdue DESC, d.overdue_hours DESC NULLS FIRST, d.due_at, d.patrol_point_id LIMIT %(n)s",
            {"at": when, "code": commune, "only": overdue_only, "n": limit}).fetchall()
        total, late = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE d.overdue) FROM sitmap_patrol_due(coalesce(%(at)s, now())) d "
            "LEFT JOIN admin_unit u ON u.id = d.unit_id WHERE (%(code)s::text IS NULL OR u.code = %(code)s)",
            {"at": when, "code": commune}).fetchone()
    for pid, code, name, sid, hours, shifts, last, due, overdue, late_h in rows:
        rhythm = f"every {hours} h" if hours else "shifts " + ",".join(shifts or [])
        state = (f"OVERDUE {late_h:.1f} h" if late_h is not None else "OVERDUE (never visited)") if overdue else "ok"
        typer.echo(f"{pid:>6} {code or '':<8} {state:<24} due {due.isoformat() if due else '-':<26} "
                   f"last {last.isoformat() if last else '-':<26} {rhythm:<22} "
                   f"{'schedule ' + str(sid) if sid else 'own interval'}  {name}")
    typer.echo(f"{late} of {total} point schedule(s) overdue")
