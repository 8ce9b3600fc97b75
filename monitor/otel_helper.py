"""Emit ``ml.inference`` events through the application's own OpenTelemetry ``LoggerProvider``.

Prefer this to :class:`monitor.client.DriftlineClient` when the model server already runs an
OpenTelemetry pipeline (an SDK ``LoggerProvider`` with an OTLP exporter, perhaps through an
OpenTelemetry Collector): events then share its batching, retries, resource attributes and
routing, and Driftline receives them on ``POST /v1/logs``. The helper only names things the way
Driftline's contract reads them:

* event name ``ml.inference``;
* ``ml.model.name``, ``ml.model.version``, ``ml.prediction.id``, ``ml.prediction``,
  ``ml.prediction.score`` (when given), ``ml.latency`` in seconds (when given);
* ``ml.feature.<name>`` per feature. ``None`` values are left out (a missing value), since
  OpenTelemetry attributes cannot hold null.

The SDK keeps 128 attributes per record by default, so about 120 features; raise it for wider
models with the standard ``OTEL_ATTRIBUTE_COUNT_LIMIT`` environment variable.

Examples
--------
An in-memory exporter shows the record the helper builds:

>>> from opentelemetry.sdk._logs import LoggerProvider
>>> from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
>>> exporter = InMemoryLogRecordExporter()
>>> provider = LoggerProvider()
>>> provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
>>> InferenceLogger(provider, "churn", "v3").log("p-1", 1, {"age": 31, "plan": "pro"}, score=0.91, latency=0.004)
>>> record = exporter.get_finished_logs()[0].log_record
>>> record.event_name, dict(record.attributes)["ml.feature.plan"], dict(record.attributes)["ml.prediction.score"]
('ml.inference', 'pro', 0.91)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider

__all__ = ["INFERENCE_EVENT", "InferenceLogger"]

INFERENCE_EVENT = "ml.inference"


class InferenceLogger:
    """One model version's ``ml.inference`` events, emitted through an OpenTelemetry logger.

    Parameters
    ----------
    logger_provider
        The application's ``LoggerProvider`` (``None``: the global one from
        ``opentelemetry._logs.get_logger_provider()``). Its processors and exporters decide
        batching, retries and where events go.
    model, version
        Written as ``ml.model.name`` and ``ml.model.version`` on every event.
    """

    def __init__(self, logger_provider: LoggerProvider | None, model: str, version: str) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model={model!r} must be a non-empty string")
        if not isinstance(version, str) or not version:
            raise ValueError(f"version={version!r} must be a non-empty string")
        self.logger_provider = logger_provider if logger_provider is not None else get_logger_provider()
        self.model = model
        self.version = version
        self._logger = self.logger_provider.get_logger("driftline.inference")
        self._base = {"ml.model.name": model, "ml.model.version": version}

    def log(
        self,
        prediction_id: str,
        prediction: Any,
        features: Mapping[str, Any],
        score: float | None = None,
        latency: float | None = None,
    ) -> None:
        """Emit one ``ml.inference`` event; ``latency`` in seconds, feature values scalars or ``None``."""
        attributes: dict[str, Any] = {**self._base, "ml.prediction.id": prediction_id, "ml.prediction": prediction}
        if score is not None:
            attributes["ml.prediction.score"] = score
        if latency is not None:
            attributes["ml.latency"] = latency
        for name, value in features.items():
            if value is not None:
                attributes[f"ml.feature.{name}"] = value
        self._logger.emit(
            timestamp=time.time_ns(),
            severity_number=SeverityNumber.INFO,
            event_name=INFERENCE_EVENT,
            attributes=attributes,
        )
