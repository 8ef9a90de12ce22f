"""The operations routes: ``GET /health`` (what the database holds), ``/health/live`` and ``/health/ready``
(for a load balancer or an orchestrator), ``/metrics`` (Prometheus). All public at the gate (api/security.py);
``/metrics`` checks its own token or loopback caller, because a scraper is not a user."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import metrics
from api.deps import ConnDep, services
from api.problems import MEDIA_TYPE, Problem
from data.ops import health as ops

router = APIRouter(tags=["health"])

_PROBLEM = {"content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
# A request relayed by a proxy is not a loopback caller, even when the proxy itself runs on this host.
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip")


@router.get("/health", summary="Database reachability, extension versions, row counts")
async def health(conn: ConnDep) -> dict[str, Any]:
    return await ops.report(conn)


@router.get("/health/live", summary="Liveness: the process answers (no database query)",
            description="200 whenever the worker's event loop answers. A load balancer or orchestrator restarts "
                        "a worker that fails this; it does not consult the database, so a database outage does "
                        "not restart every worker.")
async def live() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", summary="Readiness: database, LISTEN connection and schema version",
            description="200 when the database answers a trivial query within SITMAP_READY_TIMEOUT_S, the "
                        "worker's LISTEN connection (live stream, sign-in cache evictions) is connected and the "
                        "schema is at the migrations' head; otherwise 503 problem+json whose `failing` names "
                        "the checks that failed. A load balancer sends traffic only to ready workers.",
            responses={503: {"description": "Not ready: `failing` and `checks` say why", **_PROBLEM}})
async def ready(request: Request) -> dict[str, Any]:
    svc = services(request)
    found = await ops.readiness(svc.pool, request.app.state.settings.ready_timeout_s, svc.listener.connected)
    if found["failing"]:
        raise Problem(503, "Service unavailable", "not ready: " + ", ".join(
            f"{name} ({found['checks'][name].get('detail', 'failed')})" for name in found["failing"]),
            type_="not-ready", headers={"Retry-After": str(request.app.state.settings.db_retry_after_s)},
            failing=found["failing"], checks=found["checks"])
    return found


def _loopback(request: Request) -> bool:
    if any(h in request.headers for h in _FORWARDING) or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _check_scraper(request: Request) -> None:
    token = request.app.state.settings.metrics_token
    if token:
        authz = request.headers.get("authorization", "")
        given = authz[7:].strip() if authz[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Problem(401, "Not signed in", "GET /metrics wants 'Authorization: Bearer <SITMAP_METRICS_TOKEN>'",
                          type_="metrics-token", headers={"WWW-Authenticate": "Bearer"})
    elif not _loopback(request):
        raise Problem(403, "Forbidden", "GET /metrics answers only loopback callers while SITMAP_METRICS_TOKEN is "
                      "unset; set it and scrape with that bearer token", type_="metrics-loopback")


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            description="Request latency by route template, method and status class; tile cache lookups; live "
                        "subscribers and event lag; analysis slots; the database's replication lag when it "
                        "applies. With SITMAP_METRICS_TOKEN set it wants that bearer token; unset, it answers "
                        "loopback callers only. No personal data.",
            response_class=Response,
            responses={200: {"description": "The metrics", "content": {"text/plain": {"schema": {
                "type": "string"}}}},
                401: {"description": "SITMAP_METRICS_TOKEN is set and the bearer token is missing or wrong",
                      **_PROBLEM},
                403: {"description": "SITMAP_METRICS_TOKEN is unset and the caller is not on loopback", **_PROBLEM}})
async def prometheus_metrics(request: Request) -> Response:
    _check_scraper(request)
    replication = await metrics.read_replication(services(request).pool, request.app.state.settings.ready_timeout_s)
    return Response(metrics.render(replication), media_type=metrics.CONTENT_TYPE)

