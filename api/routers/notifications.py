"""Notifications: the inbox (everyone signed in, their own notifications only), read/unread; the alert rules
(``notification.rules``: admins). The work is in data/ops/notifications.py and data/ops/alert_rules.py."""

from __future__ import annotations

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
from data.ops import alert_rules as rules
from data.ops import notifications as ops
from data.ops.errors import invalid
from data.permissions import Caller

router = APIRouter(tags=["notifications"])

Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]
Reader = Annotated[Caller, Depends(require("notification.read"))]
Admin = Annotated[Caller, Depends(require("notification.rules"))]
INT_MAX = 2**31 - 1
BIG_MAX = 2**63 - 1
Code = Annotated[str, Field(max_length=bounds.CODE_CHARS)]
Name = Annotated[str, Field(max_length=rules.NAME_CHARS)]
RuleId = Annotated[int, Path(ge=1, le=INT_MAX, description="The rule's id")]


class RuleIn(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=rules.NAME_CHARS)
    trigger: str = Field(max_length=bounds.CODE_CHARS, description="One of data.vocab.ALERT_TRIGGERS")
    recipients: list[Code] = Field(default_factory=list, max_length=rules.MAX_LIST,
                                   description="Of data.vocab.ALERT_RECIPIENTS")
    users: list[Name] = Field(default_factory=list, max_length=rules.MAX_LIST, description="Named user names")
    categories: list[Code] | None = Field(default=None, max_length=rules.MAX_LIST,
                                          description="Incident categories; null: any")
    min_severity: str | None = Field(default=None, max_length=bounds.CODE_CHARS,
                                     description="This severity or worse; null: any")
    communes: list[Code] | None = Field(default=None, max_length=rules.MAX_LIST,
                                        description="2025 commune codes; null: every commune")
    overdue_hours: int | None = Field(default=None, ge=1, le=rules.MAX_HOURS,
                                      description="patrol_overdue: overdue by more than this many hours")
    webhook_url: str | None = Field(default=None, max_length=rules.URL_CHARS)
    webhook_secret: str | None = Field(default=None, max_length=rules.SECRET_MAX,
                                       description="Shared secret of the signature; stored, never shown back")
    enabled: bool = True


class RulePatch(BaseModel):
    model_config = STRICT
    version: int = Field(ge=1, le=INT_MAX, description="The version you read; a stale version is refused with 409")
    name: str | None = Field(default=None, min_length=1, max_length=rules.NAME_CHARS)
    enabled: bool | None = None
    recipients: list[Code] | None = Field(default=None, max_length=rules.MAX_LIST)
    users: list[Name] | None = Field(default=None, max_length=rules.MAX_LIST)
    categories: list[Code] | None = Field(default=None, max_length=rules.MAX_LIST)
    min_severity: str | None = Field(default=None, max_length=bounds.CODE_CHARS)
    communes: list[Code] | None = Field(default=None, max_length=rules.MAX_LIST)
    overdue_hours: int | None = Field(default=None, ge=1, le=rules.MAX_HOURS)
    webhook_url: str | None = Field(default=None, max_length=rules.URL_CHARS)
    webhook_secret: str | None = Field(default=None, max_length=rules.SECRET_MAX)


# Fields whose null means something (any, every, none); for the others null is refused.
NULLABLE = ("categories", "min_severity", "communes", "overdue_hours", "webhook_url", "webhook_secret")


@router.get("/notifications", summary="Your notifications, newest first, with the unread count")
async def list_notifications(conn: Conn, principal: Reader,
                             unread: Annotated[bool, Query(description="Unread ones only")] = False,
                             limit: Annotated[int, Query(ge=1, le=200)] = 50,
                             offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> dict[str, Any]:
    return jsonable(await ops.inbox(conn, principal, unread=unread, limit=limit, offset=offset))


@router.post("/notifications/read-all", summary="Mark all your notifications read")
async def read_all(request: Request, conn: Conn, principal: Reader) -> dict[str, Any]:
    return await ops.mark_all_read(conn, principal, remote_addr(request))


@router.post("/notifications/{notification_id}/read", summary="Mark one of your notifications read")
async def read_one(notification_id: Annotated[int, Path(ge=1, le=BIG_MAX)], request: Request, conn: Conn,
                   principal: Reader) -> dict[str, Any]:
    return await ops.mark_read(conn, principal, notification_id, remote_addr(request))


@router.get("/notification-rules", summary="The alert rules (admins)")
async def list_rules(conn: Conn, principal: Admin) -> dict[str, Any]:
    items = await rules.search(conn)
    return {"items": jsonable(items), "count": len(items)}


@router.post("/notification-rules", status_code=201, summary="Add an alert rule (admins)")
async def create_rule(body: RuleIn, request: Request, conn: Conn, principal: Admin) -> JSONResponse:
    row = await rules.create(conn, principal, rules.RuleIn(**body.model_dump()), remote_addr(request))
    return JSONResponse(jsonable(row), status_code=201, headers={"Location": f"/notification-rules/{row['id']}"})


@router.get("/notification-rules/{rule_id}", summary="One alert rule (admins)")
async def get_rule(rule_id: RuleId, conn: Conn, principal: Admin) -> dict[str, Any]:
    return jsonable(await rules.read(conn, rule_id))


@router.patch("/notification-rules/{rule_id}", summary="Change an alert rule, or disable it (admins)")
async def patch_rule(rule_id: RuleId, body: RulePatch, request: Request, conn: Conn, principal: Admin
                     ) -> dict[str, Any]:
    changes = body.model_dump(exclude={"version"}, exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in NULLABLE)
    if nulls:
        raise invalid(f"{', '.join(nulls)} cannot be null; leave it out to keep it", field=nulls[0])
    return jsonable(await rules.update(conn, principal, rule_id, body.version, changes, remote_addr(request)))


@router.post("/notification-rules/{rule_id}/test",
             summary="Who would hear of this rule in a commune; queues a test webhook delivery (admins)")
async def test_rule(rule_id: RuleId, request: Request, conn: Conn, principal: Admin,
                    commune: Annotated[str | None, Query(max_length=bounds.CODE_CHARS,
                                                         description="A 2025 commune code")] = None
                    ) -> dict[str, Any]:
    return await rules.test(conn, principal, rule_id, commune, remote_addr(request))
