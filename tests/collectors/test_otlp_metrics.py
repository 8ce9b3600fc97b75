"""Tests for collectors.otlp.metrics: flattening OTLP metric exports into one MetricBatch."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from collectors.errors import DecodeError
from collectors.limits import IngestLimits
from collectors.otlp import MetricsDecodeResult, decode_metrics, parse_metrics_request
from collectors.records import MetricBatch
from support import any_value

T0 = 1_700_000_000


def kvs(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def request(
    *metrics: metrics_pb2.Metric, resource: dict[str, Any] | None = None
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=kvs(resource or {})),
                scope_metrics=[metrics_pb2.ScopeMetrics(metrics=list(metrics))],
            )
        ]
    )


def point(value: float | int, seconds: float = T0, **attributes: Any) -> metrics_pb2.NumberDataPoint:
    stamp = int(seconds * 1e9)
    if isinstance(value, int):
        return metrics_pb2.NumberDataPoint(time_unix_nano=stamp, as_int=value, attributes=kvs(attributes))
    return metrics_pb2.NumberDataPoint(time_unix_nano=stamp, as_double=value, attributes=kvs(attributes))


def gauge(name: str, *points: metrics_pb2.NumberDataPoint) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(name=name, gauge=metrics_pb2.Gauge(data_points=list(points)))


def rows(result: MetricsDecodeResult) -> list[tuple[str, float, float, dict[str, Any]]]:
    assert isinstance(result.batch, MetricBatch)
    batch = result.batch
    assert len(batch) == len(batch.names) == len(batch.values) == len(batch.attributes)
    return [
        (str(n), float(t), float(v), json.loads(a))
        for n, t, v, a in zip(batch.names, batch.timestamps, batch.values, batch.attributes, strict=True)
    ]


def test_gauge_and_sum_points_flatten_one_row_each() -> None:
    total = metrics_pb2.Metric(
        name="requests",
        sum=metrics_pb2.Sum(
            data_points=[point(5, T0 + 1), point(8, T0 + 2)],
            is_monotonic=True,
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
        ),
    )
    result = decode_metrics(request(gauge("gpu.util", point(0.75, T0)), total))
    assert result.accepted == 3
    assert not result.rejected
    assert rows(result) == [
        ("gpu.util", T0, 0.75, {}),
        ("requests", T0 + 1, 5.0, {}),
        ("requests", T0 + 2, 8.0, {}),
    ]


def test_histogram_and_summary_give_count_and_sum() -> None:
    histogram = metrics_pb2.Metric(
        name="latency",
        histogram=metrics_pb2.Histogram(
            data_points=[
                metrics_pb2.HistogramDataPoint(
                    time_unix_nano=T0 * 10**9, count=4, sum=2.5, bucket_counts=[1, 3], explicit_bounds=[0.5]
                )
            ]
        ),
    )
    exponential = metrics_pb2.Metric(
        name="size",
        exponential_histogram=metrics_pb2.ExponentialHistogram(
            data_points=[metrics_pb2.ExponentialHistogramDataPoint(time_unix_nano=T0 * 10**9, count=2, sum=10.0)]
        ),
    )
    summary = metrics_pb2.Metric(
        name="rtt",
        summary=metrics_pb2.Summary(data_points=[metrics_pb2.SummaryDataPoint(time_unix_nano=T0 * 10**9, count=3, sum=0.0)]),
    )
    result = decode_metrics(request(histogram, exponential, summary))
    assert result.accepted == 6
    assert [(name, value) for name, _, value, _ in rows(result)] == [
        ("latency.count", 4.0),
        ("latency.sum", 2.5),
        ("size.count", 2.0),
        ("size.sum", 10.0),
        ("rtt.count", 3.0),
        ("rtt.sum", 0.0),  # a summary's sum is not optional: zero is a real zero
    ]


def test_histogram_without_its_optional_sum_gives_only_the_count() -> None:
    histogram = metrics_pb2.Metric(
        name="latency",
        histogram=metrics_pb2.Histogram(data_points=[metrics_pb2.HistogramDataPoint(time_unix_nano=T0 * 10**9, count=4)]),
    )
    result = decode_metrics(request(histogram))
    assert result.accepted == 1
    assert [(name, value) for name, _, value, _ in rows(result)] == [("latency.count", 4.0)]


def test_resource_and_point_attributes_merge_point_wins() -> None:
    metric = gauge("temp", point(61.0, T0, gpu="0", host="point-host"), point(62.0, T0, gpu="1"))
    result = decode_metrics(request(metric, resource={"host": "node-a", "region": "eu", "rank": 3}))
    assert [attrs for *_, attrs in rows(result)] == [
        {"gpu": "0", "host": "point-host", "rank": 3, "region": "eu"},
        {"gpu": "1", "host": "node-a", "rank": 3, "region": "eu"},
    ]
    # Canonical JSON: sorted keys, no spaces, so equal label sets compare as equal strings.
    assert result.batch is not None
    assert result.batch.attributes[1] == '{"gpu":"1","host":"node-a","rank":3,"region":"eu"}'


def test_structured_attribute_values_become_null() -> None:
    structured = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(1)]))
    data_point = point(1.0, T0)
    data_point.attributes.append(common_pb2.KeyValue(key="list", value=structured))
    data_point.attributes.append(common_pb2.KeyValue(key="flag", value=any_value(True)))
    result = decode_metrics(request(gauge("m", data_point)))
    assert rows(result)[0][3] == {"flag": True, "list": None}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_points_are_rejected_the_rest_kept(bad: float) -> None:
    result = decode_metrics(request(gauge("g", point(1.0, T0), point(bad, T0 + 1), point(3.0, T0 + 2))))
    assert result.accepted == 2
    assert dict(result.rejected) == {"non_finite_value": 1}
    assert result.first_error == f"metric 'g' has a non-finite value {bad}"
    assert [value for _, _, value, _ in rows(result)] == [1.0, 3.0]


def test_non_finite_histogram_sum_rejects_only_the_sum_point() -> None:
    histogram = metrics_pb2.Metric(
        name="h",
        histogram=metrics_pb2.Histogram(
            data_points=[metrics_pb2.HistogramDataPoint(time_unix_nano=T0 * 10**9, count=2, sum=math.inf)]
        ),
    )
    result = decode_metrics(request(histogram))
    assert result.accepted == 1
    assert dict(result.rejected) == {"non_finite_value": 1}
    assert [name for name, *_ in rows(result)] == ["h.count"]


def test_names_too_long_to_store_are_rejected_per_point() -> None:
    """Series names are stored in 255-character columns; a histogram's series add ``.count``."""
    histogram = metrics_pb2.Metric(
        name="h" * 250,
        histogram=metrics_pb2.Histogram(
            data_points=[metrics_pb2.HistogramDataPoint(time_unix_nano=T0 * 10**9, count=2, sum=3.0)]
        ),
    )
    longest = gauge("g" * 255, point(1.0))
    result = decode_metrics(request(gauge("x" * 256, point(1.0), point(2.0)), histogram, longest))
    assert dict(result.rejected) == {"name_too_long": 3}
    assert result.first_error == f"metric name {'x' * 32!r}... is longer than 255 characters"
    assert result.accepted == 1
    assert [name for name, *_ in rows(result)] == ["g" * 255]
    only_histogram = decode_metrics(request(histogram))
    assert only_histogram.first_error == f"metric name {'h' * 32!r}... is longer than 255 characters with its '.count' suffix"


