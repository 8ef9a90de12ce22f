"""The situation panel's figures (one route shared by the panel, the briefing and the reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request

from api.database import connection
from api.security import require
from data import limits as bounds
from data.ops import situation as ops
from data.ops.errors import bad_parameter
from data.permissions import Caller

router = APIRouter(tags=["situation"])
Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
When = Annotated[datetime | None, Query(description="ISO 8601 with a UTC offset")]


@router.get("/situation", summary="The situation at a glance in your communes: incidents against a year before, "
                                  "open and stale cases, overdue patrol points, headquarters, latest serious ones")
async def get_situation(request: Request, conn: Conn, principal: Annotated[Caller, Depends(require(ops.ACTION))],
                        at: When = None, since: When = None, until: When = None,
                        commune: Annotated[list[str] | None, Query(
                            max_length=100, description="2025 commune codes (repeat, or comma-separated) "
                                                        "narrowing your communes")] = None,
                        latest: Annotated[int, Query(ge=1, le=ops.LATEST_MAX,
                                                     description="How many serious incidents to list")] = 10,
                        ) -> dict[str, Any]:
    codes = [c for part in commune or () for c in part.split(",")]
    if any(len(c) > bounds.CODE_CHARS for c in codes):
        raise bad_parameter(f"a commune code has at most {bounds.CODE_CHARS} characters", "commune")
    return await ops.situation_async(conn, principal, at=at, since=since, until=until, communes=codes or None,
                                     latest=latest, stale_hours=request.app.state.settings.situation_stale_hours)
