"""The deploy/ files against real Prometheus and Alertmanager processes and a real Driftline.

Prometheus runs deploy/prometheus/prometheus.yml with the targets moved to loopback ports and
1 s intervals, and deploy/prometheus/rules.yml with the drift group's `for` durations dropped
(expressions, labels and annotations unchanged; the durations are pinned by the promtool unit
tests). Alertmanager runs deploy/alertmanager/alertmanager.yml with a webhook receiver added. After
drift is injected into Driftline, the drift alerts must reach that webhook; then every Grafana
panel's query is run against this Prometheus.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from deploy_support import (
    DASHBOARDS,
    DEPLOY,
    dashboard_queries,
    feed_traffic,
    load_dashboard,
    load_yaml,
    metric_names,
    without_grafana_variables,
)
from monitor.settings import Settings
from support import ServerThread, free_port, require_binary, scrape, wait_until

T = TypeVar("T")
ALERTMANAGER_BINARY = "prometheus-alertmanager"


class Webhook(http.server.ThreadingHTTPServer):
    """Collects the JSON bodies Alertmanager posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def alerts(self) -> list[dict[str, Any]]:
        return [alert for body in list(self.bodies) for alert in body["alerts"]]


def poll(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def driftline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    url = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'driftline.db'}"
    # Alerts evaluated often, so Driftline's own FeatureDrift alert is firing before Prometheus is asked.
    with ServerThread(Settings(db_url=url, port=0, alerts={"evaluation_interval": 0.2})) as server:  # type: ignore[arg-type]
        feed_traffic(server.url)
        wait_until(lambda: scrape(server.url).get('driftline_alerts_firing{alertname="FeatureDrift",severity="warning"}'))
        yield server


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def start(command: list[str], ready_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)

    def ready() -> bool:
        assert process.poll() is None, f"{command[0]} exited: {log.read_text()[-2000:]}"
        try:
            return httpx.get(ready_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    poll(f"{command[0]} to be ready", ready)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[str]:
    require_binary(ALERTMANAGER_BINARY, "Alertmanager (Debian package prometheus-alertmanager)")
    directory = tmp_path_factory.mktemp("alertmanager")
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    (default,) = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    default["webhook_configs"] = [{"url": webhook.url, "send_resolved": False}]
    config["route"].update(group_wait="1s", group_interval="1s")
    for route in config["route"].get("routes", []):
        route["group_wait"] = "1s"
    (directory / "am.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = start(
        [
            ALERTMANAGER_BINARY,
            f"--config.file={directory / 'am.yml'}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        directory / "log",
    )
    yield f"127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, driftline: ServerThread, alertmanager: str) -> Iterator[str]:
    require_binary("prometheus", "Prometheus (Debian package prometheus)")
    directory = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    rules = load_yaml(DEPLOY / "prometheus" / "rules.yml")
    for group in rules["groups"]:
        if group["name"] == "driftline-drift":
            for rule in group["rules"]:
                rule.pop("for", None)
    (directory / "rules.yml").write_text(yaml.safe_dump(rules))
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    assert config["rule_files"] == ["rules.yml"]  # resolved beside the config file, as in compose
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["driftline"]["static_configs"][0]["targets"] = [f"127.0.0.1:{driftline.port}"]
    jobs["prometheus"]["static_configs"][0]["targets"] = [f"127.0.0.1:{port}"]
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    process = start(
        [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ],
        f"{url}/-/ready",
        directory / "log",
    )
    yield url
    stop(process)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_drift_alerts_reach_the_alertmanager_webhook(prometheus: str, webhook: Webhook) -> None:
    def drift_alerts() -> dict[str, dict[str, Any]]:
        found = {
            f"{a['labels']['alertname']} {a['labels'].get('feature', '*')}": a
            for a in webhook.alerts()
            if a["labels"]["alertname"] in {"DriftlineFeatureDrift", "DriftlineManyFeaturesDrifting"}
        }
        return found if len(found) == 3 else {}

    alerts = poll("three drift alerts at the webhook", drift_alerts)
    assert set(alerts) == {
        "DriftlineFeatureDrift income",
        "DriftlineFeatureDrift employment",
        "DriftlineManyFeaturesDrifting *",  # 2 of 6 features: 33 % >= 30 %
    }
    for alert in alerts.values():
        assert alert["status"] == "firing"
        assert (alert["labels"]["model"], alert["labels"]["version"]) == ("credit-risk", "v2")
    income = alerts["DriftlineFeatureDrift income"]
    assert income["labels"]["severity"] == "warning"
    assert income["annotations"]["summary"] == "Feature income of credit-risk v2 drifted"
    assert alerts["DriftlineManyFeaturesDrifting *"]["labels"]["severity"] == "critical"
    # Driftline is up: the self-monitoring alerts stay quiet, and the stable v1 raises nothing
    names = {(a["labels"]["alertname"], a["labels"].get("version")) for a in webhook.alerts()}
    assert not {name for name, _ in names} & {"DriftlineDown", "DriftlineAbsent"}
    assert all(version != "v1" for _, version in names)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_grafana_panels_return_the_series_driftline_exports(path: Path, prometheus: str, driftline: ServerThread) -> None:
    """A panel returns series exactly when every metric it reads has samples in Driftline's /metrics."""
    sampled = {name.split("{")[0] for name in scrape(driftline.url)}
    # rates need two scrapes of a counter
    poll("two scrapes", lambda: query(prometheus, "count_over_time(driftline_model_predictions_total[15s]) >= 2"))
    for where, expr in dashboard_queries(load_dashboard(path)):
        promql = without_grafana_variables(expr, {"model": ".*", "version": ".*", "host": ".*", "kpi": ".*"})
        result = query(prometheus, promql)
        if metric_names(expr) <= sampled:
            assert result, f"{path.name} {where} returned no series: {promql}"
        else:
            assert result == [], f"{path.name} {where} returned series of metrics Driftline has no samples of"


def test_drift_panel_counts_the_drifting_features(prometheus: str) -> None:
    (board,) = [load_dashboard(p) for p in DASHBOARDS if p.stem == "model-drift-overview"]
    (panel,) = [p for p in board["panels"] if p["title"] == "Drifting features"]
    promql = without_grafana_variables(panel["targets"][0]["expr"], {"model": "credit-risk", "version": ".*"})
    counts = {r["metric"]["version"]: float(r["value"][1]) for r in query(prometheus, promql)}
    assert counts == {"v1": 0.0, "v2": 2.0}
