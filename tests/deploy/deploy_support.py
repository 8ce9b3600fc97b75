"""What the deploy/ tests share: paths, YAML and dashboard loading, the metric names Driftline
exports, and the traffic that makes a real server export them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import promql_parser
import yaml

from monitor.scenario import approval_score, sample_applicants
from monitor.simulate import reference_csv
from support import ROOT, wait_caught_up

DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))

#: The metric families of CONTRACT.md ("Prometheus metrics"), with the names Prometheus stores
#: (counters with ``_total``). Families that today's server declares are also checked at run time.
CONTRACT_METRICS = frozenset(
    {
        "driftline_feature_drift_score",
        "driftline_feature_drift_p_value",
        "driftline_feature_drift_detected",
        "driftline_model_predictions_total",
        "driftline_model_quality",
        "driftline_ingest_records_total",
        "driftline_ingest_rejected_total",
        "driftline_gpu_utilization_ratio",
        "driftline_gpu_memory_used_bytes",
        "driftline_gpu_power_watts",
        "driftline_gpu_temperature_celsius",
        "driftline_kpi_value",
        "driftline_correlation",
        "driftline_alerts_firing",
    }
)
#: Grafana's built-in interval variables, replaced by values that suit a 1 s scrape interval.
GRAFANA_INTERVALS = {"$__rate_interval": "15s", "$__interval": "1s", "$__range": "1h"}
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def dashboard_queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable's selector."""
    for panel in board["panels"]:
        for target in panel["targets"]:
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            if match is None:
                raise AssertionError(f"variable {variable['name']}: use label_values(selector, label)")
            if match["selector"]:
                yield f"variable {variable['name']}", match["selector"]


def without_grafana_variables(expr: str, variables: dict[str, str] | None = None) -> str:
    """PromQL as Grafana sends it: interval variables and the given template variables replaced."""
    for name, value in {**GRAFANA_INTERVALS, **{f"${k}": v for k, v in (variables or {}).items()}}.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (ValueError from the PromQL parser when it is not PromQL)."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name or next(m.value for m in node.matchers.matchers if m.name == "__name__"))

    promql_parser.walk(promql_parser.parse(without_grafana_variables(expr)), visit)
    return names


def gpu_metrics_json(now_ns: int) -> dict[str, Any]:
    """OTLP/JSON hardware metrics of one GPU, as an OpenTelemetry hw.* instrumentation sends them."""
    identity = {"hw.id": "GPU-5a1b", "hw.name": "0", "hw.type": "gpu", "hw.model": "NVIDIA L4"}
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in identity.items()]
    points = {
        "hw.gpu.utilization": 0.8,
        "hw.gpu.memory.usage": 8e9,
        "hw.gpu.memory.limit": 2.4e10,
        "hw.power": 60.0,
        "hw.temperature": 55.0,
    }
    metrics = [
        {"name": name, "gauge": {"dataPoints": [{"timeUnixNano": str(now_ns), "asDouble": value, "attributes": attributes}]}}
        for name, value in points.items()
    ]
    resource = {"attributes": [{"key": "host.name", "value": {"stringValue": "gpu-node-7"}}]}
    return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": metrics}]}]}


SIX = (0, 1, 2, 3, 8, 9)  # income, age, debt_ratio, credit_lines, employment, region


def feed_traffic(url: str, *, rows: int = 1000, seed: int = 3) -> None:
    """Seeded credit-risk traffic (v1 like its reference, v2 shifted on income and employment),
    GPU telemetry and one rejected request; then both versions' windows are closed and tested."""
    # Six of the scenario's features, so two drifting ones are a third of the model (ManyFeaturesDrifting).
    reference = "\n".join(",".join(row.split(",")[i] for i in SIX) for row in reference_csv().decode().splitlines()).encode()
    rng = np.random.default_rng(seed)
    now = time.time()
    for version in ("v1", "v2"):
        path = f"{url}/api/v1/models/credit-risk/versions/{version}/reference"
        assert httpx.put(path, content=reference, headers={"Content-Type": "text/csv"}, timeout=60).status_code == 200
        features = sample_applicants(rng, rows, drifted=version == "v2")
        scores = approval_score(features)
        features = {name: column for i, (name, column) in enumerate(features.items()) if i in SIX}
        batch = {
            "model": "credit-risk",
            "version": version,
            "timestamps": [now] * rows,  # one instant: one window, whatever the window width
            "prediction_ids": [f"{version}-{i}" for i in range(rows)],
            "predictions": np.where(scores >= 0.5, "approve", "decline").tolist(),
            "scores": scores.tolist(),
            "features": {name: column.tolist() for name, column in features.items()},
        }
        response = httpx.post(f"{url}/api/v1/events", json=batch, timeout=60)
        assert response.json()["accepted"] == rows, response.text
    response = httpx.post(f"{url}/v1/metrics", json=gpu_metrics_json(time.time_ns()), timeout=10)
    assert response.status_code == 200, response.text
    assert httpx.post(f"{url}/v1/logs", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    wait_caught_up(url)
    for version in ("v1", "v2"):
        evaluated = httpx.post(f"{url}/api/v1/models/credit-risk/evaluate", params={"version": version}, timeout=60)
        assert evaluated.status_code == 200, evaluated.text
