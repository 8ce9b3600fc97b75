"""Decode OTLP metric exports into a flat :class:`~collectors.records.MetricBatch`.

Gauges and sums give one point per data point. Histograms, exponential
histograms and summaries give two points, ``<name>.count`` and ``<name>.sum``, so
their mean over any interval can be derived downstream; a histogram point without
its optional sum gives only ``<name>.count``. Resource attributes are
merged under the data point's own attributes (the point's win on conflicts).

A metric whose name is longer than 255 characters (with the ``.count`` suffix for
histograms and summaries) has all its points rejected as ``name_too_long``.
A data point whose merged labels number more than ``max_attributes_per_record``
is rejected as ``too_many_attributes``, and one with a string label value longer
than ``max_string_length`` characters as ``value_too_long``; either way the point
counts once (a histogram's ``.count`` and ``.sum`` go together).

Every point keeps its :class:`~collectors.records.PointKind`, temporality and start time,
and the ``.count`` point of an explicit-bucket histogram (or of an exponential one without
negative buckets, converted to explicit bounds) keeps its bucket bounds and counts, so that
rates and quantiles can be derived downstream (:mod:`monitor.kpi`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from collectors.errors import DecodeError
from collectors.limits import DEFAULT_LIMITS, IngestLimits
from collectors.otlp._body import Encoding
from collectors.otlp._json import parse_json
from collectors.records import MetricBatch, PointKind, Temporality

__all__ = ["MAX_METRIC_NAME_LENGTH", "MetricsDecodeResult", "decode_metrics", "parse_metrics_request"]

#: the longest series name stored (OpenTelemetry's limit for instrument names); a histogram's
#: ``.count`` and ``.sum`` series count their suffix
MAX_METRIC_NAME_LENGTH = 255


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


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why the labels of a data point are refused: a rejection reason and its message."""

    reason: str
    message: str


def _refusal(labels: dict[str, object], limits: IngestLimits) -> _Refusal | None:
    """Too many labels, or a string label value that is too long (the first, in key order)."""
    if len(labels) > limits.max_attributes_per_record:
        return _Refusal(
            "too_many_attributes",
            f"data point has {len(labels)} attributes with its resource's; "
            f"the limit is {limits.max_attributes_per_record} (max_attributes_per_record)",
        )
    for key, value in labels.items():
        if isinstance(value, str) and len(value) > limits.max_string_length:
            return _Refusal("value_too_long", f"attribute {key!r} is {limits.string_rule()}")
    return None


class _Labels:
    """Canonical label JSON of data points under one resource, built once per attribute set.

    Reading attributes value by value is the slow part of decoding, and points repeat a few
    attribute sets, so the JSON (or the refusal of labels past a limit) is cached by the wire
    bytes that carry the attributes.
    """

    def __init__(self, resource: dict[str, object], limits: IngestLimits) -> None:
        self.resource = resource
        self.limits = limits
        self._by_point: dict[bytes, str | _Refusal] = {}
        self._by_attributes: dict[bytes, str | _Refusal] = {}

    def _json(self, point: Any) -> str | _Refusal:
        merged = {**self.resource, **_attributes(point.attributes)}
        refusal = _refusal(merged, self.limits)
        if refusal is not None:
            return refusal
        return json.dumps(merged, sort_keys=True, separators=(",", ":"))

    def number_point(self, point: Any, stamp: int, value: float) -> str | _Refusal:
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

    def __call__(self, point: Any) -> str | _Refusal:
        key = b"".join([kv.SerializeToString() for kv in point.attributes])
        text = self._by_attributes.get(key)
        if text is None:
            text = self._by_attributes[key] = self._json(point)
        return text


