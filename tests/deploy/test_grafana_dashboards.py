"""deploy/grafana: valid dashboard models whose every query is PromQL over metrics Driftline exports.

The exported names come from a real server's /metrics after demo traffic, GPU telemetry and a
rejected request. Contract families that no code path fills yet (today: model quality, KPI values,
correlations, firing alerts) are accepted from CONTRACT.md's list instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy_support import (
    CONTRACT_METRICS,
    DASHBOARDS,
    DEPLOY,
    GRAFANA_INTERVALS,
    dashboard_queries,
    feed_traffic,
    load_dashboard,
    load_yaml,
    metric_names,
)
from monitor.settings import Settings
from support import ServerThread

GRAFANA = DEPLOY / "grafana"


def exported_names(metrics_text: str) -> set[str]:
    """Series names Prometheus stores from this exposition, families without samples included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
        names |= {sample.name for sample in family.samples if not sample.name.endswith("_created")}
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Metric names in /metrics of a real server fed a little of every kind of traffic."""
    url = f"sqlite:///{tmp_path_factory.mktemp('grafana') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0)) as server:
        feed_traffic(server.url)
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'driftline_feature_drift_detected{feature="income",model="credit-risk",version="v2"} 1.0' in text
    return exported_names(text)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_is_a_valid_grafana_model(path: Path) -> None:
    board = load_dashboard(path)
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
    boards = [load_dashboard(path) for path in DASHBOARDS]
    assert len(boards) == 3
    assert len({board["uid"] for board in boards}) == len({board["title"] for board in boards}) == 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_is_promql_over_exported_metrics(path: Path, exported: set[str]) -> None:
    not_yet_exported = CONTRACT_METRICS - exported
    for where, expr in dashboard_queries(load_dashboard(path)):
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
