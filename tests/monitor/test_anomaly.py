"""Anomaly scores on a seeded KPI series: the spike is flagged, nothing else; state survives a restart."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from detectors.anomaly import SeasonalNoveltyScorer
from monitor.anomaly import AnomalyWatch
from monitor.kpi_config import AnomalySelector
from monitor.series import Bucket
from monitor.settings import Settings
from support import ServerProcess, ServerThread, free_port, scrape, wait_caught_up

N, SPIKE = 300, 250
T0 = (int(time.time()) // 86400 - 2) * 86400.0  # two days ago, midnight UTC: well within retention
STARTS = T0 + 60.0 * np.arange(N)


def revenue() -> np.ndarray:
    values = np.random.default_rng(7).normal(1000.0, 20.0, N)
    values[SPIKE] = 1400.0
    return values


def send(url: str, rows: range) -> None:
    values = revenue()
    points = [
        metrics_pb2.NumberDataPoint(
            time_unix_nano=int((STARTS[i] + 30) * 1e9),
            as_double=float(values[i]),
            attributes=[common_pb2.KeyValue(key="shop", value=common_pb2.AnyValue(string_value="main"))],
        )
        for i in rows
    ]
    metric = metrics_pb2.Metric(name="shop.revenue", gauge=metrics_pb2.Gauge(data_points=points))
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])])]
    )
    response = httpx.post(
        f"{url}/v1/metrics", content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text


def anomaly_points(url: str, name: str, expected: int) -> list[dict[str, Any]]:
    """Poll until ``expected`` scored buckets of the revenue KPI are visible."""
    params = {"name": name, "label": ["series:driftline.kpi", "kpi:revenue"], "start": T0 - 60, "end": T0 + 60 * N}
    deadline = time.monotonic() + 60
    points: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/api/v1/series", params=params).json()["series"]
        points = found[0]["points"] if found else []
        if len(points) >= expected:
            assert [s["labels"] for s in found] == [{"kpi": "revenue", "series": "driftline.kpi"}]
            return points
        time.sleep(0.1)
    raise AssertionError(f"{len(points)} of {expected} buckets scored")


def settings(db_url: str, **extra: Any) -> Settings:
    return Settings(
        db_url=db_url,
        port=free_port(),
        allowed_lateness_seconds=0,
        kpis=[{"name": "revenue", "metric": "shop.revenue"}],
        **extra,
    )


def test_spike_in_a_kpi_is_flagged_and_nothing_else(sqlite_url: str) -> None:
    with ServerThread(settings(sqlite_url)) as server:
        send(server.url, range(N))
        wait_caught_up(server.url)
        flags = anomaly_points(server.url, "driftline.anomaly.detected", N)
        assert [p["t"] for p in flags if p["last"] == 1.0] == [STARTS[SPIKE]]
        scores = anomaly_points(server.url, "driftline.anomaly.score", N)
        expected = SeasonalNoveltyScorer().score_many(revenue(), timestamps=STARTS)
        assert [p["last"] for p in scores] == pytest.approx(expected.tolist(), abs=1e-12)

        metrics = scrape(server.url)
        labels = 'labels="kpi=revenue",series="driftline.kpi"'
        # The newest closed bucket is the last one, an ordinary value.
        assert metrics[f"driftline_anomaly_score{{{labels}}}"] == pytest.approx(expected[-1], abs=1e-12)
        assert metrics[f"driftline_anomaly_detected{{{labels}}}"] == 0.0


def test_anomaly_state_is_checkpointed_and_restored(db_url: str) -> None:
    config = settings(db_url)
    with ServerThread(config) as server:
        send(server.url, range(200))
        wait_caught_up(server.url)
        anomaly_points(server.url, "driftline.anomaly.score", 200)
    with ServerThread(config) as server:  # the scorer continues from its checkpointed state
        send(server.url, range(200, N))
        wait_caught_up(server.url)
        scores = anomaly_points(server.url, "driftline.anomaly.score", N)
        flags = anomaly_points(server.url, "driftline.anomaly.detected", N)
    expected = SeasonalNoveltyScorer().score_many(revenue(), timestamps=STARTS)
    assert [p["last"] for p in scores] == pytest.approx(expected.tolist(), abs=1e-12)
    assert [p["count"] for p in scores] == [1] * N  # no bucket scored twice across the restart
    assert [p["t"] for p in flags if p["last"] == 1.0] == [STARTS[SPIKE]]


def test_series_not_marked_are_not_scored_and_the_cap_is_counted(sqlite_url: str) -> None:
    config = settings(sqlite_url, anomaly_series=[{"name": "driftline.kpi", "labels": {"kpi": "other"}}])
    with ServerThread(config) as server:
        send(server.url, range(20))
        wait_caught_up(server.url)
        body = httpx.get(f"{server.url}/api/v1/series", params={"name": "driftline.anomaly.score", "start": 0}).json()
        assert body["series"] == []
    capped = settings(sqlite_url, anomaly_max_series=0)
    with ServerThread(capped) as server:
        send(server.url, range(20, 40))
        wait_caught_up(server.url)
        deadline = time.monotonic() + 30
        while scrape(server.url)["driftline_anomaly_skipped_buckets_total{}"] < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scrape(server.url)["driftline_anomaly_skipped_buckets_total{}"] == 20


def test_scores_are_exact_after_a_kill_9(sqlite_url: str) -> None:
    env = {"DRIFTLINE_KPIS": '[{"name": "revenue", "metric": "shop.revenue"}]', "DRIFTLINE_ALLOWED_LATENESS_SECONDS": "0"}
    server = ServerProcess(sqlite_url, free_port(), env)
    chunks = [range(i, i + 50) for i in range(0, N, 50)]
    server.start()
    try:
        for chunk in chunks[:3]:
            send(server.url, chunk)
        server.kill()  # whatever was not checkpointed yet is replayed from the ingest log
        server.start()
        for chunk in chunks:  # the sender retries everything; acknowledged requests are not stored twice
            send(server.url, chunk)
        wait_caught_up(server.url)
        scores = anomaly_points(server.url, "driftline.anomaly.score", N)
        flags = anomaly_points(server.url, "driftline.anomaly.detected", N)
    finally:
        server.stop()
    expected = SeasonalNoveltyScorer().score_many(revenue(), timestamps=STARTS)
    assert [p["count"] for p in scores] == [1] * N
    assert [p["last"] for p in scores] == pytest.approx(expected.tolist(), abs=1e-12)
    assert [p["t"] for p in flags if p["last"] == 1.0] == [STARTS[SPIKE]]


def test_restore_keeps_only_series_still_marked() -> None:
    both = [AnomalySelector(name="driftline.kpi"), AnomalySelector(name="hw.gpu.utilization")]
    watch = AnomalyWatch(both)
    closed = [Bucket(name, "{}", 60, 0.0, 1, 1.0, 1.0, 1.0, 1.0, 0.0) for name in ("driftline.kpi", "hw.gpu.utilization")]
    watch.observe(closed)
    rows = watch.changed_rows()
    assert len(rows) == 2
    narrowed = AnomalyWatch([AnomalySelector(name="hw.gpu.utilization")])
    narrowed.restore(rows.items())
    assert [r.series for r in narrowed.readings()] == ["hw.gpu.utilization"]
    capped = AnomalyWatch(both, max_series=1)
    capped.restore(rows.items())
    assert len(capped.readings()) == 1
