"""OTLP metrics ingest (``POST /v1/metrics``): durable metric points/s on one core, vs the OTLP logs path.

A fresh ``driftline serve`` (SQLite in a temporary directory) is pinned to one core with
``taskset``; client threads on the other core(s) POST distinct protobuf
``ExportMetricsServiceRequest`` bodies over keep-alive connections for a fixed time after a
warm-up (the same harness as :mod:`bench.columnar`). Each request carries what a GPU fleet's
exporter sends: ``GPUS`` GPUs on one host, each with the ``hw.*`` gauges and counters of the
OpenTelemetry hardware conventions (``hw.id``, ``hw.name``, ``hw.type``, ``hw.model`` on every
point, ``hw.gpu.task`` on utilisation), ``SAMPLES`` timestamps each. Only 200 answers count,
and a 200 means the batch is committed to the ingest log. Bodies are made distinct by patching
a fixed-width sequence number into the instrumentation scope's version (the server deduplicates
retries by body digest; the scope is not part of a point's labels, so the series stay the same
200 from request to request, as with a real exporter). The OTLP logs path (512 ``ml.inference``
records a request, 20 features) is measured the same way for the ratio.

The target (>= 100,000 points/s) is printed as met or not met, never asserted. Beside the
server's CPU utilisation the table shows records per server CPU-second: on a busy machine the
pinned core is shared, and that figure says what the code does with the CPU it got.
"""

from __future__ import annotations

import itertools
import time

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bench._harness import Options, Report, sig, table
from bench._workload import BodyFactory
from bench.columnar import measure

__all__ = ["run"]

TARGET_POINTS_PER_S = 100_000
GPUS = 25
SAMPLES = 10  # timestamps per metric and GPU in one request
OTLP_RECORDS_PER_REQUEST = 512
_MARK = "SEQ#00000000"  # fixed-width placeholder in the scope version
#: (metric name, kind, value of GPU i at sample j, extra point attributes)
_METRICS: list[tuple[str, str, float, dict[str, str]]] = [
    ("hw.gpu.utilization", "gauge", 0.5, {"hw.gpu.task": "general"}),
    ("hw.gpu.memory.utilization", "gauge", 0.3, {}),
    ("hw.gpu.memory.usage", "sum", 40e9, {}),
    ("hw.gpu.memory.limit", "sum", 80e9, {}),
    ("hw.power", "gauge", 300.0, {}),
    ("hw.energy", "sum", 1e6, {}),
    ("hw.temperature", "gauge", 60.0, {}),
    ("hw.errors", "sum", 0.0, {"error.type": "corrected"}),
]
POINTS_PER_REQUEST = GPUS * SAMPLES * len(_METRICS)


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def metrics_template() -> bytes:
    """One serialized request of ``POINTS_PER_REQUEST`` GPU points, with the sequence placeholder."""
    now_ns = time.time_ns()
    metrics = []
    for name, kind, base, extra in _METRICS:
        points = [
            metrics_pb2.NumberDataPoint(
                time_unix_nano=now_ns - (SAMPLES - 1 - j) * 1_000_000_000,
                as_double=base * (1.0 + 0.01 * ((gpu + j) % 7)) if base else 0.0,
                attributes=[
                    _kv("hw.id", f"GPU-{gpu:08x}-0000-0000-0000-000000000000"),
                    _kv("hw.name", str(gpu)),
                    _kv("hw.type", "gpu"),
                    _kv("hw.model", "NVIDIA H100 80GB HBM3"),
                    *(_kv(k, v) for k, v in extra.items()),
                ],
            )
            for gpu in range(GPUS)
            for j in range(SAMPLES)
        ]
        if kind == "gauge":
            metrics.append(metrics_pb2.Metric(name=name, gauge=metrics_pb2.Gauge(data_points=points)))
        else:
            cumulative = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            total = metrics_pb2.Sum(
                data_points=points, aggregation_temporality=cumulative, is_monotonic=name != "hw.gpu.memory.usage"
            )
            metrics.append(metrics_pb2.Metric(name=name, sum=total))
    resource = resource_pb2.Resource(attributes=[_kv("host.name", "gpu-node-01.internal"), _kv("service.name", "gpu-exporter")])
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource,
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(scope=common_pb2.InstrumentationScope(name="gpu", version=_MARK), metrics=metrics)
                ],
            )
        ]
    )
    return request.SerializeToString()


def run(options: Options) -> Report:
    warmup_s, duration_s = (1.0, 4.0) if options.quick else (3.0, 15.0)
    sequence = itertools.count(1)
    template = metrics_template()
    mark = _MARK.encode()

    def metrics_body() -> bytes:
        return template.replace(mark, f"SEQ#{next(sequence):08d}".encode())

    factory = BodyFactory(records=OTLP_RECORDS_PER_REQUEST, templates=2, seed=0)
    protobuf = {"Content-Type": "application/x-protobuf"}
    rows = [
        measure("metrics", "/v1/metrics", protobuf, metrics_body, POINTS_PER_REQUEST, warmup_s, duration_s),
        measure(
            "logs", "/v1/logs", protobuf, lambda: factory.make(next(sequence)), OTLP_RECORDS_PER_REQUEST, warmup_s, duration_s
        ),
    ]
    logs_rate = rows[1]["events_per_s"] or 0.0
    for row in rows:
        row["ratio_to_otlp_logs"] = sig(row["events_per_s"] / logs_rate) if logs_rate else None
        # On a shared machine the pinned core is not all the server's: the rate per CPU-second
        # it did get says what the code does per core (the target is judged on records/s).
        cpu = row["server_cpu_utilisation"] or 0.0
        row["records_per_server_cpu_s"] = sig(row["events_per_s"] / cpu) if cpu else None
    metrics_row = rows[0]
    metrics_row["target_points_per_s"] = TARGET_POINTS_PER_S
    metrics_row["target_met"] = bool((metrics_row["events_per_s"] or 0) >= TARGET_POINTS_PER_S)
    text = table(
        ["path", "records/request", "records/s", "x OTLP logs", "target", "met", "server CPU", "per CPU-s", "non-200"],
        [
            [
                r["flavour"],
                r["events_per_request"],
                r["events_per_s"],
                r["ratio_to_otlp_logs"],
                r.get("target_points_per_s") or "-",
                {None: "-", True: "yes", False: "NO"}[r.get("target_met")],
                r["server_cpu_utilisation"],
                r["records_per_server_cpu_s"],
                r["other_statuses"] or "-",
            ]
            for r in rows
        ],
        title="OTLP/HTTP protobuf, durably acknowledged, server on one core: metric points (GPU gauges) vs log records",
    )
    config = {
        "points_per_request": POINTS_PER_REQUEST,
        "gpus": GPUS,
        "samples_per_metric": SAMPLES,
        "metrics": [name for name, *_ in _METRICS],
        "otlp_records_per_request": OTLP_RECORDS_PER_REQUEST,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "target_points_per_s": TARGET_POINTS_PER_S,
    }
    return Report(config=config, results={r["flavour"]: r for r in rows}, text=text)
