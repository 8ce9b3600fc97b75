"""Decode OTLP metric exports into a flat :class:`~collectors.records.MetricBatch`.

Gauges and sums give one point per data point. Histograms, exponential
histograms and summaries give two points, ``<name>.count`` and ``<name>.sum``, so
their mean over any interval can be derived downstream; a histogram point without
its optional sum gives only ``<name>.count``. Resource attributes are
merged under the data point's own attributes (the point's win on conflicts).
"""

from __future__ import annotations

import json
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
    stamps: list[int] = []
    values: list[float] = []
    attrs: list[str] = []
    problems: list[tuple[int, str, str]] = []  # (points collected before it, reason, message)

    def problem(reason: str, message: str, count: int = 1) -> None:
        result.rejected[reason] += count
        problems.append((len(values), reason, message))

    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        labels_of = _Labels(resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                name = metric.name
                data = metric.WhichOneof("data")
                if not name:
                    # Counted per data point, like every other rejection (an empty metric carries none).
                    points = len(getattr(metric, data).data_points) if data else 0
                    if points:
                        problem("missing_metric_name", "every metric needs a non-empty name", points)
                    continue
                if data in ("gauge", "sum"):
                    for point in getattr(metric, data).data_points:
                        raw = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                        stamp = point.time_unix_nano
                        names.append(name)
                        stamps.append(stamp)
                        values.append(float(raw))
                        attrs.append(labels_of.number_point(point, stamp, raw))
                elif data in ("histogram", "exponential_histogram", "summary"):
                    for point in getattr(metric, data).data_points:
                        labels = labels_of(point)
                        # Histogram sums are optional (absent when negative values were
                        # recorded into a cumulative histogram); absent is not zero.
                        with_sum = data == "summary" or point.HasField("sum")
                        for suffix, value in ((".count", float(point.count)), (".sum", float(point.sum)))[: 1 + with_sum]:
                            names.append(name + suffix)
                            stamps.append(point.time_unix_nano)
                            values.append(value)
                            attrs.append(labels)
                else:
                    problem("missing_data_points", f"metric {name!r} carries no data")
    value_column = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(value_column))
    if bad.size:
        result.rejected["non_finite_value"] += int(bad.size)
        first = int(bad[0])
        problems.append((first, "non_finite_value", f"metric {names[first]!r} has a non-finite value {values[first]}"))
    if problems:
        # The first problem in request order: a metric-level problem found when ``n`` points were
        # collected comes after bad point ``n - 1`` and before bad point ``n``.
        result.first_error = min(problems, key=lambda item: (item[0], item[1] == "non_finite_value"))[2]
    keep = np.ones(value_column.size, dtype=np.bool_)
    keep[bad] = False
    result.accepted = int(keep.sum())
    if result.accepted:
        result.batch = MetricBatch(
            names=np.asarray(names, dtype=object)[keep],
            timestamps=np.asarray(stamps, dtype=np.float64)[keep] / 1e9,
            values=value_column[keep],
            attributes=np.asarray(attrs, dtype=object)[keep],
        )
    return result
