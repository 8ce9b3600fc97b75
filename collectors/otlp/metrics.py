"""Decode OTLP metric exports into a flat :class:`~collectors.records.MetricBatch`.

Gauges and sums give one point per data point. Histograms, exponential
histograms and summaries give two points, ``<name>.count`` and ``<name>.sum``, so
their mean over any interval can be derived downstream; a histogram point without
its optional sum gives only ``<name>.count``. Resource attributes are
merged under the data point's own attributes (the point's win on conflicts).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from collectors.errors import DecodeError
from collectors.otlp._body import Encoding
from collectors.otlp._json import parse_json
from collectors.records import MetricBatch

__all__ = ["MetricsDecodeResult", "decode_metrics", "parse_metrics_request"]


@dataclass(slots=True)
class MetricsDecodeResult:
    """What one OTLP metrics request turned into."""

    batch: MetricBatch | None = None
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_error: str = ""


def parse_metrics_request(body: bytes, encoding: Encoding) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """Parse a decompressed body; raises :class:`DecodeError` on anything undecodable."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    if encoding == "json":
        return parse_json(body, request)
    try:
        request.ParseFromString(body)
    except Exception as exc:
        raise DecodeError(f"body is not a valid ExportMetricsServiceRequest: {exc}", reason="invalid_protobuf") from None
    return request


def _attribute_value(value: Any) -> object:
    which = value.WhichOneof("value")
    if which is None or which in ("array_value", "kvlist_value", "bytes_value"):
        return None
    return getattr(value, which)


def _attributes(key_values: Any) -> dict[str, object]:
    return {kv.key: _attribute_value(kv.value) for kv in key_values}


class _Labels:
    """Canonical label JSON of data points under one resource, built once per attribute set.

    Reading attributes value by value is the slow part of decoding, and points repeat a few
    attribute sets, so the JSON is cached by the wire bytes that carry the attributes.
    """

    def __init__(self, resource: dict[str, object]) -> None:
        self.resource = resource
        self._by_point: dict[bytes, str] = {}
        self._by_attributes: dict[bytes, str] = {}

    def _json(self, point: Any) -> str:
        merged = {**self.resource, **_attributes(point.attributes)}
        return json.dumps(merged, sort_keys=True, separators=(",", ":"))

    def number_point(self, point: Any, stamp: int, value: float) -> str:
        """Labels of a ``NumberDataPoint`` whose time and value were read as ``stamp`` and ``value``.

        Its key is the point serialized without its times and value (one C call rather than
        one per attribute); they are put back, so the request is left as it was.
        """
        start, kind = point.start_time_unix_nano, point.WhichOneof("value")
        point.ClearField("time_unix_nano")
        point.ClearField("start_time_unix_nano")
        point.ClearField("value")
        key = point.SerializeToString()
        point.time_unix_nano, point.start_time_unix_nano = stamp, start
        if kind == "as_double":
            point.as_double = value
        elif kind == "as_int":
            point.as_int = int(value)
        text = self._by_point.get(key)
        if text is None:
            text = self._by_point[key] = self._json(point)
        return text

    def __call__(self, point: Any) -> str:
        key = b"".join([kv.SerializeToString() for kv in point.attributes])
        text = self._by_attributes.get(key)
        if text is None:
            text = self._by_attributes[key] = self._json(point)
        return text


def decode_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest) -> MetricsDecodeResult:
    """Flatten resource → scope → metric → data point, rejecting non-finite values."""
    result = MetricsDecodeResult()
    names: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    attrs: list[str] = []

    def add(name: str, stamp: int, value: float, labels: str) -> None:
        if not math.isfinite(value):
            result.rejected["non_finite_value"] += 1
            result.first_error = result.first_error or f"metric {name!r} has a non-finite value {value}"
            return
        names.append(name)
        stamps.append(stamp / 1e9)
        values.append(value)
        attrs.append(labels)
        result.accepted += 1

    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        labels_of = _Labels(resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not metric.name:
                    result.rejected["missing_metric_name"] += 1
                    result.first_error = result.first_error or "every metric needs a non-empty name"
                    continue
                data = metric.WhichOneof("data")
                if data in ("gauge", "sum"):
                    for point in getattr(metric, data).data_points:
                        as_int = point.WhichOneof("value") == "as_int"
                        raw = point.as_int if as_int else point.as_double
                        stamp = point.time_unix_nano
                        add(metric.name, stamp, float(raw), labels_of.number_point(point, stamp, raw))
                elif data in ("histogram", "exponential_histogram", "summary"):
                    for point in getattr(metric, data).data_points:
                        labels = labels_of(point)
                        add(metric.name + ".count", point.time_unix_nano, float(point.count), labels)
                        # Histogram sums are optional (absent when negative values were
                        # recorded into a cumulative histogram); absent is not zero.
                        if data == "summary" or point.HasField("sum"):
                            add(metric.name + ".sum", point.time_unix_nano, float(point.sum), labels)
                else:
                    result.rejected["missing_data_points"] += 1
                    result.first_error = result.first_error or f"metric {metric.name!r} carries no data"
    if names:
        result.batch = MetricBatch(
            names=np.asarray(names, dtype=object),
            timestamps=np.asarray(stamps, dtype=np.float64),
            values=np.asarray(values, dtype=np.float64),
            attributes=np.asarray(attrs, dtype=object),
        )
    return result
