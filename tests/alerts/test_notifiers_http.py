"""Webhook, Slack and PagerDuty notifiers against a local receiver; signatures checked by `standardwebhooks`."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import numpy as np
import pytest
from http_fakes import Built, FakeReceiver, Reply
from standardwebhooks import Webhook, WebhookVerificationError

from alerts.model import Alert, Notification
from alerts.notifiers import PagerDutyNotifier, SlackNotifier, WebhookNotifier, build_notifier
from support import free_port


@pytest.fixture
def built() -> Iterator[Built]:
    with Built() as builder:
        yield builder


OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()

DRIFT = Alert(
    fingerprint="fp-drift-1",
    alertname="FeatureDrift",
    state="firing",
    severity="critical",
    labels={"model": "churn", "version": "v2", "feature": "income"},
    annotations={"summary": "income drifted on churn v2", "description": "KS 0.31 > 0.1"},
    starts_at=1_700_000_000.0,
    value=0.31,
    generator_url="http://driftline.example/models/churn",
    evidence={"test": "ks", "statistic": 0.31, "p_value": 1e-9, "n": 1200},
)
QUALITY = Alert(
    "fp-quality-2", "QualityDrop", "firing", "error", {"model": "churn"}, {"summary": "accuracy 0.71"}, 1_700_000_100.0
)


def batch(*alerts: Alert, nid: str = "msg_2Ys7a1") -> Notification:
    return Notification(
        id=nid, receiver="hook", group_key="{}:{alertname=FeatureDrift}", alerts=alerts, created_at=1_700_000_200.0
    )


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    with FakeReceiver() as fake:
        yield fake


@pytest.fixture
def webhook(built: Callable[..., Any]) -> Callable[..., WebhookNotifier]:
    def make(url: str, **spec: object) -> WebhookNotifier:
        notifier = built(build_notifier, "hook", {"type": "webhook", "url": url, **spec})
        assert isinstance(notifier, WebhookNotifier)
        return notifier

    return make


Make = Callable[..., Any]


def test_webhook_signature_verifies_with_the_standard_webhooks_package(receiver: FakeReceiver, webhook: Make) -> None:
    notifier = webhook(receiver.url + "/hook", secret=OLD, headers={"x-team": "ml"})
    result = notifier.send(batch(DRIFT, QUALITY))
    assert result.ok
    assert result.status_code == 200
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["x-team"] == "ml"
    assert request.headers["webhook-id"] == "msg_2Ys7a1"
    payload = Webhook(OLD).verify(request.body, request.headers)
    assert payload["type"] == "alert.firing"
    assert payload["data"]["id"] == "msg_2Ys7a1"
    assert [a["fingerprint"] for a in payload["data"]["alerts"]] == ["fp-drift-1", "fp-quality-2"]
    assert payload["data"]["alerts"][0]["evidence"]["statistic"] == 0.31
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(request.body, request.headers)


def test_webhook_carries_numpy_evidence(receiver: FakeReceiver, webhook: Make) -> None:
    evidence = {"statistic": np.float64(0.25), "n": np.int64(900), "bins": np.array([0.1, 0.9])}
    alert = Alert("fp-np", "FeatureDrift", "firing", "warning", {}, {}, 0.0, evidence=evidence)
    assert webhook(receiver.url, secret=OLD).send(batch(alert)).ok
    [request] = receiver.requests
    sent = Webhook(OLD).verify(request.body, request.headers)["data"]["alerts"][0]["evidence"]
    assert sent == {"statistic": 0.25, "n": 900, "bins": [0.1, 0.9]}


def test_webhook_tampered_body_fails_verification(receiver: FakeReceiver, webhook: Make) -> None:
    webhook(receiver.url, secret=OLD).send(batch(DRIFT))
    [request] = receiver.requests
    tampered = request.body.replace(b"critical", b"info")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(tampered, request.headers)


def test_webhook_key_rotation_signs_with_every_secret(receiver: FakeReceiver, webhook: Make) -> None:
    webhook(receiver.url, secret=OLD, secrets=[NEW]).send(batch(DRIFT))
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (OLD, NEW):  # a receiver holding either key accepts the request
        assert Webhook(secret).verify(request.body, request.headers)["data"]["status"] == "firing"
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(request.body, request.headers)


def test_webhook_retry_keeps_the_id_and_signs_a_fresh_timestamp(receiver: FakeReceiver, webhook: Make) -> None:
    times = iter([1_700_000_000.0, 1_700_000_030.0])
    notifier = webhook(receiver.url, secret=OLD)
    notifier._clock = lambda: next(times)
    receiver.script(Reply(503, {"Retry-After": "2"}))
    first, second = notifier.send(batch(DRIFT)), notifier.send(batch(DRIFT))
    assert (first.ok, first.retryable, first.retry_after, second.ok) == (False, True, 2.0, True)
    a, b = receiver.requests
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == "msg_2Ys7a1"
    assert (a.headers["webhook-timestamp"], b.headers["webhook-timestamp"]) == ("1700000000", "1700000030")
    assert a.headers["webhook-signature"] != b.headers["webhook-signature"]


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after"),
    [
        (Reply(503, {"Retry-After": "7"}), True, 7.0),
        (Reply(429, {"Retry-After": formatdate(2_000_000_000, usegmt=True)}), True, "future"),
        (Reply(429), True, None),
        (Reply(502), True, None),
        (Reply(400, body=b"missing field"), False, None),
        (Reply(404), False, None),
    ],
)
def test_status_classification(receiver: FakeReceiver, webhook: Make, reply: Reply, retryable: bool, retry_after: object) -> None:
    receiver.script(reply)
    result = webhook(receiver.url, secret=OLD).send(batch(DRIFT))
    assert (result.ok, result.retryable, result.status_code) == (False, retryable, reply.status)
    if retry_after == "future":  # an HTTP-date Retry-After becomes seconds from now
        assert result.retry_after is not None
        assert result.retry_after > 1_000_000
    else:
        assert result.retry_after == retry_after
    assert str(reply.status) in result.detail


def test_connection_refused_and_timeout_are_retryable(receiver: FakeReceiver, webhook: Make) -> None:
    refused = webhook(f"http://127.0.0.1:{free_port()}/hook", secret=OLD).send(batch(DRIFT))
    assert (refused.ok, refused.retryable, refused.status_code) == (False, True, None)
    assert "connection error" in refused.detail
    receiver.script(Reply(200, delay_s=1.0))
    slow = webhook(receiver.url, secret=OLD, timeout_seconds=0.2).send(batch(DRIFT))
    assert (slow.ok, slow.retryable, slow.detail) == (False, True, "timeout: ReadTimeout")


def test_send_after_shutdown_is_retryable_and_calls_nothing(receiver: FakeReceiver, webhook: Make) -> None:
    notifier = webhook(receiver.url, secret=OLD)
    notifier.shutdown()
    result = notifier.send(batch(DRIFT))
    assert (result.ok, result.retryable) == (False, True)
    assert notifier.force_flush() is True
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "http://x"}, "receivers.hook.secret: a whsec_ signing secret is required"),
        (
            {"url": "http://x", "secret": "whsec_c2hvcnQ="},
            "receivers.hook.secret: Value error, must decode to 24-64 bytes, got 5",
        ),
        ({"url": "http://x", "secrets": [OLD, "plain"]}, "receivers.hook.secrets.1: Value error, must be written whsec_<base64>"),
        ({"url": "not a url", "secret": OLD}, "receivers.hook.url: Input should be a valid URL"),
        ({"url": "http://x", "secret": OLD, "retries": 3}, "receivers.hook.retries: Extra inputs are not permitted"),
        (
            {"url": "http://x", "secret": OLD, "timeout_seconds": 0},
            "receivers.hook.timeout_seconds: Input should be greater than 0",
        ),
    ],
)
def test_webhook_spec_errors_name_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        build_notifier("hook", {"type": "webhook", **spec})


def test_slack_message_has_blocks_and_a_fallback_text(receiver: FakeReceiver, built: Make) -> None:
    notifier = built(build_notifier, "chat", {"type": "slack", "url": receiver.url + "/services/T0/B0/XYZ", "max_alerts": 1})
    assert isinstance(notifier, SlackNotifier)
    assert notifier.send(batch(DRIFT, QUALITY)).ok
    [request] = receiver.requests
    assert request.path == "/services/T0/B0/XYZ"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["text"] == "[FIRING:2] FeatureDrift, QualityDrop: income drifted on churn v2 (+1 more)"
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context", "context"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "FIRING:2 FeatureDrift, QualityDrop"}
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert section["text"].splitlines() == [
        "*income drifted on churn v2*  `critical`",
        "KS 0.31 &gt; 0.1",
        "`feature=income` `model=churn` `version=v2`",
        "<http://driftline.example/models/churn|Open in Driftline>",
    ]
    assert body["blocks"][2]["elements"][0]["text"] == "and 1 more alert(s)"


def test_slack_url_is_a_secret(caplog: pytest.LogCaptureFixture, built: Make) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/SECRETPART"
    notifier = built(build_notifier, "chat", {"type": "slack", "url": url})
    with caplog.at_level(logging.DEBUG):
        result = notifier.send(batch(DRIFT))
    assert result.retryable
    assert "SECRETPART" not in result.detail
    assert "SECRETPART" not in caplog.text
    assert "SECRETPART" not in repr(notifier.__dict__)


def test_pagerduty_trigger_and_resolve_events(receiver: FakeReceiver, built: Make) -> None:
    receiver.default = Reply(202, body=b'{"status":"success","dedup_key":"x"}')
    notifier = built(
        build_notifier, "pager", {"type": "pagerduty", "routing_key": "R0UTINGKEY0123456789", "url": receiver.url + "/v2/enqueue"}
    )
    assert isinstance(notifier, PagerDutyNotifier)
    info = Alert("fp-info", "KpiAnomaly", "firing", "info", {}, {}, 1_700_000_000.0)
    assert notifier.send(batch(DRIFT, info)).ok
    resolved = Alert(**{**{f: getattr(DRIFT, f) for f in DRIFT.__slots__}, "state": "resolved", "ends_at": 1_700_000_900.0})
    assert notifier.send(batch(resolved)).ok
    trigger, trigger_info, resolve = (r.json() for r in receiver.wait_for(3))
    assert all(r.path == "/v2/enqueue" for r in receiver.requests)
    assert trigger == {
        "routing_key": "R0UTINGKEY0123456789",
        "event_action": "trigger",
        "dedup_key": "fp-drift-1",
        "payload": {
            "summary": "income drifted on churn v2",
            "source": "churn",
            "severity": "critical",
            "timestamp": "2023-11-14T22:13:20.000Z",
            "component": "churn",
            "group": "v2",
            "class": "FeatureDrift",
            "custom_details": {
                "value": 0.31,
                "labels": {"model": "churn", "version": "v2", "feature": "income"},
                "annotations": {"summary": "income drifted on churn v2", "description": "KS 0.31 > 0.1"},
                "evidence": {"test": "ks", "statistic": 0.31, "p_value": 1e-9, "n": 1200},
            },
        },
        "client": "Driftline",
        "client_url": "http://driftline.example/models/churn",
        "links": [{"href": "http://driftline.example/models/churn", "text": "Open in Driftline"}],
    }
    assert (trigger_info["payload"]["severity"], trigger_info["payload"]["source"]) == ("info", "driftline")
    assert resolve == {"routing_key": "R0UTINGKEY0123456789", "event_action": "resolve", "dedup_key": "fp-drift-1"}


def test_pagerduty_reports_which_alert_failed(receiver: FakeReceiver, built: Make) -> None:
    receiver.script(Reply(202), Reply(400, body=b'{"status":"invalid event"}'))
    notifier = built(build_notifier, "pager", {"type": "pagerduty", "routing_key": "KEY", "url": receiver.url})
    result = notifier.send(batch(DRIFT, QUALITY))
    assert (result.ok, result.retryable, result.status_code) == (False, False, 400)
    assert result.detail.startswith("alert 2 of 2 (fp-quality-2): HTTP 400")
    assert "KEY" not in result.detail


def test_pagerduty_spec_errors() -> None:
    with pytest.raises(ValueError, match=r"^receivers.pager.routing_key: Field required"):
        build_notifier("pager", {"type": "pagerduty"})
    with pytest.raises(ValueError, match=r"^receivers.pager.routing_key: must not be empty"):
        build_notifier("pager", {"type": "pagerduty", "routing_key": " "})
    with pytest.raises(ValueError, match=r"^receivers.chat.url: Value error, must be an http\(s\) URL"):
        build_notifier("chat", {"type": "slack", "url": "hooks.slack.com/services/x"})
