"""Decode OTLP metric exports into a flat :class:`~collectors.records.MetricBatch`.

Gauges and sums give one point per data point. Histograms, exponential
histograms and summaries give two points, ``<name>.count`` and ``<name>.sum``, so
their mean over any interval can be derived downstream; a histogram point without
its optional sum gives only ``<name>.count``. Resource attributes are
merged under the data point's own attributes (the point's win on conflicts).

Every point keeps its :class:`~collectors.records.PointKind`, temporality and start time,
and the ``.count`` point of an explicit-bucket histogram (or of an exponential one without
negative buckets, converted to explicit bounds) keeps its bucket bounds and counts, so that
rates and quantiles can be derived downstream (:mod:`monitor.kpi`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from collectors.errors import DecodeError
from collectors.otlp._body import Encoding
from collectors.otlp._json import parse_json
from collectors.records import MetricBatch, PointKind, Temporality

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


def decode_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest) -> MetricsDecodeResult:
    """Flatten resource → scope → metric → data point, rejecting non-finite values."""
    result = MetricsDecodeResult()
    names: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    attrs: list[str] = []
    codes: list[int] = []  # kind * 4 + temporality: one append per point, split with numpy at the end
    starts: list[int] = []  # start_time_unix_nano, 0 when unknown
    buckets_at: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}

    def add(name: str, point: Any, value: float, labels: dict[str, object], code: int) -> bool:
        if not math.isfinite(value):
            result.rejected["non_finite_value"] += 1
            result.first_error = result.first_error or f"metric {name!r} has a non-finite value {value}"
            return False
        names.append(name)
        stamps.append(point.time_unix_nano / 1e9)
        values.append(value)
        attrs.append(json.dumps(labels, sort_keys=True, separators=(",", ":")))
        codes.append(code)
        starts.append(point.start_time_unix_nano)
        result.accepted += 1
        return True

    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                if not metric.name:
                    # Counted per data point, like every other rejection (an empty metric carries none).
                    points = len(getattr(metric, data).data_points) if data else 0
                    if points:
                        result.rejected["missing_metric_name"] += points
                        result.first_error = result.first_error or "every metric needs a non-empty name"
                    continue
                if data in ("gauge", "sum"):
                    kind, temporality = PointKind.GAUGE, int(Temporality.UNSPECIFIED)
                    if data == "sum":
                        kind = PointKind.MONOTONIC_SUM if metric.sum.is_monotonic else PointKind.SUM
                        temporality = _temporality(metric.sum.aggregation_temporality)
                    code = kind * 4 + temporality
                    for point in getattr(metric, data).data_points:
                        labels = {**resource, **_attributes(point.attributes)}
                        number = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
                        add(metric.name, point, number, labels, code)
                elif data in ("histogram", "exponential_histogram", "summary"):
                    # Summaries carry no temporality: they are cumulative by definition.
                    aggregation = getattr(metric, data)
                    cumulative = data == "summary"
                    temporality = Temporality.CUMULATIVE if cumulative else _temporality(aggregation.aggregation_temporality)
                    count_code = PointKind.HISTOGRAM_COUNT * 4 + temporality
                    sum_code = PointKind.HISTOGRAM_SUM * 4 + temporality
                    for point in aggregation.data_points:
                        labels = {**resource, **_attributes(point.attributes)}
                        buckets = _buckets(point, data)
                        if add(metric.name + ".count", point, float(point.count), labels, count_code) and buckets:
                            buckets_at[len(names) - 1] = buckets
                        # Histogram sums are optional (absent when negative values were
                        # recorded into a cumulative histogram); absent is not zero.
                        if data == "summary" or point.HasField("sum"):
                            add(metric.name + ".sum", point, float(point.sum), labels, sum_code)
                else:
                    result.rejected["missing_data_points"] += 1
                    result.first_error = result.first_error or f"metric {metric.name!r} carries no data"
    if names:
        coded = np.asarray(codes, dtype=np.int64)
        nanos = np.asarray(starts, dtype=np.int64)
        result.batch = MetricBatch(
            names=np.asarray(names, dtype=object),
            timestamps=np.asarray(stamps, dtype=np.float64),
            values=np.asarray(values, dtype=np.float64),
            attributes=np.asarray(attrs, dtype=object),
            kinds=(coded // 4).astype(np.uint8),
            temporalities=(coded % 4).astype(np.uint8),
            start_timestamps=np.where(nanos > 0, nanos / 1e9, np.nan),
            bounds=_objects(len(names), {i: b[0] for i, b in buckets_at.items()}) if buckets_at else None,
            bucket_counts=_objects(len(names), {i: b[1] for i, b in buckets_at.items()}) if buckets_at else None,
        )
    return result


def _temporality(value: int) -> int:
    """The wire's temporality; an unknown enum number (proto3 keeps them) counts as unspecified."""
    return value if value in (Temporality.DELTA, Temporality.CUMULATIVE) else Temporality.UNSPECIFIED


def _objects(size: int, arrays: dict[int, npt.NDArray[np.float64]]) -> npt.NDArray[np.object_]:
    out = np.full(size, None, dtype=object)
    for i, array in arrays.items():
        out[i] = array
    return out


def _buckets(point: Any, data: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Explicit bounds and counts (``len(counts) == len(bounds) + 1``), or ``None``.

    An exponential histogram becomes explicit bounds ``base ** index`` when it has no
    negative buckets; its zero bucket joins the first one. Summaries have no buckets.
    """
    if data == "histogram":
        counts = np.asarray(point.bucket_counts, dtype=np.float64)
        edges = np.asarray(point.explicit_bounds, dtype=np.float64)
        if counts.size != edges.size + 1 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            return None  # malformed or bucketless: the count and sum still stand
        return edges, counts
    if data == "exponential_histogram" and not any(point.negative.bucket_counts):
        positive = np.asarray(point.positive.bucket_counts, dtype=np.float64)
        if positive.size == 0:
            return None
        base = 2.0 ** (2.0**-point.scale)
        edges = base ** (point.positive.offset + np.arange(positive.size + 1, dtype=np.float64))
        if not np.all(np.isfinite(edges)):
            return None
        counts = np.concatenate(([float(point.zero_count)], positive, [0.0]))
        return edges, counts
    return None
