"""PagerDuty Events API v2: one ``trigger`` or ``resolve`` event per alert.

``dedup_key`` is the alert's fingerprint, so PagerDuty folds repeats of one alert
into one incident and a ``resolve`` closes it. The API takes one event per
request: a notification of several alerts is sent alert by alert and the first
failure is returned; when the outbox retries, the alerts already accepted are
sent again and PagerDuty deduplicates them by ``dedup_key``.

References: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import Field, HttpUrl, SecretStr

from alerts._render import json_bytes, rfc3339
from alerts._spec import Spec, parse_spec
from alerts.model import Alert, Notification, Result
from alerts.notifiers._base import HttpNotifier

__all__ = ["DEFAULT_URL", "PagerDutyNotifier", "PagerDutySpec", "event"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
_SUMMARY_MAX = 1024  # PagerDuty truncates beyond this


def event(alert: Alert, routing_key: str, *, source: str | None = None) -> dict[str, Any]:
    """The Events API v2 body for ``alert``: ``trigger`` while firing, ``resolve`` once resolved.

    The severity maps onto PagerDuty's four (unknown ones become ``warning``); the
    evidence, value, labels and annotations go to ``custom_details``.

    >>> a = Alert("fp1", "FeatureDrift", "firing", "critical", {"model": "churn"}, {"summary": "drift"}, 0.0,
    ...           value=0.4, evidence={"feature": "income"})
    >>> e = event(a, "R0UT1NGKEY")
    >>> e["event_action"], e["dedup_key"], e["payload"]["severity"], e["payload"]["source"]
    ('trigger', 'fp1', 'critical', 'churn')
    >>> e["payload"]["custom_details"]["evidence"]
    {'feature': 'income'}
    >>> from dataclasses import replace
    >>> sorted(event(replace(a, state="resolved"), "R0UT1NGKEY"))
    ['dedup_key', 'event_action', 'routing_key']
    """
    if alert.state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.fingerprint}
    summary = alert.annotations.get("summary") or alert.alertname
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.fingerprint,
        "payload": {
            "summary": summary[:_SUMMARY_MAX],
            "source": source or alert.labels.get("model") or "driftline",
            "severity": alert.severity if alert.severity in _SEVERITIES else "warning",
            "timestamp": rfc3339(alert.starts_at),
            "component": alert.labels.get("model"),
            "group": alert.labels.get("version"),
            "class": alert.alertname,
            "custom_details": {
                "value": alert.value,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "evidence": dict(alert.evidence),
            },
        },
        "client": "Driftline",
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    if alert.generator_url:
        body["client_url"] = alert.generator_url
        body["links"] = [{"href": alert.generator_url, "text": "Open in Driftline"}]
    return body


class PagerDutySpec(Spec):
    """``receivers.<name>`` for ``type: pagerduty``."""

    routing_key: SecretStr = Field(description="The integration key of an Events API v2 integration.")
    url: HttpUrl = Field(HttpUrl(DEFAULT_URL), description="Events API endpoint (a regional or test endpoint).")
    source: str | None = Field(None, description="payload.source; default: the alert's model label, else 'driftline'.")
    timeout_seconds: float = Field(10.0, gt=0, le=300)


class PagerDutyNotifier(HttpNotifier):
    """Sends each alert of a notification as one Events API v2 event."""

    def __init__(self, name: str, spec: PagerDutySpec) -> None:
        super().__init__(name, timeout_s=spec.timeout_seconds)
        self.url = str(spec.url)
        self._routing_key = spec.routing_key
        self.source = spec.source

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> PagerDutyNotifier:
        parsed = parse_spec(PagerDutySpec, spec, f"receivers.{name}")
        if not parsed.routing_key.get_secret_value().strip():
            raise ValueError(f"receivers.{name}.routing_key: must not be empty")
        return PagerDutyNotifier(name, parsed)

    def send(self, batch: Notification) -> Result:
        result = Result(ok=True, detail="no alerts")
        for i, alert in enumerate(batch.alerts):
            body = json_bytes(event(alert, self._routing_key.get_secret_value(), source=self.source))
            result = self._post(self.url, body, {"content-type": "application/json"})
            if not result.ok:
                return replace(result, detail=f"alert {i + 1} of {len(batch.alerts)} ({alert.fingerprint}): {result.detail}")
        return result
