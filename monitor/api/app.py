"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from monitor.api.routes import events, features, health, models, otlp, series
from monitor.api.runtime import Runtime
from monitor.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; components start with the server and stop with it."""
    runtime = Runtime.build(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="Driftline", version="0.1.0", lifespan=lifespan, summary="Drift and health monitoring for models in production."
    )
    app.state.runtime = runtime
    app.include_router(otlp.router)
    app.include_router(events.router)
    app.include_router(models.router)
    app.include_router(features.router)
    app.include_router(series.router)
    app.include_router(health.router)
    return app
