"""deploy/grafana: valid dashboard models whose every query is PromQL over metrics Driftline exports.

The exported names come from a real server's /metrics after demo traffic, GPU telemetry and a
rejected request. Contract families that no code path fills yet (today: model quality, KPI values,
correlations, firing alerts) are accepted from CONTRACT.md's list instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy_support import CONTRACT_METRICS, DEPLOY, load_yaml
from monitor.settings import Settings
from monitor.simulate import run_simulation
from support import ServerThread, wait_caught_up

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: Grafana's built-in interval variables, replaced by typical values before parsing.
GRAFANA_INTERVALS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h"}
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in board["panels"]:
        for target in panel["targets"]:
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            assert match is not None, f"variable {variable['name']}: use label_values(selector, label)"
            if match["selector"]:
                yield f"variable {variable['name']}", match["selector"]


def metric_names(expr: str) -> set[str]:
    for variable, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, value)
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"select metrics by name: {expr}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def exported_names(metrics_text: str) -> set[str]:
    """Series names Prometheus stores from this exposition, families without samples included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
        names |= {sample.name for sample in family.samples if not sample.name.endswith("_created")}
    return names


def gpu_metrics_json(now_ns: int) -> dict[str, Any]:
    """OTLP/JSON hardware metrics of one GPU, as an OpenTelemetry hw.* instrumentation sends them."""
    gpu = [{"key": k, "value": {"stringValue": v}} for k, v in {"hw.id": "GPU-5a1b", "hw.name": "0", "hw.type": "gpu"}.items()]
    gpu.append({"key": "hw.model", "value": {"stringValue": "NVIDIA L4"}})
    points = {"hw.gpu.utilization": 0.8, "hw.gpu.memory.usage": 8e9, "hw.gpu.memory.limit": 2.4e10, "hw.power": 60.0}
    metrics = [
        {"name": name, "gauge": {"dataPoints": [{"timeUnixNano": str(now_ns), "asDouble": value, "attributes": gpu}]}}
        for name, value in points.items()
    ]
    metrics.append(
        {"name": "hw.temperature", "gauge": {"dataPoints": [{"timeUnixNano": str(now_ns), "asDouble": 55.0, "attributes": gpu}]}}
    )
    resource = {"attributes": [{"key": "host.name", "value": {"stringValue": "gpu-node-7"}}]}
    return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": metrics}]}]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Metric names in /metrics of a real server fed a little of every kind of traffic."""
    url = f"sqlite:///{tmp_path_factory.mktemp('grafana') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0)) as server:
        run_simulation(server.url, scenario="credit-risk", rate=150.0, duration=1.5, token=None)
        response = httpx.post(f"{server.url}/v1/metrics", json=gpu_metrics_json(time.time_ns()), timeout=10)
        assert response.status_code == 200, response.text
        assert httpx.post(f"{server.url}/v1/logs", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        wait_caught_up(server.url)
        for version in ("v1", "v2"):
            evaluated = httpx.post(f"{server.url}/api/v1/models/credit-risk/evaluate", params={"version": version}, timeout=60)
            assert evaluated.status_code == 200, evaluated.text
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'driftline_feature_drift_detected{feature="income",model="credit-risk",version="v2"} 1.0' in text
    return exported_names(text)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_is_a_valid_grafana_model(path: Path) -> None:
    board = load(path)
    assert board["uid"].startswith("driftline-")
    assert len(board["uid"]) <= 40  # Grafana's limit
    assert board["title"].startswith("Driftline / ")
    assert isinstance(board["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]  # Grafana's grid is 24 columns wide
        assert grid["h"] > 0, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {name.removeprefix("$") for name in GRAFANA_INTERVALS}
            assert used <= set(variables), f"{panel['title']}: undefined variables {used - set(variables)}"


def test_dashboard_uids_and_titles_are_unique() -> None:
    boards = [load(path) for path in DASHBOARDS]
    assert len(boards) == 3
    assert len({board["uid"] for board in boards}) == len({board["title"] for board in boards}) == 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_is_promql_over_exported_metrics(path: Path, exported: set[str]) -> None:
    not_yet_exported = CONTRACT_METRICS - exported
    for where, expr in queries(load(path)):
        try:
            names = metric_names(expr)
        except ValueError as exc:
            pytest.fail(f"{path.name} {where}: {exc}: {expr}")
        assert names, f"{path.name} {where} selects no metric"
        unknown = names - exported - not_yet_exported
        assert not unknown, f"{path.name} {where}: Driftline exports no {sorted(unknown)}"


def test_a_misspelt_metric_is_caught(exported: set[str]) -> None:
    """The check above can fail: a typo in a metric name is neither exported nor in the contract."""
    names = metric_names("sum by (model) (rate(driftline_model_prediction_total[$__rate_interval]))")
    assert names - exported - CONTRACT_METRICS == {"driftline_model_prediction_total"}


def test_runtime_exports_cover_the_contract_families_that_exist_today(exported: set[str]) -> None:
    """Pins which contract families the check takes from the list rather than from a live server."""
    assert CONTRACT_METRICS - exported <= {
        "driftline_model_quality",
        "driftline_kpi_value",
        "driftline_correlation",
        "driftline_alerts_firing",
    }


def test_provisioning_points_at_the_dashboards_and_the_stack_prometheus() -> None:
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "driftline.yml")["datasources"]
    assert [(d["type"], d["url"]) for d in datasources] == [("prometheus", "http://prometheus:9090")]
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "driftline.yml")["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards/driftline"]
