"""monitor.kpi on decoded OTLP requests: resets, delta histograms, exponential buckets, matchers, state."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from collectors.otlp import decode_metrics
from collectors.records import MetricBatch, PointKind, Temporality
from monitor.kpi import KpiDeriver, histogram_quantiles
from monitor.kpi_config import KpiSpec
from monitor.statecodec import pack, unpack
from support import any_value

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
T0 = 1_700_000_000


def ns(seconds: float) -> int:
    return int(seconds * 1e9)


def kvs(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def decoded(*metrics: metrics_pb2.Metric) -> MetricBatch:
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(scope_metrics=[metrics_pb2.ScopeMetrics(metrics=list(metrics))])]
    )
    batch = decode_metrics(request).batch
    assert batch is not None
    return MetricBatch.from_arrow(batch.to_arrow())  # as the pipeline reads it back from the ingest log


def counter(*points: tuple[float, float, float], **attributes: Any) -> metrics_pb2.Metric:
    """Cumulative monotonic sum of ``(start, time, value)`` points."""
    data = [
        metrics_pb2.NumberDataPoint(start_time_unix_nano=ns(s), time_unix_nano=ns(t), as_double=v, attributes=kvs(attributes))
        for s, t, v in points
    ]
    return metrics_pb2.Metric(
        name="shop.orders", sum=metrics_pb2.Sum(data_points=data, is_monotonic=True, aggregation_temporality=CUMULATIVE)
    )


def kpis(batch: MetricBatch | None) -> list[tuple[str, float, float]]:
    if batch is None:
        return []
    return [
        (json.loads(a)["kpi"], t, v)
        for a, t, v in zip(batch.attributes, batch.timestamps.tolist(), batch.values.tolist(), strict=True)
    ]


def test_decoder_keeps_kind_temporality_start_and_buckets() -> None:
    histogram = metrics_pb2.Metric(
        name="lat",
        histogram=metrics_pb2.Histogram(
            aggregation_temporality=DELTA,
            data_points=[
                metrics_pb2.HistogramDataPoint(
                    start_time_unix_nano=ns(T0), time_unix_nano=ns(T0 + 10), count=4, sum=1.0,
                    explicit_bounds=[0.1, 0.5], bucket_counts=[1, 2, 1],
                )
            ],
        ),
    )  # fmt: skip
    batch = decoded(counter((T0, T0 + 10, 5.0)), histogram)
    assert batch.names.tolist() == ["shop.orders", "lat.count", "lat.sum"]
    assert batch.kinds is not None
    assert batch.temporalities is not None
    assert batch.start_timestamps is not None
    assert batch.kinds.tolist() == [PointKind.MONOTONIC_SUM, PointKind.HISTOGRAM_COUNT, PointKind.HISTOGRAM_SUM]
    assert batch.temporalities.tolist() == [Temporality.CUMULATIVE, Temporality.DELTA, Temporality.DELTA]
    assert batch.start_timestamps.tolist() == [T0, T0, T0]
    assert batch.bounds is not None
    assert batch.bucket_counts is not None
    assert batch.bounds[1].tolist() == [0.1, 0.5]
    assert batch.bucket_counts[1].tolist() == [1, 2, 1]
    assert batch.bounds[0] is None
    assert batch.bounds[2] is None


def test_counter_rates_handle_resets_and_old_points() -> None:
    deriver = KpiDeriver([KpiSpec(name="orders", metric="shop.orders")])
    assert kpis(deriver.derive(decoded(counter((T0, T0 + 10, 100.0))))) == []  # first point: no interval yet
    assert kpis(deriver.derive(decoded(counter((T0, T0 + 20, 160.0))))) == [("orders", T0 + 20, 6.0)]
    assert kpis(deriver.derive(decoded(counter((T0, T0 + 15, 130.0))))) == []  # older than the newest: ignored
    # The sender restarted at T0 + 25: its count since then, over the time since then.
    assert kpis(deriver.derive(decoded(counter((T0 + 25, T0 + 30, 20.0))))) == [("orders", T0 + 30, 4.0)]
    # A counter that goes down without a start time is a reset too.
    assert kpis(deriver.derive(decoded(counter((0, T0 + 40, 5.0))))) == []
    assert deriver.latest == {"orders": (T0 + 30, 4.0)}


def test_delta_histogram_mean_and_quantiles_and_attribute_matchers() -> None:
    def point(rank: int, counts: list[int], total: float) -> metrics_pb2.HistogramDataPoint:
        return metrics_pb2.HistogramDataPoint(
            start_time_unix_nano=ns(T0), time_unix_nano=ns(T0 + 60), count=sum(counts), sum=total,
            explicit_bounds=[0.1, 0.2, 0.5], bucket_counts=counts, attributes=kvs({"rank": rank}),
        )  # fmt: skip

    metric = metrics_pb2.Metric(
        name="lat",
        histogram=metrics_pb2.Histogram(
            aggregation_temporality=DELTA, data_points=[point(1, [0, 10, 10, 0], 5.0), point(2, [5, 0, 0, 5], 100.0)]
        ),
    )
    deriver = KpiDeriver([KpiSpec(name="lat", metric="lat", attributes={"rank": "1"}, quantiles=[0.5, 0.9])])
    assert kpis(deriver.derive(decoded(metric))) == [
        ("lat", T0 + 60, 0.25),
        ("lat.p50", T0 + 60, pytest.approx(0.2)),
        ("lat.p90", T0 + 60, pytest.approx(0.44)),
    ]


def test_exponential_histogram_becomes_explicit_buckets() -> None:
    metric = metrics_pb2.Metric(
        name="lat",
        exponential_histogram=metrics_pb2.ExponentialHistogram(
            aggregation_temporality=DELTA,
            data_points=[
                metrics_pb2.ExponentialHistogramDataPoint(
                    start_time_unix_nano=ns(T0), time_unix_nano=ns(T0 + 60), count=10, sum=30.0, scale=0, zero_count=0,
                    positive=metrics_pb2.ExponentialHistogramDataPoint.Buckets(offset=1, bucket_counts=[4, 6]),
                )
            ],
        ),
    )  # fmt: skip
    batch = decoded(metric)
    assert batch.bounds is not None
    assert batch.bucket_counts is not None
    assert batch.bounds[0].tolist() == [2.0, 4.0, 8.0]  # (2, 4] and (4, 8] at scale 0
    assert batch.bucket_counts[0].tolist() == [0, 4, 6, 0]
    deriver = KpiDeriver([KpiSpec(name="lat", metric="lat", quantiles=[0.5])])
    # rank 5: one of six into (4, 8].
    assert kpis(deriver.derive(batch)) == [("lat", T0 + 60, 3.0), ("lat.p50", T0 + 60, pytest.approx(4 + 4 / 6))]


def test_state_round_trips_through_the_checkpoint_codec() -> None:
    specs = [KpiSpec(name="orders", metric="shop.orders", attributes={"region": "eu"})]
    deriver = KpiDeriver(specs)
    deriver.derive(decoded(counter((T0, T0 + 10, 100.0), region="eu")))
    restored = KpiDeriver(specs)
    restored.load_state(unpack(pack(deriver.state_dict())))
    step = decoded(counter((T0, T0 + 20, 150.0), region="eu"), counter((T0, T0 + 20, 999.0), region="us"))
    assert kpis(restored.derive(step)) == kpis(deriver.derive(step)) == [("orders", T0 + 20, 5.0)]


def test_histogram_quantiles_follow_prometheus_rules() -> None:
    bounds = [1.0, 2.0]
    assert histogram_quantiles(bounds, [0, 0, 4], [0.5]).tolist() == [2.0]  # all in +Inf: the highest bound
    assert histogram_quantiles([-1.0, 2.0], [4, 0, 0], [0.5]).tolist() == [-1.0]  # lowest bound <= 0 is the answer
    assert np.isnan(histogram_quantiles(bounds, [0, 0, 0], [0.5])).all()


def test_metrics_cardinality_is_bounded() -> None:
    deriver = KpiDeriver([])
    names = [f"k{i}" for i in range(1005)]
    batch = MetricBatch(
        names=np.full(len(names), "driftline.kpi", dtype=object),
        timestamps=np.full(len(names), float(T0)),
        values=np.arange(len(names), dtype=np.float64),
        attributes=np.array([json.dumps({"kpi": n}) for n in names], dtype=object),
    )
    deriver.derive(batch)
    assert len(deriver.latest) == 1000
