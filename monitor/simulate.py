"""Send a scenario's telemetry to a Driftline server, in accelerated then real time.

The simulator plays :mod:`monitor.scenario` against a running server the way a real
deployment would reach it:

- predictions and late labels as ``ml.inference`` / ``ml.label`` events through the
  real OpenTelemetry SDK (``OTLPLogExporter``, gzip), stamped with simulated time;
- GPU telemetry and business KPIs as OTLP/HTTP metrics (``hw.*`` conventions and the
  scenario's KPI names). These requests are built directly from the OTLP protobuf
  messages because the SDK's metric readers stamp points with the wall clock, and a
  backfill needs simulated timestamps;
- optionally, a DCGM-exporter-style text endpoint for a third GPU host (a shared
  batch-scoring host), for the server's DCGM scraper.

Simulated time starts ``history`` seconds in the past and runs ``speed`` times faster
than the wall clock until it catches up with now; from then on it runs in real time.
So the demo shows hours of history within a minute or two and then stays live, and
every timestamp is a real one that windows, rollups and dashboards treat as such.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from monitor.scenario import BATCH_HOST, CreditRisk, GpuPoint, KpiPoint, LabelEvents, Predictions, sample_applicants

__all__ = ["SCENARIOS", "Scenario", "SimulationReport", "dcgm_text", "metrics_request", "reference_csv", "run_simulation"]

log = logging.getLogger(__name__)
GPU_MODEL = "NVIDIA H100 80GB HBM3"
_MIB = 1024.0 * 1024.0


@dataclass(frozen=True, slots=True)
class Scenario:
    model: str
    versions: tuple[str, ...]
    drifted_version: str


SCENARIOS = {"credit-risk": Scenario(model="credit-risk", versions=("v1", "v2"), drifted_version="v2")}


@dataclass(slots=True)
class SimulationReport:
    """What was sent (and when the simulated incident began)."""

    predictions: int = 0
    labels: int = 0
    metric_points: int = 0
    incident_at: float = 0.0
    simulated_until: float = 0.0
    sent_by_version: dict[str, int] = field(default_factory=dict)


def reference_csv(seed: int = 7, rows: int = 5000) -> bytes:
    """A training sample of the credit-risk model as CSV.

    >>> reference_csv(rows=2).decode().splitlines()[0].split(",")[:3]
    ['income', 'age', 'debt_ratio']
    """
    rng = np.random.default_rng(seed)
    features = sample_applicants(rng, rows, drifted=False)
    out = io.StringIO()
    names = list(features)
    out.write(",".join(names) + "\n")
    for i in range(rows):
        out.write(",".join(f"{features[n][i]:.6g}" if features[n].dtype != object else str(features[n][i]) for n in names) + "\n")
    return out.getvalue().encode()


# -- OTLP metric requests ------------------------------------------------------------------------
def _attributes(values: Mapping[str, str]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in values.items()]


def _gauge(name: str, unit: str, points: Iterable[tuple[float, float, Mapping[str, str]]]) -> metrics_pb2.Metric:
    return metrics_pb2.Metric(
        name=name,
        unit=unit,
        gauge=metrics_pb2.Gauge(
            data_points=[
                metrics_pb2.NumberDataPoint(time_unix_nano=int(t * 1e9), as_double=v, attributes=_attributes(a))
                for t, v, a in points
            ]
        ),
    )


def metrics_request(
    gpus: Iterable[GpuPoint], kpis: Iterable[KpiPoint], *, service: str = "credit-risk-server"
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """One OTLP metrics request: a resource per GPU host (``hw.*`` gauges) plus one for the KPIs.

    >>> from monitor.scenario import KpiPoint
    >>> request = metrics_request([], [KpiPoint("credit.approval_rate", "1", 60.0, 0.7)])
    >>> metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
    >>> metric.name, metric.gauge.data_points[0].as_double
    ('credit.approval_rate', 0.7)
    """
    by_host: dict[str, list[GpuPoint]] = {}
    for point in gpus:
        by_host.setdefault(point.host, []).append(point)
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    for host, points in by_host.items():
        identity = [{"hw.id": p.uuid, "hw.name": p.index, "hw.model": GPU_MODEL} for p in points]
        typed = [{**i, "hw.type": "gpu"} for i in identity]
        metrics = [
            _gauge("hw.gpu.utilization", "1", [(p.timestamp, p.utilization, i) for p, i in zip(points, identity, strict=True)]),
            _gauge(
                "hw.gpu.memory.usage",
                "By",
                [(p.timestamp, p.memory_used_bytes, i) for p, i in zip(points, identity, strict=True)],
            ),
            _gauge(
                "hw.gpu.memory.limit",
                "By",
                [(p.timestamp, p.memory_limit_bytes, i) for p, i in zip(points, identity, strict=True)],
            ),
            _gauge("hw.power", "W", [(p.timestamp, p.power_watts, i) for p, i in zip(points, typed, strict=True)]),
            _gauge(
                "hw.temperature", "Cel", [(p.timestamp, p.temperature_celsius, i) for p, i in zip(points, typed, strict=True)]
            ),
        ]
        resource = resource_pb2.Resource(attributes=_attributes({"host.name": host, "service.name": service}))
        request.resource_metrics.append(
            metrics_pb2.ResourceMetrics(resource=resource, scope_metrics=[metrics_pb2.ScopeMetrics(metrics=metrics)])
        )
    kpi_metrics: dict[tuple[str, str], list[tuple[float, float, Mapping[str, str]]]] = {}
    for kpi in kpis:
        kpi_metrics.setdefault((kpi.name, kpi.unit), []).append((kpi.timestamp, kpi.value, {}))
    if kpi_metrics:
        metrics = [_gauge(name, unit, points) for (name, unit), points in kpi_metrics.items()]
        resource = resource_pb2.Resource(attributes=_attributes({"service.name": "credit-business-metrics"}))
        request.resource_metrics.append(
            metrics_pb2.ResourceMetrics(resource=resource, scope_metrics=[metrics_pb2.ScopeMetrics(metrics=metrics)])
        )
    return request


def dcgm_text(points: Iterable[GpuPoint]) -> str:
    """Render GPU readings as NVIDIA dcgm-exporter would (percent, MiB, W, °C).

    >>> from monitor.scenario import GpuPoint
    >>> text = dcgm_text([GpuPoint("h", "GPU-1", "0", 0.0, 0.5, 2 * 1024**3, 8 * 1024**3, 300.0, 60.0)])
    >>> [line.split("{")[0] + " " + line.split()[-1] for line in text.splitlines() if not line.startswith("#")][:2]
    ['DCGM_FI_DEV_GPU_UTIL 50', 'DCGM_FI_DEV_FB_USED 2048']
    """
    fields: tuple[tuple[str, str, Callable[[GpuPoint], float]], ...] = (
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", lambda p: round(100.0 * p.utilization)),
        ("DCGM_FI_DEV_FB_USED", "gauge", lambda p: round(p.memory_used_bytes / _MIB)),
        ("DCGM_FI_DEV_FB_FREE", "gauge", lambda p: round((p.memory_limit_bytes - p.memory_used_bytes) / _MIB)),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", lambda p: round(p.power_watts, 3)),
        ("DCGM_FI_DEV_GPU_TEMP", "gauge", lambda p: round(p.temperature_celsius)),
    )
    points = list(points)
    lines: list[str] = []
    for name, kind, value in fields:
        lines += [f"# HELP {name} {name}.", f"# TYPE {name} {kind}"]
        for p in points:
            labels = f'gpu="{p.index}",UUID="{p.uuid}",device="nvidia{p.index}",modelName="{GPU_MODEL}",Hostname="{p.host}"'
            lines.append(f"{name}{{{labels}}} {value(p)}")
    return "\n".join(lines) + "\n"


class _DcgmTarget:
    """A loopback HTTP endpoint serving the latest readings of one host in DCGM text."""

    def __init__(self, port: int) -> None:
        self.text = ""
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = target.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="dcgm-target", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- sending ---------------------------------------------------------------------------------------
class _Sender:
    def __init__(self, api: str, headers: Mapping[str, str], service: str) -> None:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        self.api = api
        self.headers = dict(headers)
        self.provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPLogExporter(endpoint=f"{api}/v1/logs", compression=Compression.Gzip, headers=self.headers)
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(exporter, schedule_delay_millis=200, max_queue_size=65_536, max_export_batch_size=2048)
        )
        self.logger = self.provider.get_logger("driftline.simulate")
        self.http = httpx.Client(timeout=30)

    def predictions(self, model: str, version: str, batch: Predictions) -> None:
        names = list(batch.features)
        columns = [batch.features[n].tolist() for n in names]
        keys = [f"ml.feature.{n}" for n in names]
        for i, (t, pid, decision, score, latency) in enumerate(
            zip(
                batch.timestamps.tolist(),
                batch.prediction_ids.tolist(),
                batch.decisions.tolist(),
                batch.scores.tolist(),
                batch.latencies.tolist(),
                strict=True,
            )
        ):
            attributes: dict[str, str | float] = {
                "ml.model.name": model,
                "ml.model.version": version,
                "ml.prediction.id": pid,
                "ml.prediction": decision,
                "ml.prediction.score": score,
                "ml.latency": latency,
            }
            for key, column in zip(keys, columns, strict=True):
                attributes[key] = column[i]
            self.logger.emit(event_name="ml.inference", timestamp=int(t * 1e9), attributes=attributes)

    def labels(self, batch: LabelEvents) -> None:
        for t, pid, label in zip(batch.timestamps.tolist(), batch.prediction_ids.tolist(), batch.labels.tolist(), strict=True):
            self.logger.emit(
                event_name="ml.label", timestamp=int(t * 1e9), attributes={"ml.prediction.id": pid, "ml.label": label}
            )

    def metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        """POST with retries on back-pressure, as an OTLP exporter would."""
        body = request.SerializeToString()
        for attempt in range(8):
            try:
                response = self.http.post(
                    f"{self.api}/v1/metrics",
                    content=body,
                    headers={**self.headers, "Content-Type": "application/x-protobuf"},
                )
            except httpx.TransportError as error:
                log.warning("metrics export failed (%s); retrying", type(error).__name__)
            else:
                if response.status_code == 200:
                    return
                if response.status_code not in (429, 502, 503, 504):
                    response.raise_for_status()
            time.sleep(min(8.0, 0.25 * 2**attempt))
        raise RuntimeError("metrics export: the server kept refusing the request")

    def flush(self) -> None:
        self.provider.force_flush()

    def close(self) -> None:
        self.provider.force_flush()
        self.provider.shutdown()
        self.http.close()


def run_simulation(
    api: str,
    *,
    scenario: str = "credit-risk",
    rate: float = 50.0,
    duration: float | None = 60.0,
    speed: float = 240.0,
    history: float = 8 * 3600.0,
    incident_after: float = 5 * 3600.0,
    seed: int = 1,
    token: str | None = None,
    dcgm_port: int | None = None,
    tick: float = 0.5,
    replay_step: float | None = None,
    on_progress: Callable[[SimulationReport], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SimulationReport:
    """Upload references, then play the scenario until ``duration`` wall seconds have passed.

    ``rate`` is predictions per wall-clock second (both versions together, before the
    daily traffic cycle); simulated time starts ``history`` seconds ago, runs ``speed``
    times faster than real time until it reaches now, then follows the clock. The
    canary's incident begins ``incident_after`` simulated seconds after the start.

    With ``replay_step`` (simulated seconds) the history is replayed without waiting, in
    fixed steps, and the simulation ends when it reaches now: the same seed then sends
    exactly the same telemetry, whatever the machine's speed (what tests need).
    """
    spec = SCENARIOS[scenario]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reference = reference_csv()
    for version in spec.versions:
        response = httpx.put(
            f"{api}/api/v1/models/{spec.model}/versions/{version}/reference",
            content=reference,
            headers={**headers, "Content-Type": "text/csv"},
            timeout=60,
        )
        response.raise_for_status()

    wall0 = clock()
    # History starts on the hour, so hour-multiple windows line up with the scheduled incident.
    start = float(np.floor((wall0 - history) / 3600.0) * 3600.0)
    world = CreditRisk(seed=seed, start=start, incident_at=start + incident_after)
    report = SimulationReport(incident_at=start + incident_after, simulated_until=start)
    sender = _Sender(api, headers, f"{spec.model}-server")
    dcgm = _DcgmTarget(dcgm_port) if dcgm_port is not None else None
    now_sim = start
    last_wall = wall0
    try:
        while duration is None or clock() - wall0 < duration:
            if replay_step is not None:
                if now_sim >= start + history:
                    break
                target = min(now_sim + replay_step, start + history)
                predictions = max(1, round(rate * (target - now_sim) / speed))
            else:
                sleep(tick)
                wall = clock()
                target = min(wall, start + speed * (wall - wall0))  # accelerated until caught up with now
                if target <= now_sim:
                    continue
                predictions = max(1, round(rate * (wall - last_wall)))
                last_wall = wall
            step = world.step(now_sim, target, predictions=predictions)
            now_sim = target
            for version, batch in step.predictions.items():
                sender.predictions(spec.model, version, batch)
                report.sent_by_version[version] = report.sent_by_version.get(version, 0) + len(batch)
                report.predictions += len(batch)
            sender.labels(step.labels)
            report.labels += len(step.labels)
            gpus = [g for g in step.gpus if g.host != BATCH_HOST]
            batch_host = [g for g in step.gpus if g.host == BATCH_HOST]
            if dcgm is not None and batch_host:
                newest = max(g.timestamp for g in batch_host)
                dcgm.text = dcgm_text([g for g in batch_host if g.timestamp == newest])
            request = metrics_request(gpus, step.kpis, service=f"{spec.model}-server")
            if request.resource_metrics:
                sender.metrics(request)
                report.metric_points += 5 * len(gpus) + len(step.kpis)
            report.simulated_until = now_sim
            if replay_step is not None:
                sender.flush()  # replaying outpaces the exporter: never let its queue overflow
            if on_progress is not None:
                on_progress(report)
    finally:
        sender.close()
        if dcgm is not None:
            dcgm.close()
    return report
