"""The FastAPI application: routers are thin; the work is in ``layers/``, ``geo/`` and ``data/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import audit_refusals, headers, logging_setup, metrics, nul_guard, openapi30, problems, resilience, security
from api.body_limit import BodyLimitMiddleware
from api.database import close_reads, open_pool, open_reads
from api.request_log import RequestLogMiddleware
from api.routers import account as account_router
from api.routers import closures as closures_router
from api.routers import coverage as coverage_router
from api.routers import designations as designations_router
from api.routers import docs as docs_router
from api.routers import health, incidents, live, map_layers, ogc_features, patrols, stations, tiles, travel
from api.routers import hotspots as hotspots_router
from api.routers import imports as imports_router
from api.routers import notifications as notifications_router
from api.routers import patrol_schedules as patrol_schedules_router
from api.routers import reports as reports_router
from api.routers import scenarios as scenarios_router
from api.routers import signin as signin_router
from api.routers import sites as sites_router
from api.routers import situation as situation_router
from api.routers import web as web_router
from api.services import Services
from data.settings import Settings, get_settings


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging_setup.configure(settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(settings, database_url)  # waits for the database (api/database.py)
        app.state.reads = await open_reads(settings, app.state.pool)  # replica or leader, per read
        metrics.watch_reads(app.state.reads)
        try:
            # Every per-worker service, once (api/services.py); routers reach them through api/deps.py.
            app.state.services = Services.start(settings, app.state.pool)
            metrics.attach(app.state.services)  # tile cache lookups, analysis slots (api/metrics.py)
            try:
                yield
            finally:
                metrics.detach(app.state.services)
                await app.state.services.close()
        finally:
            await close_reads(app.state.reads)
            await app.state.pool.close()

    app = FastAPI(
        title="sitmap",
        description="Situational-awareness map server for provincial and commune police.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served by api/routers/docs.py from vendored assets, no CDN
    )
    app.state.settings = settings
    problems.install(app)
    audit_refusals.install(app)  # refused writes (403, 409) of signed-in callers are audited
    nul_guard.install(app)  # 400/422 for the NUL character PostgreSQL cannot store (query strings, bodies)
    security.install(app)  # deny by default: sign-in gate, CSRF check
    resilience.install(app, settings)  # outside the gate, which queries the database: 503 while it is down
    app.add_middleware(BodyLimitMiddleware, settings=settings)  # 413 for oversized bodies, before reading them
    headers.install(app, settings)  # CSP, nosniff, frame denial; trusted proxies' scheme
    app.add_middleware(RequestLogMiddleware)  # outermost: request id, one log line, latency (api/request_log.py)
    app.include_router(health.router)
    app.include_router(ogc_features.router)  # OGC API Features: /, /conformance, /collections...
    app.include_router(tiles.router)
    app.include_router(map_layers.router)
    for router in (signin_router.router, incidents.router, patrols.router, stations.router, live.router,
                   travel.router, designations_router.router, hotspots_router.router):
        app.include_router(router)
    app.include_router(closures_router.router)
    app.include_router(coverage_router.router)
    app.include_router(sites_router.router)
    app.include_router(scenarios_router.router)
    for router in (situation_router.router, reports_router.router, notifications_router.router,
                   account_router.router, patrol_schedules_router.router, imports_router.router):
        app.include_router(router)
    docs_router.install(app)  # /docs, /redoc
    web_router.install(app)  # /static, /web/*, /search/units; the map answers browsers at /
    openapi30.install(app)  # /openapi.json as OpenAPI 3.0 (the oas30 conformance class)
    return app
