"""Road closures: record, edit when it ends, reopen (``closure.manage``: planners, commanders, admins, within
their communes); read (everyone signed in, within their communes). The work is in data/ops/closures.py; the
travel analyses respect the closures in force at the time they are asked about (geo/travel/network.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.database import connection
from api.security import remote_addr, require
from api.strict import STRICT
from data import limits as bounds
from data.ops import closures as ops
from data.permissions import Caller

router = APIRouter(tags=["closures"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Manager = Annotated[Caller, Depends(require(ops.ACTION))]
Reader = Annotated[Caller, Depends(require(ops.READ_ACTION))]
INT_MAX = 2**31 - 1
VERSION = Field(ge=1, le=INT_MAX, description="The version you read; a stale version is refused with 409")
Id = Annotated[int, Path(ge=1, le=INT_MAX, description="The closure's id")]


class ClosureIn(BaseModel):
    model_config = STRICT
    reason: str = Field(max_length=bounds.CODE_CHARS, description="One of data.vocab.CLOSURE_REASONS")
    geometry: dict[str, Any] = Field(description="A GeoJSON Point or LineString (EPSG:4326) drawn on the road, "
                                                 "within SITMAP_CLOSURE_SNAP_M of it")
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)
    starts_at: datetime | None = Field(default=None, description="ISO time with an offset; default now")
    ends_at: datetime | None = Field(default=None, description="ISO time with an offset; default: until reopened")
    client_id: uuid.UUID | None = Field(default=None, description="Your UUID of this closure: a retry with it "
                                                                  "returns the stored closure, never a second one")


class EditIn(BaseModel):
    model_config = STRICT
    version: int = VERSION
    ends_at: datetime | None = Field(default=None, description="null: in force until reopened")
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)


class ReopenIn(BaseModel):
    model_config = STRICT
    version: int = VERSION


@router.post("/closures", status_code=201, summary="Record a road closure (planners, commanders, admins)")
async def create_closure(body: ClosureIn, request: Request, conn: Conn, principal: Manager) -> JSONResponse:
    status, row = await ops.create(conn, principal, ops.NewClosure(**body.model_dump()), remote_addr(request),
                                   request.app.state.settings.closure_snap_m)
    return JSONResponse(jsonable(row), status_code=status, headers={"Location": f"/closures/{row['id']}"})


@router.patch("/closures/{closure_id}", summary="Change when a closure ends, or its note")
async def edit_closure(closure_id: Id, body: EditIn, request: Request, conn: Conn, principal: Manager
                       ) -> dict[str, Any]:
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    return jsonable(await ops.edit(conn, principal, closure_id, body.version, changes, remote_addr(request)))


@router.post("/closures/{closure_id}/reopen", summary="Reopen the road now (a closure not yet started: cancel it)")
async def reopen_closure(closure_id: Id, body: ReopenIn, request: Request, conn: Conn, principal: Manager
                         ) -> dict[str, Any]:
    return jsonable(await ops.reopen(conn, principal, closure_id, body.version, remote_addr(request)))


@router.get("/closures", summary="Road closures in your communes (those in force at in_force_at when given)")
async def list_closures(conn: Conn, principal: Reader,
                        in_force_at: Annotated[datetime | None, Query(description="ISO time with an offset")] = None,
                        commune: Annotated[str | None, Query(max_length=bounds.CODE_CHARS,
                                                             description="A 2025 commune code")] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100,
                        offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> dict[str, Any]:
    rows = await ops.search(conn, principal, in_force_at=in_force_at, unit_code=commune, limit=limit, offset=offset)
    return {"items": jsonable(rows), "count": len(rows)}


@router.get("/closures/{closure_id}", summary="One road closure")
async def get_closure(closure_id: Id, conn: Conn, principal: Reader) -> dict[str, Any]:
    return jsonable(await ops.read(conn, principal, closure_id))
