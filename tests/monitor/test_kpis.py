"""KPIs from the real OpenTelemetry metrics SDK: gauges as values, counters as rates, histograms as mean and quantiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from pydantic import ValidationError

from monitor.cli import main
from monitor.settings import Settings
from support import ServerThread, free_port, scrape, wait_caught_up

KPIS = [
    {"name": "basket_value", "metric": "shop.basket.value"},
    {"name": "orders_eu", "metric": "shop.orders", "attributes": {"region": "eu"}},
    {"name": "checkout_latency", "metric": "shop.checkout.duration", "quantiles": [0.5, 0.9]},
]


class RecordingExporter(OTLPMetricExporter):
    """The real OTLP/HTTP exporter, keeping what it sent so the test knows the SDK's timestamps."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.sent.append(metrics_data)
        return super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)


def data_points(exporter: RecordingExporter, name: str) -> list[Any]:
    return [
        point
        for data in exporter.sent
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def seconds(unix_nano: int) -> float:
    """A timestamp as Driftline keeps it: float Unix seconds."""
    return unix_nano / 1e9


def series(url: str, kpi: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/series", params={"name": "driftline.kpi", "label": f"kpi:{kpi}", "start": 0})
    response.raise_for_status()
    found = response.json()["series"]
    assert len(found) == 1, found
    assert found[0]["labels"] == {"kpi": kpi}
    return list(found[0]["points"])


def export_shop_metrics(url: str) -> RecordingExporter:
    gauge_values = iter([0.031, 0.042])

    def basket(_options: CallbackOptions) -> list[Observation]:
        return [Observation(next(gauge_values), {"shop": "main"})]

    exporter = RecordingExporter(endpoint=f"{url}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "shop"}), metric_readers=[reader])
    meter = provider.get_meter("shop")
    meter.create_observable_gauge("shop.basket.value", [basket])
    orders = meter.create_counter("shop.orders")
    latency = meter.create_histogram("shop.checkout.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 0.2, 0.5, 1.0])
    orders.add(100, {"region": "eu"})
    orders.add(7, {"region": "us"})
    for _ in range(5):
        latency.record(0.9)
    reader.force_flush()
    orders.add(300, {"region": "eu"})
    orders.add(1000, {"region": "us"})
    for value in [0.15] * 10 + [0.3] * 10:
        latency.record(value)
    provider.shutdown()  # the second collection and export
    return exporter


@pytest.fixture
def server(sqlite_url: str):  # type: ignore[no-untyped-def]
    with ServerThread(Settings(db_url=sqlite_url, port=0, kpis=KPIS)) as running:
        yield running


def test_otel_sdk_gauge_counter_and_histogram_become_kpis(server: ServerThread) -> None:
    exporter = export_shop_metrics(server.url)
    wait_caught_up(server.url)

    # Gauge: the value itself.
    assert series(server.url, "basket_value")[-1]["last"] == pytest.approx(0.042)

    # Counter (cumulative): increase between the two exports over the time between them, eu only.
    eu = [p for p in data_points(exporter, "shop.orders") if p.attributes["region"] == "eu"]
    assert [p.value for p in eu] == [100, 400]
    rate = 300 / (seconds(eu[1].time_unix_nano) - seconds(eu[0].time_unix_nano))
    points = series(server.url, "orders_eu")
    assert sum(p["count"] for p in points) == 1  # the first point of a counter gives no rate
    assert points[-1]["last"] == pytest.approx(rate, rel=1e-9)

    # Histogram (cumulative): the second interval only: 10 x 0.15 and 10 x 0.3.
    assert series(server.url, "checkout_latency")[-1]["last"] == pytest.approx(0.225)
    # p50: rank 10 ends bucket (0.1, 0.2]; p90: rank 18 is 8/10 into (0.2, 0.5].
    assert series(server.url, "checkout_latency.p50")[-1]["last"] == pytest.approx(0.2)
    assert series(server.url, "checkout_latency.p90")[-1]["last"] == pytest.approx(0.44)

    metrics = scrape(server.url)
    assert metrics['driftline_kpi_value{kpi="basket_value"}'] == pytest.approx(0.042)
    assert metrics['driftline_kpi_value{kpi="orders_eu"}'] == pytest.approx(rate, rel=1e-9)
    assert metrics['driftline_kpi_value{kpi="checkout_latency.p90"}'] == pytest.approx(0.44)
    assert not any("us" in name for name in metrics if name.startswith("driftline_kpi_value"))


def test_delta_counter_is_value_over_its_interval(sqlite_url: str) -> None:
    from opentelemetry.sdk.metrics import Counter
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    settings = Settings(db_url=sqlite_url, port=0, kpis=[{"name": "signups", "metric": "shop.signups"}])
    with ServerThread(settings) as server:
        exporter = RecordingExporter(
            endpoint=f"{server.url}/v1/metrics", preferred_temporality={Counter: AggregationTemporality.DELTA}
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(metric_readers=[reader])
        provider.get_meter("shop").create_counter("shop.signups").add(12)
        provider.shutdown()
        wait_caught_up(server.url)
        (point,) = data_points(exporter, "shop.signups")
        expected = 12 / (seconds(point.time_unix_nano) - seconds(point.start_time_unix_nano))
        assert series(server.url, "signups")[-1]["last"] == pytest.approx(expected, rel=1e-9)


def test_kpi_rates_continue_across_a_restart(sqlite_url: str) -> None:
    settings = Settings(db_url=sqlite_url, port=free_port(), kpis=KPIS)
    exporter = RecordingExporter(endpoint=f"http://127.0.0.1:{settings.port}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    orders = provider.get_meter("shop").create_counter("shop.orders")
    with ServerThread(settings) as server:
        orders.add(50, {"region": "eu"})
        reader.force_flush()
        wait_caught_up(server.url)
    with ServerThread(settings) as server:  # the counter's previous point comes back from the checkpoint
        orders.add(25, {"region": "eu"})
        provider.shutdown()
        wait_caught_up(server.url)
        first, second = data_points(exporter, "shop.orders")
        expected = 25 / (seconds(second.time_unix_nano) - seconds(first.time_unix_nano))
        assert scrape(server.url)['driftline_kpi_value{kpi="orders_eu"}'] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("kpis", "message"),
    [
        ([{"name": "a", "metric": "m", "quantiles": [0.5, 1.0]}], "kpis.0.quantiles"),
        ([{"name": "a"}], "exactly one of 'metric'"),
        ([{"name": "a", "metric": "m"}, {"name": "a", "metric": "n"}], "kpis[1].name 'a' is used by an earlier KPI"),
        ([{"name": "a", "query": "up"}], "kpi_prometheus_url must be set"),
        ([{"name": "a b", "metric": "m"}], "kpis.0.name"),
        ([{"name": "a", "metrc": "m"}], "kpis.0.metrc"),
    ],
)
def test_invalid_kpi_entries_fail_start_up_naming_entry_and_rule(kpis: Sequence[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace(".", r"\.")):
        Settings(kpis=kpis)


def test_serve_refuses_an_invalid_kpi_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text("kpis:\n  - name: conversion\n    metric: shop.conversion\n    quantiles: [0.5, 95]\n")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "invalid settings" in err
    assert "kpis.0.quantiles" in err
    assert "quantile 95.0 must be strictly between 0 and 1" in err
