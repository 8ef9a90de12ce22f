"""Key-area designations: propose and edit (planners), approve, reject and revoke (commanders), read (everyone
signed in, within their communes), and a commune's designations for the map's popup. The work is in
data/ops/designations.py."""

from __future__ import annotations

from datetime import date
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
from data.ops import designations as ops
from data.permissions import Caller

router = APIRouter(tags=["designations"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Proposer = Annotated[Caller, Depends(require("designation.propose"))]
Decider = Annotated[Caller, Depends(require("designation.approve"))]
Reader = Annotated[Caller, Depends(require(ops.READ_ACTION))]

# Ids and versions are PostgreSQL integers: a larger number is refused as a bad request, not a database error.
INT_MAX = 2**31 - 1
VERSION = Field(ge=1, le=INT_MAX, description="The version you read; a stale version is refused with 409")
Id = Annotated[int, Path(ge=1, le=INT_MAX, description="The designation's id")]


class ProposalIn(BaseModel):
    model_config = STRICT
    kind: str = Field(max_length=bounds.CODE_CHARS, description="One of data.vocab.DESIGNATION_KINDS")
    unit_id: int | None = Field(default=None, ge=1, le=INT_MAX,
                                description="A commune or ward of 2025 (the communes layer's id)")
    geometry: dict[str, Any] | None = Field(default=None, description="Or a drawn GeoJSON Polygon/MultiPolygon "
                                                                      "(EPSG:4326) inside the province")
    valid_from: date | None = None
    valid_to: date | None = None
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)
    basis: dict[str, Any] | None = Field(default=None, description="The statistics behind the proposal "
                                                                   "(geo/designation/basis.py reads them)")


class EditIn(BaseModel):
    model_config = STRICT
    version: int = VERSION
    kind: str | None = Field(default=None, max_length=bounds.CODE_CHARS)
    unit_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    geometry: dict[str, Any] | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)
    basis: dict[str, Any] | None = None


class ApproveIn(BaseModel):
    model_config = STRICT
    version: int = VERSION
    valid_from: date | None = Field(default=None, description="Default: the proposal's, else today")
    valid_to: date | None = Field(default=None, description="Default: the proposal's; null: open-ended")
    reason: str | None = Field(default=None, max_length=bounds.NOTE_CHARS)


class ReasonIn(BaseModel):
    model_config = STRICT
    version: int = VERSION
    reason: str = Field(max_length=bounds.NOTE_CHARS, description="Required: why (kept in the audit log)")


@router.post("/designations", status_code=201, summary="Propose a key-area designation (planners, admins)")
async def propose(body: ProposalIn, request: Request, conn: Conn, principal: Proposer) -> JSONResponse:
    row = await ops.propose(conn, principal, ops.Proposal(**body.model_dump()), remote_addr(request))
    return JSONResponse(jsonable(row), status_code=201, headers={"Location": f"/designations/{row['id']}"})


@router.patch("/designations/{designation_id}", summary="Edit an open proposal (only while 'proposed')")
async def edit(designation_id: Id, body: EditIn, request: Request, conn: Conn,
               principal: Proposer) -> dict[str, Any]:
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    return jsonable(await ops.edit(conn, principal, designation_id, body.version, changes, remote_addr(request)))


@router.post("/designations/{designation_id}/approve",
             summary="Approve a proposal (commanders, admins); supersedes the one of its kind in force")
async def approve(designation_id: Id, body: ApproveIn, request: Request, conn: Conn,
                  principal: Decider) -> dict[str, Any]:
    return jsonable(await ops.approve(conn, principal, designation_id, body.version, body.valid_from, body.valid_to,
                                      "valid_to" in body.model_fields_set, body.reason, remote_addr(request)))


@router.post("/designations/{designation_id}/reject", summary="Reject a proposal, with a reason")
async def reject(designation_id: Id, body: ReasonIn, request: Request, conn: Conn,
                 principal: Decider) -> dict[str, Any]:
    return jsonable(await ops.reject(conn, principal, designation_id, body.version, body.reason,
                                     remote_addr(request)))


@router.post("/designations/{designation_id}/revoke", summary="Revoke an approved designation, with a reason")
async def revoke(designation_id: Id, body: ReasonIn, request: Request, conn: Conn,
                 principal: Decider) -> dict[str, Any]:
    return jsonable(await ops.revoke(conn, principal, designation_id, body.version, body.reason,
                                     remote_addr(request)))


@router.get("/designations", summary="Designations in your communes (filter by status, kind, origin, commune)")
async def list_designations(conn: Conn, principal: Reader, status: str | None = None, kind: str | None = None,
                            origin: str | None = None, commune: str | None = None,
                            limit: Annotated[int, Query(ge=1, le=500)] = 100,
                            offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> dict[str, Any]:
    rows = await ops.search(conn, principal, status=status, kind=kind, origin=origin, unit_code=commune,
                            limit=limit, offset=offset)
    return {"items": jsonable(rows), "count": len(rows)}


@router.get("/designations/{designation_id}", summary="One designation with its history (the audit log's steps)")
async def get_designation(designation_id: Id, conn: Conn, principal: Reader) -> dict[str, Any]:
    return jsonable(await ops.read(conn, principal, designation_id))


@router.get("/units/{unit_id}/designations", summary="A commune's designations and why (the map's popup)")
async def unit_designations(unit_id: Annotated[int, Path(ge=1, le=INT_MAX)], conn: Conn,
                            principal: Reader) -> dict[str, Any]:
    return jsonable(await ops.for_unit(conn, principal, unit_id))
