"""The columnar batch API: ``POST /api/v1/events`` (JSON columns or an Arrow IPC stream)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from collectors.columnar import ARROW_MEDIA_TYPE, ColumnError, decode_arrow, decode_json
from collectors.errors import DecodeError, UnsupportedMediaType
from collectors.otlp import decompress
from monitor.api.admission import ingest_limits, records_over_limit
from monitor.api.body import Unavailable, commit_batches, read_capped
from monitor.api.deps import IngestAuth, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["events"], dependencies=[IngestAuth])

SIGNAL = "events"


def _answer(
    status: int, accepted: int, rejected: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"accepted": accepted, "rejected": rejected, "errors": errors}, status_code=status, headers=headers)


def _refuse(exc: DecodeError) -> JSONResponse:
    field = exc.field if isinstance(exc, ColumnError) else None
    return _answer(exc.status, 0, 0, [{"field": field, "reason": exc.reason, "message": exc.message}])


@router.post("/events")
async def post_events(
    request: Request, runtime: RuntimeDep, model: str | None = None, version: str | None = None
) -> JSONResponse:
    """Inference events as columns: a JSON object of lists, or an Arrow IPC stream (model/version in the query)."""
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    limit = runtime.settings.max_body_bytes
    try:
        if media not in ("application/json", ARROW_MEDIA_TYPE):
            raise UnsupportedMediaType(
                f"Content-Type {media or '(missing)'!r} is not supported; use application/json or {ARROW_MEDIA_TYPE}"
            )
        raw = await read_capped(request, limit)
        body = decompress(raw, request.headers.get("content-encoding"), limit=limit)
        decode = decode_json if media == "application/json" else decode_arrow
        result = decode(body, runtime.kinds.lookup, now=time.time(), model=model, version=version, limits=ingest_limits(runtime))
    except DecodeError as exc:
        runtime.stats.reject(SIGNAL, exc.reason)
        return _refuse(exc)
    rejected = sum(result.rejected.values())
    too_many = records_over_limit(runtime, result.accepted + rejected, "events")
    if too_many is not None:
        runtime.stats.reject(SIGNAL, "too_many_records")
        return _answer(413, 0, 0, [{"field": None, "reason": "too_many_records", "message": too_many}])
    if result.batch is not None:
        refusal = runtime.guard.admit_model(result.model, result.version, result.batch.features)
        if refusal is not None:
            runtime.stats.reject(SIGNAL, refusal.reason, result.accepted + rejected)
            return _answer(
                422, 0, result.accepted + rejected, [{"field": "model", "reason": refusal.reason, "message": refusal.message}]
            )
        # The query names the model of an Arrow body, so it is part of what identifies a retry.
        identity = f"{media}\0{result.model}\0{result.version}\0".encode()
        try:
            await commit_batches(runtime, SIGNAL, identity + body, [result.batch])
        except Unavailable as exc:
            runtime.stats.reject(SIGNAL, exc.reason, result.accepted + rejected)
            error = {"field": None, "reason": exc.reason, "message": exc.message}
            return _answer(503, 0, 0, [error], headers={"Retry-After": str(exc.retry_after)})
        if result.new_kinds:
            runtime.kinds.register(result.model, result.version, result.new_kinds)
    runtime.stats.accept(SIGNAL, result.accepted)
    for reason, count in result.rejected.items():
        runtime.stats.reject(SIGNAL, reason, count)
    return _answer(200, result.accepted, rejected, result.errors)
