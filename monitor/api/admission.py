"""Admission of decoded batches: request size in records, then the cardinality guard.

The per-record limits (attributes per record, string length) are the decoders' to
apply; :func:`ingest_limits` hands them the settings.

Runs after decoding and before the durable append, so whatever it refuses is
never acknowledged and is counted with its reason like any other rejection.
"""

from __future__ import annotations

from collectors.limits import IngestLimits
from collectors.otlp import LogsDecodeResult, MetricsDecodeResult
from collectors.records import InferenceBatch
from monitor.api.runtime import Runtime

__all__ = ["admit_logs", "admit_metrics", "ingest_limits", "records_over_limit"]


def ingest_limits(runtime: Runtime) -> IngestLimits:
    """``max_attributes_per_record`` and ``max_string_length``, for the decoders."""
    settings = runtime.settings
    return IngestLimits(settings.max_attributes_per_record, settings.max_string_length)


def records_over_limit(runtime: Runtime, records: int, what: str) -> str | None:
    """The message for a request that carries more than ``max_records_per_request``, else None."""
    limit = runtime.settings.max_records_per_request
    if records <= limit:
        return None
    return f"the request carries {records} {what}; the limit is {limit} (max_records_per_request)"


def admit_logs(runtime: Runtime, result: LogsDecodeResult) -> None:
    """Drop inference batches of models, versions or features past their limits (as rejections)."""
    kept = []
    for batch in result.batches:
        if isinstance(batch, InferenceBatch):
            refusal = runtime.guard.admit_model(batch.model, batch.version, batch.features)
            if refusal is not None:
                result.rejected[refusal.reason] += len(batch)
                result.accepted -= len(batch)
                result.first_error = result.first_error or refusal.message
                result.new_kinds.pop((batch.model, batch.version), None)
                continue
        kept.append(batch)
    result.batches = kept


def admit_metrics(runtime: Runtime, result: MetricsDecodeResult) -> None:
    """Drop points of label sets past ``max_series_per_metric`` (as rejections)."""
    if result.batch is None:
        return
    result.batch, refused, message = runtime.guard.admit_metrics(result.batch)
    if refused:
        result.rejected["too_many_series"] += refused
        result.accepted -= refused
        result.first_error = result.first_error or message
