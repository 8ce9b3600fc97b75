"""Seed a real Driftline server through its real ingest paths, with known numbers for the pages to show.

* ``credit`` v1 and v2 each get a reference upload and three windows of ``ml.inference`` OTLP logs
  (v2's income shifted by two standard deviations); v2's predictions get ``ml.label`` events whose
  accuracy falls from :data:`ACCURACY` [0] to [1], and its latency rises per window (:data:`LATENCY`).
* Two GPUs on :data:`GPU_HOST` send ``hw.*`` OTLP gauges for the last :data:`GPU_MINUTES` minutes,
  linked to v2 by :func:`settings`' ``gpu_models`` rule; GPU-a's utilisation spikes once.
* The KPI ``conversion`` follows a latency history of v2 :data:`LAG` minutes later (both exported as
  OTLP gauges, the KPI as ``driftline.kpi`` directly); ``POST /api/v1/correlations/run`` over that
  history finds the link. After t0 the KPI arrives as ``shop.conversion`` through the ``kpis`` setting.
* The default ``FeatureDrift`` rule fires for v2, and a dry-run rollback policy audits it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from monitor.correlation import scenarios
from monitor.scenario import GpuPoint, KpiPoint
from monitor.settings import Settings
from monitor.simulate import metrics_request
from support import export_gauges, log_record, logs_request, wait_caught_up, wait_until

MODEL = "credit"
WINDOW = 300.0
WINDOWS = 3
ROWS = 400
#: v2's latency (seconds) in each window, the same for every prediction of the window.
LATENCY = (0.1, 0.125, 0.125)
#: v2's accuracy on the labels of its first two windows (the third window's predictions close the second).
ACCURACY = (0.9, 0.75)
KPI = "conversion"
KPI_METRIC = "shop.conversion"
#: The KPI's value in every minute after t0 (sent as KPI_METRIC through the ``kpis`` setting).
KPI_RECENT = 0.042
#: Minutes of latency and KPI history before t0 for the correlation engine, and the KPI's delay.
HISTORY_MINUTES = 480
LAG = 10
GPU_HOST = "gpu-node-1"
#: hw.id -> steady utilisation; GPU-a jumps to GPU_SPIKE for one minute, GPU_SPIKE_AT minutes ago.
#: GPU_MINUTES is history enough for the anomaly detector, yet under the correlation's minimum evidence.
GPUS = {"GPU-a": 0.6, "GPU-b": 0.3}
GPU_MINUTES = 150
GPU_SPIKE = 1.0
GPU_SPIKE_AT = 30
GPU_MEMORY_USED = 40 * 2**30
GPU_MEMORY_LIMIT = 80 * 2**30


@dataclass(frozen=True, slots=True)
class Times:
    """The wall-clock anchors of one seeding, taken when :func:`seed` runs (GPU readings must be fresh)."""

    t0: float  # start of the first window of events; whole windows that end well before now
    now: float  # the minute the GPU samples end

    @property
    def spike(self) -> float:
        """The minute GPU-a's utilisation spikes."""
        return self.now - 60 * GPU_SPIKE_AT

    @staticmethod
    def at(now: float) -> Times:
        return Times(t0=math.floor(now / WINDOW) * WINDOW - 4 * WINDOW, now=math.floor(now / 60) * 60.0)


def settings(db_url: str) -> Settings:
    """A server with the GPU link, the KPI, fast alert evaluation and a dry-run rollback policy."""
    return Settings(  # type: ignore[call-arg]
        db_url=db_url,
        port=0,
        window_seconds=WINDOW,
        quality_window_seconds=WINDOW,
        gpu_models=[{"model": MODEL, "version": "v2", "match": {"host": GPU_HOST}}],
        kpis=[{"name": KPI, "metric": KPI_METRIC}],
        correlation_enabled=False,
        correlation_max_lag_seconds=1800.0,
        correlation_min_evidence_seconds=3 * 3600.0,
        correlation_kpi_units={KPI: {"unit": "share", "value_per_unit_minute": 20_000.0, "value_name": "applications"}},
        alerts={
            "evaluation_interval": 0.2,
            "disable": ["KpiAnomaly", "GpuSaturation"],  # the pages' alert counts stay pinned whatever the scores
            "policies": {
                "abort-drifting": {
                    "matchers": ['alertname="FeatureDrift"'],
                    "dry_run": True,
                    "action": {"type": "argo-rollouts", "rollout": "{{ labels.model }}", "namespace": "shop"},
                }
            },
        },
    )


