"""The FastAPI application: routers are thin; the work is in ``layers/``, ``geo/`` and ``data/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.database import open_pool
from api.routers import features, health, layers_meta, tiles
from api.routers import web as web_router
from data.settings import Settings, get_settings


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(settings, database_url)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(
        title="sitmap",
        description="Situational-awareness map server for provincial and commune police.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.include_router(health.router)
    app.include_router(features.router)  # OGC API Features: /, /conformance, /collections...
    app.include_router(tiles.router)
    app.include_router(layers_meta.router)
    web_router.install(app)  # /static, /web/*, /search/units; the map answers browsers at /
    return app