def decode_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest, *, limits: IngestLimits = DEFAULT_LIMITS
) -> MetricsDecodeResult:
    """Flatten resource → scope → metric → data point, rejecting non-finite values and labels past ``limits``."""
    result = MetricsDecodeResult()
    names: list[str] = []
    stamps: list[int] = []
    values: list[float] = []
    attrs: list[str] = []
    codes: list[int] = []  # kind * 4 + temporality: one append per point, split with numpy at the end
    starts: list[int] = []  # start_time_unix_nano, 0 when unknown
    buckets_at: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
    problems: list[tuple[int, str, str]] = []  # (points collected before it, reason, message)

    def problem(reason: str, message: str, count: int = 1) -> None:
        result.rejected[reason] += count
        problems.append((len(values), reason, message))

    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        labels_of = _Labels(resource, limits)
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
                suffix = ".count" if data in ("histogram", "exponential_histogram", "summary") else ""
                if len(name) + len(suffix) > MAX_METRIC_NAME_LENGTH:
                    points = len(getattr(metric, data).data_points) if data else 0
                    if points:
                        with_suffix = f" with its {suffix!r} suffix" if suffix else ""
                        message = f"metric name {name[:32]!r}... is longer than {MAX_METRIC_NAME_LENGTH} characters{with_suffix}"
                        problem("name_too_long", message, points)
                    continue
                if data in ("gauge", "sum"):
                    kind, temporality = PointKind.GAUGE, int(Temporality.UNSPECIFIED)
                    if data == "sum":
                        kind = PointKind.MONOTONIC_SUM if metric.sum.is_monotonic else PointKind.SUM
                        temporality = _temporality(metric.sum.aggregation_temporality)
                    code = kind * 4 + temporality
                    for point in getattr(metric, data).data_points:
                        raw = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                        stamp = point.time_unix_nano
                        labels = labels_of.number_point(point, stamp, raw)
                        if isinstance(labels, _Refusal):
                            problem(labels.reason, f"metric {name!r}: {labels.message}")
                            continue
                        starts.append(point.start_time_unix_nano)
                        names.append(name)
                        stamps.append(stamp)
                        values.append(float(raw))
                        codes.append(code)
                        attrs.append(labels)
                elif data in ("histogram", "exponential_histogram", "summary"):
                    # Summaries carry no temporality: they are cumulative by definition.
                    aggregation = getattr(metric, data)
                    cumulative = data == "summary"
                    temporality = Temporality.CUMULATIVE if cumulative else _temporality(aggregation.aggregation_temporality)
                    count_code = PointKind.HISTOGRAM_COUNT * 4 + temporality
                    sum_code = PointKind.HISTOGRAM_SUM * 4 + temporality
                    for point in aggregation.data_points:
                        labels = labels_of(point)
                        if isinstance(labels, _Refusal):
                            problem(labels.reason, f"metric {name!r}: {labels.message}")
                            continue
                        buckets = _buckets(point, data)
                        if buckets is not None:
                            buckets_at[len(names)] = buckets
                        # Histogram sums are optional (absent when negative values were
                        # recorded into a cumulative histogram); absent is not zero.
                        with_sum = data == "summary" or point.HasField("sum")
                        pairs = ((".count", float(point.count), count_code), (".sum", float(point.sum), sum_code))
                        for suffix, value, point_code in pairs[: 1 + with_sum]:
                            names.append(name + suffix)
                            stamps.append(point.time_unix_nano)
                            values.append(value)
                            attrs.append(labels)
                            codes.append(point_code)
                            starts.append(point.start_time_unix_nano)
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
        coded = np.asarray(codes, dtype=np.int64)[keep]
        nanos = np.asarray(starts, dtype=np.int64)[keep]
        size = len(names)
        result.batch = MetricBatch(
            names=np.asarray(names, dtype=object)[keep],
            timestamps=np.asarray(stamps, dtype=np.float64)[keep] / 1e9,
            values=value_column[keep],
            attributes=np.asarray(attrs, dtype=object)[keep],
            kinds=(coded // 4).astype(np.uint8),
            temporalities=(coded % 4).astype(np.uint8),
            start_timestamps=np.where(nanos > 0, nanos / 1e9, np.nan),
            bounds=_objects(size, {i: b[0] for i, b in buckets_at.items()})[keep] if buckets_at else None,
            bucket_counts=_objects(size, {i: b[1] for i, b in buckets_at.items()})[keep] if buckets_at else None,
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
