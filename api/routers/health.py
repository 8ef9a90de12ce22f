"""``GET /health``: is the database reachable, which PostGIS/pgRouting, how many rows per table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ConnDep
from data.ops import health as ops

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database reachability, extension versions, row counts")
async def health(conn: ConnDep) -> dict[str, Any]:
    return await ops.report(conn)
