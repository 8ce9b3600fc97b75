"""GPU telemetry from the real OpenTelemetry metrics SDK reaches /metrics as driftline_gpu_*."""

from __future__ import annotations

import httpx
import pytest

from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up

GPU = {"hw.id": "GPU-1f2e3d4c", "hw.name": "0", "hw.type": "gpu", "hw.model": "NVIDIA H100 80GB HBM3"}


@pytest.fixture
def server(sqlite_url: str):  # type: ignore[no-untyped-def]
    with ServerThread(Settings(db_url=sqlite_url, port=0)) as running:
        yield running


def export_gpu_metrics(url: str) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    def gauge(value: float, **extra: str):  # type: ignore[no-untyped-def]
        def callback(_options: CallbackOptions) -> list[Observation]:
            return [Observation(value, {**GPU, **extra})]

        return callback

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"host.name": "gpu-node-1"}), metric_readers=[reader])
    meter = provider.get_meter("gpu-agent")
    meter.create_observable_gauge("hw.gpu.utilization", [gauge(0.73)], unit="1")
    meter.create_observable_up_down_counter("hw.gpu.memory.usage", [gauge(42.5 * 2**30)], unit="By")
    meter.create_observable_gauge("hw.power", [gauge(312.0)], unit="W")
    meter.create_observable_gauge("hw.temperature", [gauge(61.0)], unit="Cel")
    meter.create_observable_counter("hw.energy", [gauge(1.5e6)], unit="J")
    provider.shutdown()  # collects and exports once, synchronously


def test_otel_sdk_gpu_metrics_are_exposed_with_units_and_labels(server: ServerThread) -> None:
    export_gpu_metrics(server.url)
    wait_caught_up(server.url)
    metrics = scrape(server.url)
    labels = 'gpu="0",host="gpu-node-1",model_name="NVIDIA H100 80GB HBM3",uuid="GPU-1f2e3d4c"'
    assert metrics[f"driftline_gpu_utilization_ratio{{{labels}}}"] == pytest.approx(0.73)
    assert metrics[f"driftline_gpu_memory_used_bytes{{{labels}}}"] == 42.5 * 2**30
    assert metrics[f"driftline_gpu_power_watts{{{labels}}}"] == 312.0
    assert metrics[f"driftline_gpu_temperature_celsius{{{labels}}}"] == 61.0
    assert metrics[f"driftline_gpu_energy_joules_total{{{labels}}}"] == 1.5e6
    assert metrics['driftline_ingest_records_total{signal="metrics"}'] == 5


def test_gpu_values_survive_a_restart(sqlite_url: str) -> None:
    settings = Settings(db_url=sqlite_url, port=0)
    with ServerThread(settings) as server:
        export_gpu_metrics(server.url)
        wait_caught_up(server.url)
    with ServerThread(settings) as server:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'driftline_gpu_power_watts{gpu="0",host="gpu-node-1"' in text


def test_stale_gpu_values_are_not_exposed(sqlite_url: str) -> None:
    with ServerThread(Settings(db_url=sqlite_url, port=0, gpu_stale_seconds=1e-6)) as server:
        export_gpu_metrics(server.url)
        wait_caught_up(server.url)
        assert not any(name.startswith("driftline_gpu_") for name in scrape(server.url))
