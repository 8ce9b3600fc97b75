"""GPU ↔ model linking by rules, the efficiency figures, and both through a real server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from collectors.gpu import GpuMetric, GpuSample
from monitor.gpu_efficiency import efficiency
from monitor.gpu_models import (
    GPU_IDLE_SECONDS,
    GPU_MEMORY_HEADROOM,
    GPU_SECONDS,
    GpuLinker,
    GpuLinks,
)
from monitor.model_series import LATENCY_QUANTILES, PREDICTIONS
from monitor.series import Bucket, SeriesRollup
from monitor.settings import Settings
from monitor.statecodec import pack, unpack
from monitor.store.tables import series_points
from support import ServerThread, inference, log_record, logs_request, scrape, wait_caught_up

RULES = [
    {"model": "credit-risk", "version": "v2", "match": {"pod": "credit-risk-v2-.*", "namespace": "serving"}},
    {"model": "fraud", "match": {"service": "fraud-(api|batch)"}},
    {"model": "ranker", "version": "v7", "match": {"host": "gpu-node-[0-9]+", "uuid": "GPU-77.*"}},
]


def sample(metric: GpuMetric, value: float, t: float = 0.0, **fields: str | None) -> GpuSample:
    identity = {"host": "gpu-node-1", "gpu": "0", "uuid": "GPU-aa", "model_name": "NVIDIA H100"} | fields
    return GpuSample(
        t,
        str(identity.pop("host")),
        str(identity.pop("gpu")),
        str(identity.pop("uuid")),
        str(identity.pop("model_name")),
        metric,
        value,
        **identity,  # type: ignore[arg-type]
    )


def linker(idle: float = 0.1, max_gap: float = 60.0) -> GpuLinker:
    return GpuLinker(Settings(gpu_models=RULES).gpu_models, idle_utilization=idle, max_gap=max_gap)


# -- rules -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"pod": "credit-risk-v2-7f9c", "namespace": "serving"}, ("credit-risk", "v2")),
        ({"pod": "credit-risk-v2-7f9c", "namespace": "staging"}, None),  # every given field must match
        ({"pod": "xcredit-risk-v2-7f9c", "namespace": "serving"}, None),  # full match, not search
        ({"pod": "credit-risk-v2-7f9c"}, None),  # a missing field never matches
        ({"service": "fraud-batch"}, ("fraud", "*")),  # no version: the model as a whole
        ({"service": "fraud-batchy"}, None),
        ({"host": "gpu-node-12", "uuid": "GPU-77ab"}, ("ranker", "v7")),
        ({"host": "gpu-node-x", "uuid": "GPU-77ab"}, None),
        ({"service": "fraud-api", "host": "gpu-node-3", "uuid": "GPU-77ab"}, ("fraud", "*")),  # first rule wins
        ({}, None),
    ],
)
def test_rules_match_fields_by_full_regex(fields: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert linker().link(sample(GpuMetric.UTILIZATION_RATIO, 0.5, **fields)) == expected


@pytest.mark.parametrize(
    ("rule", "location", "message"),
    [
        ({"model": "m", "match": {"pod": "credit-(v2"}}, ("gpu_models", 0, "match", "pod"), "not a valid regular expression"),
        ({"model": "m", "match": {}}, ("gpu_models", 0, "match"), "at least one of"),
        ({"model": "m", "match": {"rack": "r1"}}, ("gpu_models", 0, "match", "rack"), "Extra inputs are not permitted"),
        ({"model": "", "match": {"host": "h"}}, ("gpu_models", 0, "model"), "at least 1 character"),
    ],
)
def test_invalid_rules_fail_start_up_naming_rule_and_field(
    rule: dict[str, object], location: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(gpu_models=[rule])
    [error] = caught.value.errors()
    assert error["loc"] == location
    assert message in error["msg"]


def test_serve_refuses_to_start_with_an_invalid_rule(tmp_path: Path) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text(
        'gpu_models:\n  - {model: credit-risk, match: {host: "gpu-[0-9]+"}}\n  - {model: fraud, match: {pod: "fraud-("}}\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "serve", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'd.db'}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert result.returncode == 2
    assert "gpu_models.1.match.pod" in result.stderr
    assert "'fraud-(' is not a valid regular expression" in result.stderr


# -- efficiency on hand-computable telemetry ------------------------------------------------------------
def _closed(rollup: SeriesRollup, name: str) -> list[Bucket]:
    return [b for b in rollup.take_closed() if b.name == name]


def test_gpu_seconds_idle_time_and_headroom_by_hand() -> None:
    pod = {"pod": "credit-risk-v2-1", "namespace": "serving"}
    util = [(0.0, 0.9), (10.0, 0.02), (20.0, 0.5), (30.0, 0.01), (200.0, 0.0), (205.0, 0.3)]
    samples = [sample(GpuMetric.UTILIZATION_RATIO, v, t, **pod) for t, v in util]
    samples += [sample(GpuMetric.UTILIZATION_RATIO, 0.0, 15.0, pod="other")]  # not linked
    samples += [
        sample(GpuMetric.MEMORY_USED_BYTES, 60e9, 0.0, **pod),
        sample(GpuMetric.MEMORY_LIMIT_BYTES, 80e9, 0.0, **pod),  # same instant: limit is applied first
        sample(GpuMetric.MEMORY_USED_BYTES, 75e9, 20.0, **pod),
    ]
    links, rollup = GpuLinks(), SeriesRollup(resolution=60, lateness=0)
    linker(idle=0.05).observe(links, rollup, samples[::-1])  # order of arrival does not matter
    # dt: 10 (0.02 idle), 10 (0.5), 10 (0.01 idle); the 170 s gap is beyond max_gap; then 5 (0.3).
    assert links.totals == {("credit-risk", "v2"): [35.0, 20.0]}
    rollup.close_all()
    closed = rollup.take_closed()
    figures = efficiency(*([b for b in closed if b.name == n] for n in (GPU_SECONDS, GPU_IDLE_SECONDS, GPU_MEMORY_HEADROOM)))
    assert (figures.gpu_seconds, figures.idle_seconds, figures.idle_ratio) == (35.0, 20.0, 20.0 / 35.0)
    assert (figures.memory_headroom_min_bytes, figures.memory_headroom_mean_bytes) == (5e9, 12.5e9)
    assert figures.per_1k_predictions(7000) == 5.0
    assert {b.labels for b in closed} == {'{"gpu":"0","host":"gpu-node-1","model":"credit-risk","uuid":"GPU-aa","version":"v2"}'}


def test_reported_free_memory_is_the_headroom_and_state_round_trips() -> None:
    pod = {"pod": "credit-risk-v2-1", "namespace": "serving"}
    links, rollup = GpuLinks(), SeriesRollup(resolution=60, lateness=0)
    first = [sample(GpuMetric.MEMORY_USED_BYTES, 70e9, 0.0, **pod), sample(GpuMetric.MEMORY_FREE_BYTES, 9e9, 0.0, **pod)]
    linker().observe(links, rollup, first)
    links = GpuLinks.from_state(unpack(pack(links.state_dict())))
    later = [
        sample(GpuMetric.MEMORY_LIMIT_BYTES, 80e9, 5.0, **pod),  # a limit does not override what the GPU reports free
        sample(GpuMetric.MEMORY_USED_BYTES, 72e9, 5.0, **pod),
        sample(GpuMetric.MEMORY_FREE_BYTES, 7e9, 5.0, **pod),
    ]
    linker().observe(links, rollup, later)
    rollup.close_all()
    [bucket] = _closed(rollup, GPU_MEMORY_HEADROOM)
    assert (bucket.count, bucket.min, bucket.max) == (2, 7e9, 9e9)
    assert links.headroom[("credit-risk", "v2")][("gpu-node-1", "0", "GPU-aa")] == (5.0, 7e9)


def test_without_rules_nothing_is_linked() -> None:
    links, rollup = GpuLinks(), SeriesRollup(resolution=60, lateness=0)
    GpuLinker([], idle_utilization=0.1, max_gap=60).observe(links, rollup, [sample(GpuMetric.UTILIZATION_RATIO, 0.5)])
    assert links.linked == {}
    assert rollup.open == {}


# -- through a real server: OTel SDK GPU gauges, OTLP inference logs -------------------------------------
NODE = "gpu-node-1"
GPUS = {  # hw.id → (pod, utilisation, used bytes)
    "GPU-idle": ("credit-risk-v2-5d8f", 0.01, 60e9),
    "GPU-busy": ("credit-risk-v2-9a1c", 0.9, 50e9),
    "GPU-other": ("search-v1-0001", 0.5, 10e9),
}


def export_gpu_gauges(url: str, exports: int) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    def gauge(index: int):  # type: ignore[no-untyped-def]
        def callback(_options: CallbackOptions) -> list[Observation]:
            return [
                Observation(
                    (util, used, 80e9)[index],
                    {"hw.id": uuid, "hw.name": str(i), "hw.type": "gpu", "hw.model": "NVIDIA H100", "k8s.pod.name": pod},
                )
                for i, (uuid, (pod, util, used)) in enumerate(GPUS.items())
            ]

        return callback

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=float("inf"))
    resource = Resource.create({"host.name": NODE, "service.name": "gpu-exporter", "k8s.namespace.name": "serving"})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("gpu")
    meter.create_observable_gauge("hw.gpu.utilization", [gauge(0)], unit="1")
    meter.create_observable_up_down_counter("hw.gpu.memory.usage", [gauge(1)], unit="By")
    meter.create_observable_up_down_counter("hw.gpu.memory.limit", [gauge(2)], unit="By")
    for _ in range(exports - 1):
        reader.force_flush()
        time.sleep(0.2)
    provider.shutdown()  # the last export


def test_hardware_api_and_metrics_from_real_otlp_traffic(db_url: str) -> None:
    rng = np.random.default_rng(5)
    n = 400
    latencies = rng.lognormal(np.log(0.03), 0.5, n)
    rules = [
        {"model": "credit-risk", "version": "v2", "match": {"pod": "credit-risk-v2-.*", "namespace": "serving"}},
        {"model": "search", "match": {"pod": "search-.*"}},  # no version: the model as a whole
    ]
    # One-second buckets and no lateness: buckets close by the wall clock within the test, so the
    # figures are read back from the series_points table and not only from memory.
    settings = Settings(
        db_url=db_url,
        port=0,
        gpu_models=rules,
        gpu_idle_utilization=0.05,
        series_resolution_seconds=1,
        allowed_lateness_seconds=0,
    )
    with ServerThread(settings) as server:
        started = time.time()
        export_gpu_gauges(server.url, exports=4)
        now_ns = time.time_ns()
        records = [
            log_record(
                inference("credit-risk", "v2", f"p{i}", {"x": float(i)}, **{"ml.latency": float(latencies[i])}), time_ns=now_ns
            )
            for i in range(n)
        ]
        answer = httpx.post(
            f"{server.url}/v1/logs",
            content=logs_request(records).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 200
        wait_caught_up(server.url)
        elapsed = time.time() - started
        stored = select(func.count()).select_from(series_points).where(series_points.c.name.in_([GPU_SECONDS, PREDICTIONS]))
        deadline, rows = time.monotonic() + 30, 0
        while rows < 3 and time.monotonic() < deadline:  # two GPUs' seconds and the predictions
            time.sleep(0.1)
            with server.runtime.engine.connect() as connection:
                rows = connection.execute(stored).scalar_one()
        assert rows >= 3

        body = httpx.get(f"{server.url}/api/v1/models/credit-risk/hardware", params={"version": "v2"}).json()
        by_uuid = {g["uuid"]: g for g in body["gpus"]}
        assert set(by_uuid) == {"GPU-idle", "GPU-busy"}  # the search pod's GPU is not linked
        idle, busy = by_uuid["GPU-idle"], by_uuid["GPU-busy"]
        assert 0 < idle["gpu_seconds"] <= elapsed
        assert 0 < busy["gpu_seconds"] <= elapsed
        assert idle["idle_seconds"] == idle["gpu_seconds"]
        assert busy["idle_seconds"] == 0.0
        assert (idle["memory_headroom_min_bytes"], idle["memory_headroom_mean_bytes"]) == (20e9, 20e9)
        assert busy["memory_headroom_min_bytes"] == 30e9
        assert busy["readings"]["utilization_ratio"] == pytest.approx(0.9)
        assert idle["model_name"] == "NVIDIA H100"
        assert idle["host"] == NODE
        assert idle["version"] == "v2"
        total = idle["gpu_seconds"] + busy["gpu_seconds"]
        assert body["gpu_seconds"] == pytest.approx(total)
        assert body["idle_seconds"] == pytest.approx(idle["gpu_seconds"])
        assert body["predictions"] == n
        assert body["gpu_seconds_per_1k_predictions"] == pytest.approx(1000 * total / n)
        assert body["memory_headroom_min_bytes"] == 20e9
        assert body["total"] == 2

        metrics = scrape(server.url)
        labels = 'model="credit-risk",version="v2"'
        assert metrics[f"driftline_model_gpu_seconds_total{{{labels}}}"] == pytest.approx(total)
        assert metrics[f"driftline_model_gpu_idle_seconds_total{{{labels}}}"] == pytest.approx(idle["gpu_seconds"])
        assert metrics[f"driftline_model_gpu_seconds_per_1k_predictions{{{labels}}}"] == pytest.approx(1000 * total / n)
        assert metrics[f"driftline_model_gpu_memory_headroom_bytes{{{labels}}}"] == 20e9

        # The model-side series of the same traffic.
        series = httpx.get(
            f"{server.url}/api/v1/series", params={"name": PREDICTIONS, "label": ["model:credit-risk", "version:v2"]}
        ).json()
        assert sum(p["count"] for s in series["series"] for p in s["points"]) == n
        for name, q in LATENCY_QUANTILES.items():
            [points] = [s["points"] for s in httpx.get(f"{server.url}/api/v1/series", params={"name": name}).json()["series"]]
            assert points[-1]["last"] == pytest.approx(np.quantile(latencies, q, method="lower"), rel=0.0101)

        page = httpx.get(f"{server.url}/api/v1/models/credit-risk/hardware", params={"limit": 1, "offset": 1}).json()
        assert ([g["uuid"] for g in page["gpus"]], page["total"]) == (["GPU-busy"], 2)  # by host, then GPU index 0, 1
        search = httpx.get(f"{server.url}/api/v1/models/search/hardware", params={"version": "*"}).json()
        assert [(g["uuid"], g["version"]) for g in search["gpus"]] == [("GPU-other", "*")]
        assert (search["predictions"], search["gpu_seconds_per_1k_predictions"]) == (0, None)
        assert search["gpu_seconds"] > 0

        assert httpx.get(f"{server.url}/api/v1/models/unknown/hardware").status_code == 404
        missing = httpx.get(f"{server.url}/api/v1/models/credit-risk/hardware", params={"version": "v9"})
        assert missing.status_code == 404
        assert "v9" in missing.json()["detail"]
