"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from monitor.api.deps import ReadAuth, RuntimeDep

router = APIRouter(tags=["health"])

#: Unprocessed log entries beyond which the pipeline counts as not keeping up.
MAX_READY_LAG = 1000


@router.get("/healthz", dependencies=[ReadAuth])
def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[ReadAuth])
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready: the store answers and the pipeline keeps up with the ingest log."""
    body: dict[str, object] = {"store": "ok"}
    ready = True
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        head = runtime.log.head()
    except Exception as exc:
        body["store"] = f"unreachable: {type(exc).__name__}"
        return JSONResponse({"ready": False, **body}, status_code=503)
    lag = max(0, head - runtime.pipeline.processed_offset)
    body.update(log_head=head, pipeline_offset=runtime.pipeline.processed_offset, lag=lag)
    if lag > MAX_READY_LAG:
        ready = False
    return JSONResponse({"ready": ready, **body}, status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[ReadAuth])
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus exposition of every ``driftline_*`` metric."""
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
