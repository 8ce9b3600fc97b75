"""The acceptance test: the credit-risk scenario, replayed fast against a real server, end to end.

Eight simulated hours go through the real ingest paths in a few seconds (the OpenTelemetry
SDK for predictions and labels, OTLP metrics for GPUs and KPIs), replayed in fixed steps so
the seed pins every event. Five hours in, the canary's population shifts on two features.
The test then follows the chain a user relies on: drift on exactly those features of the
canary and nowhere else, the quality drop once labels arrive, the KPI damage linked back to
the canary's drift with the right lag, the unrelated GPU incident flagged on its own host, a signed
webhook, a PagerDuty event, an alert routed by a real Alertmanager, one rollback call, the
gate's verdicts and the Prometheus series.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from apptest_support import run_page, texts
from http_fakes import FakeReceiver, Reply, running_alertmanager

from monitor.scenario import DRIFTED_FEATURES
from monitor.settings import Settings
from monitor.simulate import SimulationReport, run_simulation
from support import ServerThread, scrape, wait_caught_up, wait_until

standardwebhooks = pytest.importorskip("standardwebhooks")

pytestmark = pytest.mark.slow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTING_KEY = "R0UTINGKEY0123456789ABCDEF0123456"
SPEED = 2400.0  # simulated seconds per real second
RATE = 600.0  # predictions per real second at SPEED: 15 per simulated minute
HISTORY = 8 * 3600.0
INCIDENT_AFTER = 5 * 3600.0
WINDOW = 1800.0
LOSS_LAG = 30 * 60.0  # the scenario's truth: bad loans show in the losses half an hour later
MODEL = "credit-risk"


@dataclass
class Run:
    server: ServerThread
    report: SimulationReport
    webhook: FakeReceiver
    rollback: FakeReceiver
    pagerduty: FakeReceiver
    alertmanager: FakeReceiver  # Alertmanager's own webhook

    @property
    def onset(self) -> float:
        return self.report.incident_at

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.server.url}{path}", params=params, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = Path(tmp_path_factory.mktemp("acceptance"))
    with ExitStack() as stack:
        webhook, rollback, alertmanager_hook = (stack.enter_context(FakeReceiver()) for _ in range(3))
        pagerduty = stack.enter_context(FakeReceiver(Reply(202, body=b'{"status": "success"}')))
        alertmanager = stack.enter_context(running_alertmanager(workdir, f"{alertmanager_hook.url}/am"))
        settings = Settings(  # type: ignore[arg-type]
            db_url=f"sqlite:///{workdir / 'driftline.db'}",
            port=0,
            window_seconds=WINDOW,
            allowed_lateness_seconds=SPEED,
            drift_alpha=0.001,
            label_window_seconds=4 * 3600.0,
            quality_window_seconds=WINDOW,
            kpis=[
                {"name": "approval_rate", "metric": "credit.approval_rate"},
                {"name": "expected_loss_per_hour", "metric": "credit.expected_loss_per_hour"},
                {"name": "revenue_per_hour", "metric": "credit.revenue_per_hour"},
            ],
            gpu_models=[
                {"model": MODEL, "version": "v1", "match": {"host": "gpu-host-a"}},
                {"model": MODEL, "version": "v2", "match": {"host": "gpu-host-b"}},
            ],
            anomaly_series=[{"name": "hw.gpu.memory.usage"}],
            anomaly_threshold=0.95,  # page on strong anomalies only
            gpu_stale_seconds=3 * 3600.0,  # the replay ends up to an hour before now (history starts on the hour)
            webhook_url=f"{webhook.url}/hook",
            webhook_secret=SECRET,
            alerts={
                "evaluation_interval": 0.2,
                "receivers": {
                    "on-call": {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": f"{pagerduty.url}/v2/enqueue"},
                    "alertmanager": {"type": "alertmanager", "url": alertmanager},
                },
                "policies": {
                    "rollback-canary": {
                        "matchers": ['alertname="FeatureDrift"'],
                        "scope": ["model", "version"],
                        "cooldown": "1h",
                        "dry_run": False,
                        "action": {
                            "type": "http",
                            "method": "POST",
                            "url": f"{rollback.url}/rollback",
                            "body": '{"model": {{ labels.model | tojson }}, "version": {{ labels.version | tojson }}}',
                            "content_type": "application/json",
                        },
                    }
                },
            },
        )
        server = stack.enter_context(ServerThread(settings))
        report = run_simulation(
            server.url, rate=RATE, speed=SPEED, history=HISTORY, incident_after=INCIDENT_AFTER, replay_step=60.0, duration=None
        )
        wait_caught_up(server.url, timeout=120)
        for version in ("v1", "v2"):  # close the windows still open
            assert httpx.post(f"{server.url}/api/v1/models/{MODEL}/evaluate", params={"version": version}, timeout=60).is_success
        yield Run(server, report, webhook, rollback, pagerduty, alertmanager_hook)


def test_drift_on_exactly_the_two_shifted_features_of_the_canary_within_two_windows(run: Run) -> None:
    drifted: dict[str, list[tuple[float, str]]] = {}
    for version in ("v1", "v2"):
        items = run.get(f"/api/v1/models/{MODEL}/drift/history", version=version, limit=10_000)["items"]
        assert len({item["window_end"] for item in items}) >= 14  # the eight hours were windowed
        drifted[version] = [(item["window_end"], item["feature"]) for item in items if item["drift_detected"]]
    assert drifted["v1"] == [], [
        i for i in run.get(f"/api/v1/models/{MODEL}/drift/history", version="v1", limit=10_000)["items"] if i["drift_detected"]
    ] + [run.report.simulated_until]
    assert all(end > run.onset for end, _ in drifted["v2"])  # nothing before the incident
    assert {feature for _, feature in drifted["v2"]} == set(DRIFTED_FEATURES)
    for feature in DRIFTED_FEATURES:
        first = min(end for end, name in drifted["v2"] if name == feature)
        assert first <= run.onset + 2 * WINDOW


def test_quality_drops_on_the_canary_once_labels_arrive(run: Run) -> None:
    reports = {version: run.get(f"/api/v1/models/{MODEL}/quality", version=version, limit=100) for version in ("v1", "v2")}
    # The error-stream detector (DDM) alarms on the canary after the onset, once its labels arrive,
    # and not on the stable version after it (this seed gives v1 one early alarm, hours before).
    assert run.onset < reports["v2"]["last_alarm_at"] <= run.onset + 2 * WINDOW
    assert (reports["v1"]["last_alarm_at"] or 0.0) < run.onset
    for version, report in reports.items():
        assert report["task"] == "classification"
        before = [w["metrics"]["accuracy"] for w in report["history"] if w["window_end"] <= run.onset and w["n"] >= 30]
        after = [w["metrics"]["accuracy"] for w in report["history"] if w["window_start"] >= run.onset + 2 * 3600]
        assert before, version
        assert after, version
        drop = sum(before) / len(before) - sum(after) / len(after)
        assert (drop > 0.1) if version == "v2" else (abs(drop) < 0.05), (version, drop)


def test_the_kpi_damage_is_linked_to_the_canary_with_the_scenario_lag(run: Run) -> None:
    start = run.onset - INCIDENT_AFTER
    response = httpx.post(
        f"{run.server.url}/api/v1/correlations/run", params={"since": start, "until": run.report.simulated_until}, timeout=600
    )
    assert response.status_code == 200, response.text
    findings = run.get("/api/v1/correlations", limit=1000)["items"]
    summary = [(f["metric"], f["kpi"], f["method"], f["lag_seconds"], f["q_value"]) for f in findings]
    # Only the canary's drift is linked, and nothing to the GPU host's memory incident.
    assert {(f["model"], f["version"]) for f in findings} == {(MODEL, "v2")}, summary
    assert {f["metric"] for f in findings} <= {
        f"driftline.feature.drift{{feature={name},model={MODEL},version=v2}}" for name in DRIFTED_FEATURES
    }, summary
    # Bad loans show in the losses (and the lost revenue) half an hour later; approvals move at once.
    truth = {"expected_loss_per_hour": (LOSS_LAG, 1.0), "revenue_per_hour": (LOSS_LAG, -1.0), "approval_rate": (0.0, 1.0)}
    for kpi, (lag, sign) in truth.items():
        linked = [f for f in findings if f["kpi"] == kpi]
        assert linked, (kpi, summary)
        for finding in linked:
            assert finding["direction"] == "model_leads"
            assert finding["method"] == "event"  # one incident: the event test, not a repeated pattern
            assert abs(finding["lag_seconds"] - lag) <= 60.0, finding
            assert finding["q_value"] < 0.05
            assert finding["incident"]["kpi_change"] * sign > 0, finding
            assert finding["incident"]["start"] == pytest.approx(run.onset + lag, abs=60.0)
    # The business page says it in words, with the KPI drawn around the incident.
    business = run_page("business", run.server.url)
    shown = texts(business)
    assert "About 30 min after drift on income (credit-risk v2) began, expected_loss_per_hour rose by" in shown, shown
    assert [e.label for e in business.expander].count("Evidence (the KPI around the incident)") == len(findings)


def test_the_gpu_memory_incident_is_flagged_on_its_host_only(run: Run) -> None:
    start = run.onset - INCIDENT_AFTER
    page = run.get(
        "/api/v1/series",
        name="driftline.anomaly.detected",
        label="series:hw.gpu.memory.usage",
        start=start,
        end=run.report.simulated_until,
        limit=100,
    )
    assert page["total"] == 4  # two GPUs on each serving host (the batch host is not sent over OTLP)
    flagged = {
        (series["labels"]["host.name"], series["labels"]["hw.name"]): [p["t"] for p in series["points"] if p["max"] >= 1.0]
        for series in page["series"]
    }
    begin = start + 2 * 3600.0  # the scenario's memory leak on gpu-host-a's GPU 0: two to two and a half hours in
    assert flagged[("gpu-host-a", "0")], flagged
    assert all(begin <= t <= begin + 1800.0 for t in flagged[("gpu-host-a", "0")]), flagged
    assert all(not times for key, times in flagged.items() if key != ("gpu-host-a", "0")), flagged


def test_every_receiver_hears_of_the_drift_one_rollback_runs_and_the_gate_fails_the_canary(run: Run) -> None:
    wait_until(lambda: run.webhook.requests and run.rollback.requests and run.pagerduty.requests, timeout=60)
    verified = [standardwebhooks.Webhook(SECRET).verify(r.body, r.headers) for r in run.webhook.requests]  # independent check
    drift_alerts = [alert for payload in verified for alert in payload["data"]["alerts"] if alert["alertname"] == "FeatureDrift"]
    assert drift_alerts
    assert {(a["labels"]["version"], a["labels"]["feature"]) for a in drift_alerts} <= {("v2", f) for f in DRIFTED_FEATURES}

    events = [r.json() for r in run.pagerduty.requests]
    triggers = [e for e in events if e["event_action"] == "trigger" and e["payload"]["class"] == "FeatureDrift"]
    assert triggers, events
    assert {e["routing_key"] for e in events} == {ROUTING_KEY}
    assert all(e["dedup_key"] and e["payload"]["severity"] in ("critical", "error", "warning", "info") for e in events)

    routed = wait_until(lambda: [r.json() for r in run.alertmanager.requests if r.path == "/am"], timeout=60)
    names = {alert["labels"]["alertname"] for group in routed for alert in group["alerts"]}
    assert "FeatureDrift" in names

    assert len(run.rollback.requests) == 1
    assert run.rollback.requests[0].json() == {"model": MODEL, "version": "v2"}
    audit = run.get("/api/v1/actions", limit=100)["items"]
    assert [a["decision"] for a in audit].count("run") == 1, audit

    canary = run.get(f"/api/v1/gates/{MODEL}", version="v2", baseline="v1")
    stable = run.get(f"/api/v1/gates/{MODEL}", version="v1", baseline="v2")
    assert canary["ok"] is False, canary
    assert stable["ok"] is not False, stable
    assert not any(reason.startswith("fail drift") for reason in stable["reasons"]), stable


def test_metrics_carry_drift_quality_gpu_kpi_and_alert_series(run: Run) -> None:
    samples = scrape(run.server.url)
    names = {key.split("{", 1)[0] for key in samples}
    for name in (
        "driftline_feature_drift_score",
        "driftline_feature_drift_detected",
        "driftline_model_quality",
        "driftline_gpu_utilization_ratio",
        "driftline_gpu_memory_used_bytes",
        "driftline_kpi_value",
        "driftline_alerts_firing",
        "driftline_model_gpu_seconds_per_1k_predictions",
    ):
        assert name in names, name
    assert samples[f'driftline_feature_drift_detected{{feature="income",model="{MODEL}",version="v2"}}'] == 1.0
    assert samples[f'driftline_feature_drift_detected{{feature="income",model="{MODEL}",version="v1"}}'] == 0.0
    assert samples['driftline_kpi_value{kpi="expected_loss_per_hour"}'] > 0
    assert samples['driftline_alerts_firing{alertname="FeatureDrift",severity="warning"}'] >= 1


def test_the_dashboard_shows_the_incident(run: Run) -> None:
    overview = texts(run_page("overview", run.server.url))
    assert f"**{MODEL} v2** is drifting on `employment`, `income` (2 of 12 features)" in overview, overview
    assert f"**{MODEL} v1** is drifting" not in overview
    drift = run_page("drift", run.server.url, model=MODEL, version="v2")
    assert not drift.exception
    ranked = drift.dataframe[0].value
    assert set(ranked[ranked["verdict"].astype(str).str.contains("drift", case=False)]["feature"]) >= set(DRIFTED_FEATURES)
