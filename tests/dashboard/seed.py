"""Seed a real Driftline server through its real ingest paths, with known numbers for the pages to show."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import numpy as np

from support import wait_caught_up

MODEL = "credit"
WINDOW = 300.0
#: Two whole windows, ending well before now so they close on evaluation.
T0 = float(math.floor(time.time() / WINDOW) * WINDOW - 4 * WINDOW)
ROWS = 400
P95_SECONDS = 0.125
ACCURACY = 0.875
KPI = "conversion"
KPI_VALUE = 0.042


def reference_csv(rows: int = 2000) -> bytes:
    rng = np.random.default_rng(1)
    income = rng.normal(50_000, 10_000, rows)
    plan = rng.choice(["basic", "pro"], rows, p=[0.7, 0.3])
    lines = ["income,plan"] + [f"{i:.2f},{p}" for i, p in zip(income, plan, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _events(version: str, start: float, shift: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "model": MODEL,
        "version": version,
        "timestamps": (start + np.linspace(1, WINDOW - 1, ROWS)).tolist(),
        "prediction_ids": [f"{version}-{seed}-{i}" for i in range(ROWS)],
        "predictions": rng.integers(0, 2, ROWS).tolist(),
        "features": {
            "income": rng.normal(50_000 + shift, 10_000, ROWS).tolist(),
            "plan": rng.choice(["basic", "pro"], ROWS, p=[0.7, 0.3]).tolist(),
        },
    }


def export_gauges(url: str, name: str, points: list[tuple[dict[str, Any], float, float]]) -> None:
    """Gauge points with explicit timestamps through the OpenTelemetry SDK's OTLP/HTTP exporter."""
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

    data_points = [
        NumberDataPoint(attributes=attrs, start_time_unix_nano=0, time_unix_nano=int(t * 1e9), value=v) for attrs, t, v in points
    ]
    metric = Metric(name=name, description="", unit="1", data=Gauge(data_points=data_points))
    data = MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource({"service.name": "seed"}),
                scope_metrics=[ScopeMetrics(scope=InstrumentationScope("seed"), metrics=[metric], schema_url="")],
                schema_url="",
            )
        ]
    )
    exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics")
    try:
        assert exporter.export(data) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()


def seed(url: str) -> None:
    """v1 stays on its reference; v2's income shifts by two standard deviations in both windows."""
    with httpx.Client(base_url=url, timeout=60) as http:
        for version in ("v1", "v2"):
            path = f"/api/v1/models/{MODEL}/versions/{version}/reference"
            response = http.put(path, content=reference_csv(), headers={"Content-Type": "text/csv"})
            assert response.status_code == 200, response.text
        for k, start in enumerate((T0, T0 + WINDOW)):
            for version, shift in (("v1", 0.0), ("v2", 20_000.0)):
                response = http.post("/api/v1/events", json=_events(version, start, shift, seed=10 * k + len(version)))
                assert response.json()["accepted"] == ROWS, response.text
                wait_caught_up(url)
                assert http.post(f"/api/v1/models/{MODEL}/evaluate", params={"version": version}).status_code == 200
    minutes = [T0 + 60 * i for i in range(10)]
    labels = {"model": MODEL, "version": "v2"}
    export_gauges(url, "driftline.model.latency.p95", [(labels, t, P95_SECONDS) for t in minutes])
    export_gauges(url, "driftline.model.quality", [({**labels, "metric": "accuracy"}, t, ACCURACY) for t in minutes])
    export_gauges(url, "driftline.kpi", [({"kpi": KPI}, t, KPI_VALUE) for t in minutes])
    wait_caught_up(url)
