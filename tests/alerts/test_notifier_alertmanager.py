"""A real Alertmanager receives Driftline's alerts and routes them through its own webhook; resolve flows through."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_fakes import Built, FakeReceiver, Received, running_alertmanager

from alerts.model import Alert, Notification
from alerts.notifiers import AlertmanagerNotifier, build_notifier


@pytest.fixture
def built() -> Iterator[Built]:
    with Built() as builder:
        yield builder


Make = Callable[..., Any]
STARTS = time.time() - 30
DRIFT = Alert(
    fingerprint="fp-drift-1",
    alertname="FeatureDrift",
    state="firing",
    severity="critical",
    labels={"model": "churn", "version": "v2", "ml.feature": "income"},
    annotations={"summary": "income drifted on churn v2"},
    starts_at=STARTS,
    value=0.31,
    generator_url="http://driftline.example/models/churn",
)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, FakeReceiver]]:
    with FakeReceiver() as receiver, running_alertmanager(tmp_path, f"{receiver.url}/am") as url:
        yield url, receiver


def deliveries(receiver: FakeReceiver, status: str, timeout: float = 30.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in list(receiver.requests):
            if request.path == "/am" and request.json()["status"] == status:
                return request
        time.sleep(0.05)
    raise AssertionError(f"no {status} webhook from alertmanager; got {[r.body for r in receiver.requests]}")


def test_alert_reaches_alertmanager_webhook_and_resolves(alertmanager: tuple[str, FakeReceiver], built: Make) -> None:
    url, receiver = alertmanager
    notifier = built(build_notifier, "am", {"type": "alertmanager", "url": url, "resend_interval_seconds": 30})
    assert isinstance(notifier, AlertmanagerNotifier)
    sent_at = time.time()
    result = notifier.send(Notification("n1", "am", "g", (DRIFT,), sent_at))
    assert result.ok, result.detail

    firing = deliveries(receiver, "firing").json()
    [alert] = firing["alerts"]
    assert alert["labels"] == {
        "alertname": "FeatureDrift",
        "severity": "critical",
        "model": "churn",
        "version": "v2",
        "ml_feature": "income",
    }
    assert alert["annotations"] == {"summary": "income drifted on churn v2", "value": "0.31"}
    assert alert["generatorURL"] == "http://driftline.example/models/churn"
    assert abs(datetime.fromisoformat(alert["startsAt"]).timestamp() - STARTS) < 0.01

    # The firing alert expires 4 resend intervals after it was pushed unless re-sent.
    [active] = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    ends = datetime.fromisoformat(active["endsAt"]).timestamp()
    assert sent_at + 4 * 30 - 5 < ends < time.time() + 4 * 30 + 5
    assert notifier.resend([DRIFT]).ok  # the engine's periodic refresh pushes the expiry on
    [refreshed] = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    assert datetime.fromisoformat(refreshed["endsAt"]).timestamp() > ends
    assert notifier.resend([replace(DRIFT, state="resolved")]).detail == "no alerts"  # only firing alerts are refreshed

    resolved_at = time.time()
    result = notifier.send(Notification("n2", "am", "g", (replace(DRIFT, state="resolved", ends_at=resolved_at),), resolved_at))
    assert result.ok, result.detail
    resolved = deliveries(receiver, "resolved").json()
    [alert] = resolved["alerts"]
    assert alert["status"] == "resolved"
    assert abs(datetime.fromisoformat(alert["endsAt"]).timestamp() - resolved_at) < 0.01


def test_alertmanager_rejection_is_final(alertmanager: tuple[str, FakeReceiver], built: Make) -> None:
    url, _ = alertmanager
    notifier = built(build_notifier, "am", {"type": "alertmanager", "url": url})
    ends_before_it_starts = replace(DRIFT, state="resolved", ends_at=STARTS - 60)
    result = notifier.send(Notification("n1", "am", "g", (ends_before_it_starts,), time.time()))
    assert (result.ok, result.retryable) == (False, False)
    assert result.status_code in (400, 422)


def test_a_generator_url_alertmanager_would_refuse_is_left_out(alertmanager: tuple[str, FakeReceiver], built: Make) -> None:
    url, receiver = alertmanager
    notifier = built(build_notifier, "am", {"type": "alertmanager", "url": url})
    result = notifier.send(Notification("n1", "am", "g", (replace(DRIFT, generator_url="/models/churn drift"),), time.time()))
    assert result.ok, result.detail
    [alert] = deliveries(receiver, "firing").json()["alerts"]
    assert alert["generatorURL"] == ""


def test_bearer_token_is_sent(built: Make) -> None:
    with FakeReceiver() as fake:
        token = base64.b64encode(b"token").decode()
        notifier = built(build_notifier, "am", {"type": "alertmanager", "url": fake.url + "/base/", "bearer_token": token})
        assert notifier.send(Notification("n1", "am", "g", (DRIFT,), time.time())).ok
        [request] = fake.requests
        assert request.path == "/base/api/v2/alerts"
        assert request.headers["authorization"] == f"Bearer {token}"
        assert isinstance(request.json(), list)
