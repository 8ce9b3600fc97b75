"""Helpers shared by the test suite: OTLP request builders and real servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from monitor.api import create_app
from monitor.settings import Settings

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(path: Path | str, what: str) -> None:
    """Skip locally when a real component is missing; under CI its absence is a failure."""
    found = Path(path).exists() if os.sep in str(path) else shutil.which(str(path)) is not None
    if not found:
        message = f"{what} not installed ({path}); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def require_path(path: Path, what: str) -> None:
    """Skip locally when data beside the repository is missing; under CI its absence is a failure."""
    if not path.exists():
        message = f"{what} not found at {path} (CI lays shared/ beside the repository)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    return common_pb2.AnyValue(string_value=str(value))


def log_record(attributes: Mapping[str, Any], *, event: str = "ml.inference", time_ns: int | None = None) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        time_unix_nano=time.time_ns() if time_ns is None else time_ns,
        event_name=event,
        attributes=[common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items() if v is not None],
    )


def logs_request(records: Iterable[logs_pb2.LogRecord]) -> logs_service_pb2.ExportLogsServiceRequest:
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=list(records))])]
    )


def inference(model: str, version: str, pid: str, features: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"ml.model.name": model, "ml.model.version": version, "ml.prediction.id": pid}
    attributes.update({f"ml.feature.{name}": value for name, value in features.items()})
    attributes.update(extra)
    return attributes


class ServerThread:
    """A real uvicorn server for ``create_app(settings)`` on a loopback port, in this process."""

    def __init__(self, settings: Settings) -> None:
        self.port = settings.port if settings.port else free_port()
        self.settings = settings.model_copy(update={"port": self.port})
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


class ServerProcess:
    """``driftline serve`` as a child process, so tests can SIGKILL it."""

    def __init__(self, db_url: str, port: int, env: Mapping[str, str] | None = None) -> None:
        self.db_url = db_url
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "serve", "--port", str(self.port), "--db", self.db_url, "--log-level", "warning"],
            env=self.env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy in 60 s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_caught_up(url: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll /readyz until the pipeline has applied everything in the ingest log."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/readyz", timeout=5).json()
        if body.get("lag") == 0:
            return body
        time.sleep(0.05)
    raise AssertionError(f"pipeline did not catch up: {body}")


def scrape(url: str) -> dict[str, float]:
    """``/metrics`` as {'name{labels}': value} using the official text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout:g} s")


GaugePoint = tuple[Mapping[str, Any], float, float]  # (attributes, unix seconds, value)


def export_gauges(url: str, metrics: Mapping[str, Iterable[GaugePoint]], *, resource: Mapping[str, Any] | None = None) -> None:
    """Gauge points with explicit timestamps, by metric name, through the SDK's OTLPMetricExporter."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import (
        Gauge,
        Metric,
        MetricExportResult,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    families = [
        Metric(
            name=name,
            description="",
            unit="1",
            data=Gauge(
                data_points=[
                    NumberDataPoint(attributes=dict(a), start_time_unix_nano=0, time_unix_nano=int(t * 1e9), value=float(v))
                    for a, t, v in points
                ]
            ),
        )
        for name, points in metrics.items()
    ]
    scope = ScopeMetrics(scope=InstrumentationScope("test"), metrics=families, schema_url="")
    data = MetricsData([ResourceMetrics(resource=Resource(dict(resource or {})), scope_metrics=[scope], schema_url="")])
    exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics")
    try:
        assert exporter.export(data) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()
