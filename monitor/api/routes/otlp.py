"""OTLP/HTTP receivers: /v1/logs, /v1/metrics and /v1/traces."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collectors.errors import DecodeError
from collectors.otlp import (
    Encoding,
    decode_logs_bytes,
    decode_metrics,
    decompress,
    encode_message,
    error_body,
    media_type,
    parse_metrics_request,
)
from collectors.otlp._json import parse_json
from collectors.records import Batch
from monitor.api.admission import admit_logs, admit_metrics, ingest_limits, records_over_limit
from monitor.api.body import Unavailable, commit_batches, read_capped
from monitor.api.deps import IngestAuth, RuntimeDep
from monitor.api.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["otlp"], dependencies=[IngestAuth])

_CONTENT_TYPES: dict[Encoding, str] = {"protobuf": "application/x-protobuf", "json": "application/json"}


def _respond(message: Message, encoding: Encoding, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode_message(message, encoding), status_code=status, media_type=_CONTENT_TYPES[encoding], headers=headers)


def _error(status: int, text: str, encoding: Encoding, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(status, text, encoding), status_code=status, media_type=_CONTENT_TYPES[encoding], headers=headers)


async def _body(request: Request, runtime: Runtime, signal: str) -> tuple[bytes, Encoding] | Response:
    """Media type, size cap and decompression; an error Response when any fails."""
    try:
        encoding = media_type(request.headers.get("content-type"))
    except DecodeError as exc:
        runtime.stats.reject(signal, exc.reason)
        return _error(exc.status, exc.message, "json")
    try:
        raw = await read_capped(request, runtime.settings.max_body_bytes)
        return decompress(raw, request.headers.get("content-encoding"), limit=runtime.settings.max_body_bytes), encoding
    except DecodeError as exc:
        runtime.stats.reject(signal, exc.reason)
        return _error(exc.status, exc.message, encoding)


async def _commit(
    runtime: Runtime, signal: str, body: bytes, batches: list[Batch], records: int, encoding: Encoding
) -> Response | None:
    if not batches:
        return None
    try:
        await commit_batches(runtime, signal, body, batches)
    except Unavailable as exc:
        runtime.stats.reject(signal, exc.reason, records)
        return _error(503, exc.message, encoding, headers={"Retry-After": str(exc.retry_after)})
    return None


@router.post("/logs")
async def export_logs(request: Request, runtime: RuntimeDep) -> Response:
    """OTLP logs: ``ml.inference`` and ``ml.label`` events (protobuf or JSON, optionally gzip)."""
    received = await _body(request, runtime, "logs")
    if isinstance(received, Response):
        return received
    body, encoding = received
    try:
        result = decode_logs_bytes(body, runtime.kinds.lookup, encoding=encoding, now=time.time(), limits=ingest_limits(runtime))
    except DecodeError as exc:
        runtime.stats.reject("logs", exc.reason)
        return _error(exc.status, exc.message, encoding)
    too_many = records_over_limit(runtime, result.accepted + sum(result.rejected.values()), "log records")
    if too_many is not None:
        runtime.stats.reject("logs", "too_many_records")
        return _error(413, too_many, encoding)
    admit_logs(runtime, result)
    failure = await _commit(runtime, "logs", body, result.batches, result.accepted, encoding)
    if failure is not None:
        return failure
    for (model, version), kinds in result.new_kinds.items():
        runtime.kinds.register(model, version, kinds)
    runtime.stats.accept("logs", result.accepted)
    for reason, count in result.rejected.items():
        runtime.stats.reject("logs", reason, count)
    response = logs_service_pb2.ExportLogsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_log_records = sum(result.rejected.values())
        response.partial_success.error_message = result.first_error
    return _respond(response, encoding)


@router.post("/metrics")
async def export_metrics(request: Request, runtime: RuntimeDep) -> Response:
    """OTLP metrics: GPU telemetry, KPIs and any other numeric series."""
    received = await _body(request, runtime, "metrics")
    if isinstance(received, Response):
        return received
    body, encoding = received
    try:
        export = parse_metrics_request(body, encoding)
    except DecodeError as exc:
        runtime.stats.reject("metrics", exc.reason)
        return _error(exc.status, exc.message, encoding)
    result = decode_metrics(export, limits=ingest_limits(runtime))
    too_many = records_over_limit(runtime, result.accepted + sum(result.rejected.values()), "data points")
    if too_many is not None:
        runtime.stats.reject("metrics", "too_many_records")
        return _error(413, too_many, encoding)
    admit_metrics(runtime, result)
    batches: list[Batch] = [result.batch] if result.batch is not None else []
    failure = await _commit(runtime, "metrics", body, batches, result.accepted, encoding)
    if failure is not None:
        return failure
    runtime.stats.accept("metrics", result.accepted)
    for reason, count in result.rejected.items():
        runtime.stats.reject("metrics", reason, count)
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_data_points = sum(result.rejected.values())
        response.partial_success.error_message = result.first_error
    return _respond(response, encoding)


@router.post("/traces")
async def export_traces(request: Request, runtime: RuntimeDep) -> Response:
    """OTLP traces: accepted and counted (spans are not stored)."""
    received = await _body(request, runtime, "traces")
    if isinstance(received, Response):
        return received
    body, encoding = received
    export = trace_service_pb2.ExportTraceServiceRequest()
    try:
        if encoding == "json":
            parse_json(body, export)
        else:
            export.ParseFromString(body)
    except DecodeError as exc:
        runtime.stats.reject("traces", exc.reason)
        return _error(exc.status, exc.message, encoding)
    except Exception as exc:
        runtime.stats.reject("traces", "invalid_protobuf")
        return _error(400, f"body is not a valid ExportTraceServiceRequest: {exc}", encoding)
    spans = sum(len(scope.spans) for resource in export.resource_spans for scope in resource.scope_spans)
    runtime.stats.accept("traces", spans)
    return _respond(trace_service_pb2.ExportTraceServiceResponse(), encoding)
