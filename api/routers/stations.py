"""Headquarters status: ``PUT /stations/{id}/status`` (commanders of the station's commune, admins)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder as jsonable
from pydantic import BaseModel, Field

from api.database import connection
from api.security import remote_addr, require
from api.strict import STRICT
from data import limits as bounds
from data.ops import stations as ops
from data.permissions import Caller

router = APIRouter(tags=["stations"])
Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]


class StatusIn(BaseModel):
    model_config = STRICT
    hq_status: str = Field(max_length=bounds.CODE_CHARS, description="One of data.vocab.HQ_STATUSES; the status "
                                                                     "the station has already changes nothing")
    note: str | None = Field(default=None, max_length=bounds.DESCRIPTION_CHARS)
    version: int | None = Field(default=None, description="Optional optimistic-concurrency check")


@router.put("/stations/{station_id}/status",
            summary="Change a station's headquarters status (with history; 409 for a closed station)")
async def put_status(station_id: int, body: StatusIn, request: Request, conn: Conn,
                     principal: Annotated[Caller, Depends(require("station.status"))]) -> dict[str, Any]:
    return await ops.set_status(conn, principal, station_id, body.hq_status, body.note, body.version,
                                remote_addr(request), request.app.state.settings.max_description_chars)


@router.get("/stations/{station_id}/status-history", summary="Headquarters status changes of a station")
async def status_history(station_id: int, conn: Conn,
                         principal: Annotated[Caller, Depends(require("station.history"))]) -> dict[str, Any]:
    return {"items": jsonable(await ops.history(conn, principal, station_id))}
