"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from monitor.api.routes import alerts, correlations, events, features, gates, hardware, health, models, otlp, quality, series
from monitor.api.runtime import Runtime
from monitor.api.security import SecurityHeaders
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
    if runtime.settings.cors_origins:  # off unless origins are named
        app.add_middleware(
            CORSMiddleware,
            allow_origins=runtime.settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
        )
    app.add_middleware(SecurityHeaders)
    app.include_router(otlp.router)
    app.include_router(events.router)
    app.include_router(models.router)
    app.include_router(features.router)
    app.include_router(series.router)
    app.include_router(quality.router)
    app.include_router(hardware.router)
    app.include_router(health.router)
    app.include_router(gates.router)
    app.include_router(alerts.router)
    app.include_router(correlations.router)
    return app
