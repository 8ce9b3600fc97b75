"""Alerts in a running server: a real rejection fires the default rule end to end, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import numpy as np
import pytest
from alert_support import SECRET, Receiver

import monitor.alerting
import monitor.settings
from alerts.model import Notifier, Result
from alerts.notifiers.memory import MemoryNotifier
from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up, wait_until

ALERTS = {
    "evaluation_interval": 0.05,
    "backoff_initial": 0.05,
    "receivers": {"ops": {"type": "memory"}, "broken": {"type": "memory"}},
    "routes": [{"receiver": "ops"}, {"receiver": "broken", "matchers": ['severity="warning"']}],
    "policies": {"note": {"matchers": ['alertname="IngestRejections"'], "action": {"type": "record"}}},
}


def reject_one(url: str) -> None:
    response = httpx.post(f"{url}/v1/logs", content=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 415


@pytest.fixture
def server(sqlite_url: str) -> Iterator[ServerThread]:
    settings = Settings(db_url=sqlite_url, port=0, alerts=ALERTS, admin_token="adm1n")  # type: ignore[arg-type]
    with ServerThread(settings) as running:
        yield running


def test_rejection_fires_notifies_acts_and_shows_in_api_and_metrics(server: ServerThread) -> None:
    outbox = server.runtime.alerting.outbox
    ops: MemoryNotifier = outbox.notifiers["ops"]
    outbox.notifiers["broken"].fail_next(Result(ok=False, retryable=False, status_code=410, detail="gone"))
    reject_one(server.url)

    wait_until(lambda: ops.sent, timeout=30)
    (alert,) = ops.sent[0].alerts
    assert (alert.alertname, alert.state, alert.labels["reason"]) == ("IngestRejections", "firing", "unsupported_media_type")
    assert alert.annotations["summary"] == "logs records rejected: unsupported_media_type"
    assert ops.sent[0].id.startswith("msg_")

    body = httpx.get(f"{server.url}/api/v1/alerts", params={"state": "firing", "label": "signal:logs"}).json()
    assert body["total"] == 1
    assert body["items"][0]["alertname"] == "IngestRejections"
    assert httpx.get(f"{server.url}/api/v1/alerts", params={"label": "signal:traces"}).json()["total"] == 0

    metrics = scrape(server.url)
    assert metrics['driftline_alerts_firing{alertname="IngestRejections",severity="warning"}'] == 1.0
    assert metrics['driftline_alerts_firing{alertname="FeatureDrift",severity="warning"}'] == 0.0

    actions = wait_until(lambda: [a for a in httpx.get(f"{server.url}/api/v1/actions").json()["items"] if a["result"] == "ok"])
    assert (actions[0]["policy"], actions[0]["decision"], actions[0]["alertname"]) == ("note", "run", "IngestRejections")
    assert actions[0]["trigger"].startswith("rule IngestRejections started firing")
    assert server.runtime.alerting.outbox.actions["note"].runs[0].fingerprint == alert.fingerprint

    dead = wait_until(lambda: httpx.get(f"{server.url}/api/v1/outbox", params={"state": "dead"}).json()["items"])
    assert (dead[0]["target"], dead[0]["last_status"], dead[0]["last_error"]) == ("broken", 410, "gone")
    assert "payload" not in dead[0]
    assert scrape(server.url)["driftline_outbox_dead_total{}"] == 1.0


def test_silences_api(server: ServerThread) -> None:
    admin = {"Authorization": "Bearer adm1n"}
    silence = {"matchers": ['alertname="IngestRejections"'], "duration": "1h", "created_by": "oncall", "comment": "known"}
    assert httpx.post(f"{server.url}/api/v1/silences", json=silence).status_code == 401
    bad = httpx.post(f"{server.url}/api/v1/silences", json=silence | {"matchers": ["alertname is x"]}, headers=admin)
    assert bad.status_code == 422
    assert "matcher 'alertname is x'" in bad.json()["detail"]
    both = httpx.post(f"{server.url}/api/v1/silences", json=silence | {"ends_at": 1.0}, headers=admin)
    assert both.status_code == 422
    created = httpx.post(f"{server.url}/api/v1/silences", json=silence, headers=admin)
    assert created.status_code == 201
    sid = created.json()["id"]
    assert created.json()["ends_at"] - created.json()["starts_at"] == 3600.0

    ops: MemoryNotifier = server.runtime.alerting.outbox.notifiers["ops"]
    reject_one(server.url)
    firing = wait_until(lambda: httpx.get(f"{server.url}/api/v1/alerts", params={"state": "firing"}).json()["items"])
    assert firing[0]["silenced"] is True
    assert ops.sent == []  # silenced: evaluated, stored, not notified
    assert httpx.get(f"{server.url}/api/v1/actions").json()["total"] == 0  # and not acted on

    listed = httpx.get(f"{server.url}/api/v1/silences").json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert httpx.delete(f"{server.url}/api/v1/silences/{sid}", headers=admin).status_code == 204
    assert httpx.delete(f"{server.url}/api/v1/silences/{sid}", headers=admin).status_code == 404
    assert httpx.get(f"{server.url}/api/v1/silences").json()["total"] == 0
    assert httpx.get(f"{server.url}/api/v1/silences", params={"include_expired": True}).json()["total"] == 1
    wait_until(lambda: ops.sent, timeout=30)  # the silence is gone: the still-firing alert is notified


def test_quick_path_routes_default_rules_to_a_webhook(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Mapping[str, Any]] = {}
    real = monitor.alerting.build_notifier

    def fake_webhook(name: str, spec: Mapping[str, Any]) -> Notifier:
        if spec["type"] != "webhook":
            return real(name, spec)
        built[name] = spec
        return MemoryNotifier(name)

    monkeypatch.setattr(monitor.alerting, "build_notifier", fake_webhook)
    monkeypatch.setattr(monitor.settings, "build_notifier", fake_webhook)
    settings = Settings(
        db_url=sqlite_url,
        port=0,
        webhook_url="http://127.0.0.1:9/hooks/driftline",
        webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # type: ignore[arg-type]
        alerts={
            "evaluation_interval": 0.05,
            "rules": [{"name": "Mine", "metric": "driftline_ingest_rejected_total", "threshold": 0}],
        },  # type: ignore[arg-type]
    )
    with ServerThread(settings) as server:
        reject_one(server.url)
        hook: MemoryNotifier = server.runtime.alerting.outbox.notifiers["webhook"]
        wait_until(lambda: hook.sent, timeout=30)
        wait_until(lambda: httpx.get(f"{server.url}/api/v1/alerts", params={"alertname": "Mine"}).json()["total"])
    assert built == {  # checked once by the settings, then built by the server
        "webhook": {
            "type": "webhook",
            "url": "http://127.0.0.1:9/hooks/driftline",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
    }
    assert {a.alertname for n in hook.sent for a in n.alerts} == {"IngestRejections"}  # default rules only, not "Mine"


def test_a_replica_with_alerting_disabled_serves_the_api_only(sqlite_url: str) -> None:
    settings = Settings(db_url=sqlite_url, port=0, alerts={"enabled": False})  # type: ignore[arg-type]
    with ServerThread(settings) as server:
        assert server.runtime.alerting._thread is None
        assert httpx.get(f"{server.url}/api/v1/alerts").json()["total"] == 0
        assert scrape(server.url)['driftline_alerts_firing{alertname="FeatureDrift",severity="warning"}'] == 0.0


def test_alert_history_pages(server: ServerThread) -> None:
    reject_one(server.url)
    garbage = httpx.post(f"{server.url}/v1/logs", content=b"\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert garbage.status_code == 400
    url = f"{server.url}/api/v1/alerts"
    wait_until(lambda: httpx.get(url, params={"state": "firing"}).json()["total"] == 2)
    first = httpx.get(url, params={"limit": 1}).json()
    second = httpx.get(url, params={"limit": 1, "offset": 1}).json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (2, 1, 1)
    assert {first["items"][0]["labels"]["reason"], second["items"][0]["labels"]["reason"]} == {
        "unsupported_media_type",
        "invalid_protobuf",
    }
    by_label = httpx.get(url, params={"label": ["signal:logs", "reason:invalid_protobuf"], "limit": 1, "offset": 0}).json()
    assert by_label["total"] == 1
    assert by_label["items"][0]["labels"]["reason"] == "invalid_protobuf"
    assert httpx.get(url, params={"label": "reason"}).status_code == 422


def test_quick_path_sends_a_signed_webhook(sqlite_url: str, receiver: Receiver) -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    receiver.down = False
    settings = Settings(
        db_url=sqlite_url,
        port=0,
        webhook_url=receiver.url,
        webhook_secret=SECRET,  # type: ignore[arg-type]
        alerts={"evaluation_interval": 0.05},  # type: ignore[arg-type]
    )
    with ServerThread(settings) as server:
        reject_one(server.url)
        wait_until(lambda: receiver.requests)
    headers, body = receiver.requests[0]
    payload = standardwebhooks.Webhook(SECRET).verify(body, headers)  # an independent implementation
    assert headers["webhook-id"] == receiver.accepted[0]
    assert [a["alertname"] for a in payload["data"]["alerts"]] == ["IngestRejections"]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(body.replace(b"IngestRejections", b"IngestRejectionz"), headers)


def test_injected_drift_fires_feature_drift_notifies_and_rolls_back_once(sqlite_url: str) -> None:
    config = {
        "evaluation_interval": 0.05,
        "receivers": {"ops": {"type": "memory"}},
        "policies": {
            "abort": {"matchers": ['alertname="FeatureDrift"'], "scope": ["model", "version"], "action": {"type": "record"}}
        },
    }
    rng = np.random.default_rng(7)
    reference = "income,age\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in zip(rng.normal(0, 1, 800), rng.normal(40, 5, 800)))
    now = time.time()
    events = {
        "model": "fraud",
        "version": "v2",
        "timestamps": [now - 30.0] * 400,
        "prediction_ids": [f"p{i}" for i in range(400)],
        "predictions": [0] * 400,
        "features": {"income": rng.normal(2.0, 1, 400).tolist(), "age": rng.normal(40, 5, 400).tolist()},
    }
    with ServerThread(Settings(db_url=sqlite_url, port=0, alerts=config)) as server:  # type: ignore[arg-type]
        put = httpx.put(
            f"{server.url}/api/v1/models/fraud/versions/v2/reference", content=reference, headers={"Content-Type": "text/csv"}
        )
        assert put.status_code == 200
        assert httpx.post(f"{server.url}/api/v1/events", json=events, timeout=30).json()["accepted"] == 400
        wait_caught_up(server.url)
        drift = httpx.post(f"{server.url}/api/v1/models/fraud/evaluate", params={"version": "v2"}, timeout=60).json()
        assert {r["feature"]: r["drift_detected"] for r in drift["results"]} == {"income": True, "age": False}

        ops: MemoryNotifier = server.runtime.alerting.outbox.notifiers["ops"]
        wait_until(lambda: ops.sent)
        actions = wait_until(lambda: httpx.get(f"{server.url}/api/v1/actions", params={"decision": "run"}).json()["items"])
        metrics = scrape(server.url)
    (alert,) = ops.sent[0].alerts
    assert (alert.alertname, alert.labels["model"], alert.labels["version"], alert.labels["feature"]) == (
        "FeatureDrift",
        "fraud",
        "v2",
        "income",
    )
    assert alert.annotations["summary"] == "Drift on feature income of fraud v2"
    assert [(a["policy"], a["scope"], a["fingerprint"]) for a in actions] == [
        ("abort", "model=fraud,version=v2", alert.fingerprint)
    ]
    assert metrics['driftline_alerts_firing{alertname="FeatureDrift",severity="warning"}'] == 1.0