def test_missing_name_and_missing_data_are_rejected() -> None:
    nameless = gauge("", point(1.0))
    empty = metrics_pb2.Metric(name="empty")
    result = decode_metrics(request(nameless, empty, gauge("ok", point(2.0))))
    assert dict(result.rejected) == {"missing_metric_name": 1, "missing_data_points": 1}
    assert result.first_error == "every metric needs a non-empty name"
    assert result.accepted == 1
    assert [name for name, *_ in rows(result)] == ["ok"]


def test_nothing_accepted_gives_no_batch() -> None:
    result = decode_metrics(request(gauge("g", point(math.nan))))
    assert result.batch is None
    assert result.accepted == 0
    assert decode_metrics(metrics_service_pb2.ExportMetricsServiceRequest()).batch is None


def test_json_metrics_request_decodes_like_protobuf() -> None:
    body = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "host", "value": {"stringValue": "a"}}]},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "queue.depth",
                                "unit": "1",
                                "futureField": {"ignored": True},
                                "gauge": {
                                    "dataPoints": [
                                        {"timeUnixNano": "1700000000000000000", "asInt": "9007199254740993"},
                                        {"timeUnixNano": "1700000001000000000", "asDouble": 1.5},
                                    ]
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }
    parsed = parse_metrics_request(json.dumps(body).encode(), "json")
    gauge_points = parsed.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points
    assert gauge_points[0].as_int == 9007199254740993
    again = parse_metrics_request(parsed.SerializeToString(), "protobuf")
    assert again == parsed
    assert rows(decode_metrics(again)) == [
        ("queue.depth", T0, float(9007199254740993), {"host": "a"}),
        ("queue.depth", T0 + 1, 1.5, {"host": "a"}),
    ]


