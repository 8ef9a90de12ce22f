"""Patrol schedules: teams and officers assigned to patrol points (``patrol.schedule``: commune chiefs and admins,
within their communes); the security teams (``patrol.read``); an officer's route for the day
(``patrol.check_in``). The work is in data/ops/patrol_schedules.py; due and overdue come from
``sitmap_patrol_due`` (migration 0021)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.database import connection
from api.security import remote_addr, require
from api.strict import STRICT
from data import limits as bounds
from data.ops import patrol_schedules as ops
from data.permissions import Caller

router = APIRouter(tags=["patrol schedules"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Manager = Annotated[Caller, Depends(require(ops.ACTION))]
INT_MAX = 2**31 - 1
VERSION = Field(ge=1, le=INT_MAX, description="The version you read; a stale version is refused with 409")
Id = Annotated[int, Path(ge=1, le=INT_MAX, description="The schedule's id")]
Commune = Annotated[str | None, Query(max_length=bounds.CODE_CHARS, description="A 2025 commune code")]
Shifts = list[Annotated[str, Field(max_length=16)]]


class ScheduleIn(BaseModel):
    model_config = STRICT
    patrol_point_id: int = Field(ge=1, le=INT_MAX)
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX, description="A security team (GET /security-teams)")
    username: str | None = Field(default=None, max_length=bounds.USERNAME_CHARS, description="An officer")
    every_hours: int | None = Field(default=None, description="Due this many hours after the last visit")
    shifts: Shifts | None = Field(default=None, max_length=3,
                                  description="Named daily shifts (data.vocab PATROL_SHIFTS, Asia/Ho_Chi_Minh time), "
                                              "each due once")
    valid_from: datetime | None = Field(default=None, description="ISO time with an offset; default now")
    valid_to: datetime | None = Field(default=None, description="ISO time with an offset; default: without end")
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)


class ScheduleEdit(BaseModel):
    model_config = STRICT
    version: int = VERSION
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    username: str | None = Field(default=None, max_length=bounds.USERNAME_CHARS)
    every_hours: int | None = Field(default=None, description="Giving it clears shifts")
    shifts: Shifts | None = Field(default=None, max_length=3, description="Giving them clears every_hours")
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)


@router.post("/patrol-schedules", status_code=201,
             summary="Assign a security team and/or an officer to a patrol point (commune chiefs, admins)")
async def create_schedule(body: ScheduleIn, request: Request, conn: Conn, principal: Manager) -> JSONResponse:
    row = await ops.create(conn, principal, ops.NewSchedule(**body.model_dump()), remote_addr(request))
    return JSONResponse(jsonable(row), status_code=201, headers={"Location": f"/patrol-schedules/{row['id']}"})


@router.get("/patrol-schedules", summary="The patrol schedules of your communes")
async def list_schedules(conn: Conn, principal: Manager, commune: Commune = None,
                         patrol_point_id: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
                         team_id: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
                         in_force_at: Annotated[datetime | None, Query(description="ISO time with an offset")] = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> dict[str, Any]:
    rows = await ops.search(conn, principal, unit_code=commune, point_id=patrol_point_id, team_id=team_id,
                            in_force_at=in_force_at, limit=limit, offset=offset)
    return {"items": jsonable(rows), "count": len(rows)}


@router.get("/patrol-schedules/{schedule_id}", summary="One patrol schedule")
async def get_schedule(schedule_id: Id, conn: Conn, principal: Manager) -> dict[str, Any]:
    return jsonable(await ops.read(conn, principal, schedule_id))


@router.patch("/patrol-schedules/{schedule_id}", summary="Change a patrol schedule at its version")
async def edit_schedule(schedule_id: Id, body: ScheduleEdit, request: Request, conn: Conn, principal: Manager
                        ) -> dict[str, Any]:
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    return jsonable(await ops.edit(conn, principal, schedule_id, body.version, changes, remote_addr(request)))


@router.delete("/patrol-schedules/{schedule_id}", status_code=204, summary="Delete a patrol schedule at its version")
async def delete_schedule(schedule_id: Id, request: Request, conn: Conn, principal: Manager,
                          version: Annotated[int, Query(ge=1, le=INT_MAX, description="The version you read")]
                          ) -> Response:
    await ops.delete(conn, principal, schedule_id, version, remote_addr(request))
    return Response(status_code=204)


@router.get("/security-teams", summary="The security teams of your communes and the points they look after")
async def security_teams(conn: Conn, principal: Annotated[Caller, Depends(require(ops.TEAMS_ACTION))],
                         commune: Commune = None, limit: Annotated[int, Query(ge=1, le=2000)] = 200,
                         offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> dict[str, Any]:
    rows = await ops.teams(conn, principal, unit_code=commune, limit=limit, offset=offset)
    return {"items": jsonable(rows), "count": len(rows)}


@router.get("/me/patrol-route", summary="Your (and your team's) patrol points for a day: due time, last visit, status")
async def my_route(conn: Conn, principal: Annotated[Caller, Depends(require(ops.ROUTE_ACTION))],
                   day: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD, local; default today")]
                   = None) -> dict[str, Any]:
    return jsonable(await ops.route(conn, principal, day))