def reference_csv(rows: int = 2000) -> bytes:
    rng = np.random.default_rng(1)
    income = rng.normal(50_000, 10_000, rows)
    plan = rng.choice(["basic", "pro"], rows, p=[0.7, 0.3])
    lines = ["income,plan"] + [f"{i:.2f},{p}" for i, p in zip(income, plan, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _post_logs(http: httpx.Client, records: list[Any]) -> None:
    body = logs_request(records).SerializeToString()
    response = http.post("/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200, response.text


def _window(http: httpx.Client, times: Times, version: str, k: int) -> None:
    """One window of predictions for ``version``; v2's get labels (``ACCURACY[k]`` of them right)."""
    rng = np.random.default_rng(10 * k + len(version))
    start = times.t0 + k * WINDOW
    times = start + np.linspace(1, WINDOW - 1, ROWS)
    income = rng.normal(50_000 + (20_000.0 if version == "v2" else 0.0), 10_000, ROWS)
    plan = rng.choice(["basic", "pro"], ROWS, p=[0.7, 0.3])
    predicted = rng.integers(0, 2, ROWS)
    ids = [f"{version}-{k}-{i}" for i in range(ROWS)]
    latency = LATENCY[k] if version == "v2" else 0.05
    records = [
        log_record(
            {
                "ml.model.name": MODEL,
                "ml.model.version": version,
                "ml.prediction.id": ids[i],
                "ml.prediction": int(predicted[i]),
                "ml.latency": latency,
                "ml.feature.income": float(income[i]),
                "ml.feature.plan": str(plan[i]),
            },
            time_ns=int(times[i] * 1e9),
        )
        for i in range(ROWS)
    ]
    _post_logs(http, records)
    if version == "v2" and k < len(ACCURACY):
        right = round(ACCURACY[k] * ROWS)
        truth = np.where(np.arange(ROWS) < right, predicted, 1 - predicted)
        at = int((start + WINDOW - 1) * 1e9)
        _post_logs(
            http,
            [
                log_record({"ml.prediction.id": ids[i], "ml.label": int(truth[i])}, event="ml.label", time_ns=at)
                for i in range(ROWS)
            ],
        )


def _gpu_points(times: Times) -> list[GpuPoint]:
    points = []
    for index, (uuid, steady) in enumerate(GPUS.items()):
        for minute in range(GPU_MINUTES, 0, -1):
            t = times.now - 60 * minute
            spike = uuid == "GPU-a" and t == times.spike
            points.append(
                GpuPoint(
                    GPU_HOST,
                    uuid,
                    str(index),
                    t + 30,
                    GPU_SPIKE if spike else steady + 0.01 * math.sin(minute),
                    GPU_MEMORY_USED,
                    GPU_MEMORY_LIMIT,
                    250.0 + 100 * steady,
                    60.0 + 10 * steady,
                )
            )
    return points


def history(t0: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(time, value) of latency and of the KPI, one a minute for HISTORY_MINUTES before t0: the KPI follows latency."""
    pair = scenarios.linked_pair(np.random.default_rng(3), HISTORY_MINUTES, lag=LAG, effect=-2.0, noise=0.5)
    times = t0 - 60 * HISTORY_MINUTES + 60 * np.arange(HISTORY_MINUTES) + 30
    return list(zip(times.tolist(), (0.1 + 0.01 * pair.x).tolist(), strict=True)), list(
        zip(times.tolist(), (pair.y / 1000).tolist(), strict=True)
    )


def _recent_kpis(times: Times) -> list[KpiPoint]:
    """KPI_METRIC once a minute from t0 to now, through the ``kpis`` setting (after the correlation's range)."""
    return [KpiPoint(KPI_METRIC, "1", t + 30, KPI_RECENT) for t in np.arange(times.t0, times.now, 60.0).tolist()]


def _post_metrics(http: httpx.Client, request: Any) -> None:
    response = http.post("/v1/metrics", content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200, response.text


def seed(url: str) -> Times:
    """Everything above, through the ingest endpoints, anchored at now; returns once the server has caught up."""
    times = Times.at(time.time())
    latency, kpi = history(times.t0)
    export_gauges(
        url,
        {
            "driftline.model.latency": [({"model": MODEL, "version": "v2"}, t, v) for t, v in latency],
            "driftline.kpi": [({"kpi": KPI}, t, v) for t, v in kpi],
        },
    )
    with httpx.Client(base_url=url, timeout=60) as http:
        _post_metrics(http, metrics_request(_gpu_points(times), _recent_kpis(times)))
        for version in ("v1", "v2"):
            path = f"/api/v1/models/{MODEL}/versions/{version}/reference"
            response = http.put(path, content=reference_csv(), headers={"Content-Type": "text/csv"})
            assert response.status_code == 200, response.text
        for k in range(WINDOWS):
            for version in ("v1", "v2"):
                _window(http, times, version, k)
            wait_caught_up(url)
            for version in ("v1", "v2"):
                assert http.post(f"/api/v1/models/{MODEL}/evaluate", params={"version": version}).status_code == 200
        wait_caught_up(url)
        run = http.post("/api/v1/correlations/run", params={"since": times.t0 - 60 * HISTORY_MINUTES, "until": times.t0})
        assert run.status_code == 200, run.text
        wait_until(lambda: http.get("/api/v1/actions").json()["total"] > 0, timeout=30)
    return times
