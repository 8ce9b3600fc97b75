"""Prometheus Alertmanager: ``POST /api/v2/alerts`` with the alerts of a notification.

Alertmanager treats a firing alert as resolved once its ``endsAt`` passes, so a
client must re-send firing alerts before then. Like Prometheus, this notifier
sets ``endsAt`` of a firing alert to *now + 4 * resend interval*; the alert
engine calls :meth:`AlertmanagerNotifier.resend` with every firing alert at
least every ``resend_interval_seconds`` (default 60 s), so three resends may be
lost before Alertmanager expires an alert. A resolved alert is sent once with
its real ``endsAt``.

Alertmanager requires label names matching ``[a-zA-Z_][a-zA-Z0-9_]*``: other
characters (dots in ``ml.model``, say) become ``_``; empty values are dropped.

References: https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, SecretStr

from alerts._render import json_bytes, rfc3339
from alerts._spec import Spec, parse_spec
from alerts.model import Alert, Notification, Result
from alerts.notifiers._base import HttpNotifier

__all__ = ["AlertmanagerNotifier", "AlertmanagerSpec", "postable_alert"]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
EXPIRY_RESENDS = 4  # an unrefreshed firing alert survives this many resend intervals


def _label_name(name: str) -> str:
    cleaned = _INVALID.sub("_", name)
    return "_" + cleaned if not cleaned or cleaned[0].isdigit() else cleaned


def postable_alert(alert: Alert, *, now: float, expires_after: float) -> dict[str, Any]:
    """One element of the ``POST /api/v2/alerts`` array.

    >>> a = Alert("f1", "FeatureDrift", "firing", "warning", {"ml.model": "churn"}, {"summary": "s"}, 0.0, value=0.3)
    >>> doc = postable_alert(a, now=100.0, expires_after=240.0)
    >>> doc["labels"], doc["endsAt"]
    ({'ml_model': 'churn', 'alertname': 'FeatureDrift', 'severity': 'warning'}, '1970-01-01T00:05:40.000Z')
    >>> doc["annotations"]
    {'summary': 's', 'value': '0.3'}
    """
    labels = {_label_name(k): v for k, v in alert.labels.items() if v != ""}
    labels["alertname"] = alert.alertname
    labels["severity"] = alert.severity
    annotations = {k: v for k, v in alert.annotations.items() if v != ""}
    if alert.value is not None:
        annotations["value"] = f"{alert.value:g}"
    resolved_at = now if alert.ends_at is None else alert.ends_at
    ends_at = now + expires_after if alert.state == "firing" else resolved_at
    doc: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    if alert.generator_url and _is_http_url(alert.generator_url):  # Alertmanager refuses the alert otherwise
        doc["generatorURL"] = alert.generator_url
    return doc


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text)


class AlertmanagerSpec(Spec):
    """``receivers.<name>`` for ``type: alertmanager``."""

    url: HttpUrl = Field(description="Alertmanager's base URL, e.g. http://alertmanager:9093.")
    bearer_token: SecretStr | None = Field(None, description="Sent as Authorization: Bearer (behind an auth proxy).")
    resend_interval_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often the engine re-sends firing alerts; they expire after 4 intervals."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=300)


class AlertmanagerNotifier(HttpNotifier):
    """Pushes alerts into Alertmanager's v2 API."""

    def __init__(self, name: str, spec: AlertmanagerSpec, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, timeout_s=spec.timeout_seconds)
        self.url = str(spec.url).rstrip("/") + "/api/v2/alerts"
        self.resend_interval_seconds = spec.resend_interval_seconds
        self._token = spec.bearer_token
        self._clock = clock

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> AlertmanagerNotifier:
        return AlertmanagerNotifier(name, parse_spec(AlertmanagerSpec, spec, f"receivers.{name}"))

    def _push(self, alerts: Sequence[Alert]) -> Result:
        if not alerts:
            return Result(ok=True, detail="no alerts")
        now = self._clock()
        expires = EXPIRY_RESENDS * self.resend_interval_seconds
        body = json_bytes([postable_alert(a, now=now, expires_after=expires) for a in alerts])
        headers = {"content-type": "application/json"}
        if self._token is not None:
            headers["authorization"] = f"Bearer {self._token.get_secret_value()}"
        return self._post(self.url, body, headers)

    def send(self, batch: Notification) -> Result:
        return self._push(batch.alerts)

    def resend(self, alerts: Sequence[Alert]) -> Result:
        """Refresh the firing ones of ``alerts`` (call at least every ``resend_interval_seconds``)."""
        return self._push([a for a in alerts if a.state == "firing"])