@pytest.mark.parametrize(
    ("body", "encoding", "reason"),
    [(b"\xff\xff\xff", "protobuf", "invalid_protobuf"), (b"{", "json", "invalid_json")],
)
def test_undecodable_metrics_body(body: bytes, encoding: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_metrics_request(body, encoding)
    assert caught.value.reason == reason


def test_repeated_attribute_sets_share_labels_and_the_request_is_left_unchanged() -> None:
    big = 2**60 + 1  # not representable as a float: the point must get its own int back
    points = [point(0.5, T0 + i, gpu=str(i % 2), task="general") for i in range(4)]
    points.append(
        metrics_pb2.NumberDataPoint(time_unix_nano=T0, start_time_unix_nano=T0 - 5, as_int=big, attributes=kvs({"gpu": "1"}))
    )
    export = request(gauge("hw.gpu.utilization", *points), resource={"host.name": "n1"})
    before = export.SerializeToString()
    batch = decode_metrics(export).batch
    assert batch is not None
    assert export.SerializeToString() == before
    assert [json.loads(a) for a in batch.attributes] == [
        {"gpu": "0", "host.name": "n1", "task": "general"},
        {"gpu": "1", "host.name": "n1", "task": "general"},
        {"gpu": "0", "host.name": "n1", "task": "general"},
        {"gpu": "1", "host.name": "n1", "task": "general"},
        {"gpu": "1", "host.name": "n1"},
    ]
    assert batch.timestamps.tolist()[:2] == [T0, T0 + 1]


@pytest.mark.parametrize(
    ("order", "first_error"),
    [
        ("bad_first", "metric 'a' has a non-finite value nan"),
        ("nameless_first", "every metric needs a non-empty name"),
    ],
)
def test_first_error_is_the_first_problem_in_request_order(order: str, first_error: str) -> None:
    bad = gauge("a", point(1.0), point(math.nan))
    nameless = gauge("", point(2.0))
    export = request(*((bad, nameless) if order == "bad_first" else (nameless, bad)))
    result = decode_metrics(export)
    assert result.first_error == first_error
    assert (result.accepted, dict(result.rejected)) == (1, {"non_finite_value": 1, "missing_metric_name": 1})


def test_a_label_value_past_max_string_length_rejects_its_point_naming_the_limit() -> None:
    histogram = metrics_pb2.Metric(
        name="latency",
        histogram=metrics_pb2.Histogram(
            data_points=[
                metrics_pb2.HistogramDataPoint(time_unix_nano=T0 * 10**9, count=4, sum=2.5, attributes=kvs({"q": "é" * 1025}))
            ]
        ),
    )
    export = request(
        gauge("kpi", point(1.0, user="é" * 1024), point(2.0, user="é" * 1025), point(3.0, user="u", n=10**30 % 2**62)),
        histogram,
    )
    result = decode_metrics(export)
    assert result.accepted == 2  # the histogram's .count and .sum go with their point
    assert dict(result.rejected) == {"value_too_long": 2}
    assert result.first_error == "metric 'kpi': attribute 'user' is longer than 1024 characters (max_string_length)"
    assert [(name, value, labels.get("user")) for name, _, value, labels in rows(result)] == [
        ("kpi", 1.0, "é" * 1024),
        ("kpi", 3.0, "u"),
    ]


def test_a_long_resource_attribute_is_a_label_too() -> None:
    export = request(gauge("kpi", point(1.0)), resource={"service.name": "s" * 9})
    result = decode_metrics(export, limits=IngestLimits(max_string_length=8))
    assert (result.accepted, dict(result.rejected)) == (0, {"value_too_long": 1})
    assert "'service.name' is longer than 8 characters" in result.first_error


def test_structured_values_are_not_read_so_never_too_long() -> None:
    long_list = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value("x" * 5000)]))
    data_point = point(1.0, user="u")
    data_point.attributes.add(key="trace", value=long_list)
    data_point.attributes.add(key="blob", value=common_pb2.AnyValue(bytes_value=b"\0" * 5000))
    result = decode_metrics(request(gauge("kpi", data_point)))
    assert result.accepted == 1
    assert not result.rejected
    assert rows(result)[0][3] == {"blob": None, "trace": None, "user": "u"}


def test_points_past_max_attributes_per_record_are_rejected_counting_the_resource_labels() -> None:
    resource = {f"r{i}": i for i in range(200)}
    fits = point(1.0, **{f"p{i}": i for i in range(56)})
    crowded = point(2.0, **{f"p{i}": i for i in range(57)})
    shadowing = point(3.0, **{f"r{i}": "x" for i in range(100)})  # same keys as the resource: 200 labels
    result = decode_metrics(request(gauge("kpi", fits, crowded, shadowing), resource=resource))
    assert result.accepted == 2
    assert dict(result.rejected) == {"too_many_attributes": 1}
    assert result.first_error == (
        "metric 'kpi': data point has 257 attributes with its resource's; the limit is 256 (max_attributes_per_record)"
    )
    assert [value for _, _, value, _ in rows(result)] == [1.0, 3.0]
