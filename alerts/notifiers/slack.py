"""Slack incoming webhook: Block Kit blocks plus a plain ``text`` fallback.

The webhook URL is itself the credential, so it is held as a secret and never
appears in results or logs. Slack answers 200 ``ok``; 400/403/404/410 (bad
payload, revoked or archived channel) are final, 429 and 5xx are retried.

References: https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, SecretStr, field_validator

from alerts._render import json_bytes
from alerts._spec import Spec, parse_spec
from alerts.model import Alert, Notification, Result
from alerts.notifiers._base import HttpNotifier

__all__ = ["SlackNotifier", "SlackSpec", "message"]

_HEADER_MAX = 150  # Slack's limit for header text
_SECTION_MAX = 3000  # and for a section's text


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(alert: Alert) -> dict[str, Any]:
    title = alert.annotations.get("summary") or alert.alertname
    lines = [f"*{_escape(title)}*  `{alert.severity}`" + ("  (resolved)" if alert.state == "resolved" else "")]
    if description := alert.annotations.get("description"):
        lines.append(_escape(description))
    if alert.labels:
        lines.append(" ".join(f"`{_escape(k)}={_escape(v)}`" for k, v in sorted(alert.labels.items())))
    if alert.generator_url:
        lines.append(f"<{alert.generator_url}|Open in Driftline>")
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), _SECTION_MAX)}}


def message(batch: Notification, *, max_alerts: int = 10) -> dict[str, Any]:
    """The Slack message for ``batch``: a header, one section per alert (up to ``max_alerts``), a footer.

    >>> a = Alert("f1", "FeatureDrift", "firing", "critical", {"model": "churn"}, {"summary": "income drifted"}, 0.0)
    >>> m = message(Notification("n1", "slack", "g1", (a, a), 0.0), max_alerts=1)
    >>> m["text"]
    '[FIRING:2] FeatureDrift: income drifted (+1 more)'
    >>> [b["type"] for b in m["blocks"]]
    ['header', 'section', 'context', 'context']
    """
    firing = [a for a in batch.alerts if a.state == "firing"]
    status = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    names = sorted({a.alertname for a in batch.alerts})
    first = batch.alerts[0] if batch.alerts else None
    summary = (first.annotations.get("summary") or "") if first else ""
    more = f" (+{len(batch.alerts) - 1} more)" if len(batch.alerts) > 1 else ""
    text = f"[{status}] {', '.join(names)}" + (f": {summary}" if summary else "") + more
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{status} {', '.join(names)}", _HEADER_MAX)}}
    ]
    blocks += [_section(a) for a in batch.alerts[:max_alerts]]
    if len(batch.alerts) > max_alerts:
        hidden = len(batch.alerts) - max_alerts
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {hidden} more alert(s)"}]})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Driftline · group `{_escape(batch.group_key)}`"}]}
    )
    return {"text": text, "blocks": blocks}


class SlackSpec(Spec):
    """``receivers.<name>`` for ``type: slack``."""

    url: SecretStr = Field(description="The incoming webhook URL (https://hooks.slack.com/services/…); a secret.")
    max_alerts: int = Field(10, ge=1, le=45, description="Alerts shown as blocks; the rest are counted (Slack allows 50 blocks).")
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class SlackNotifier(HttpNotifier):
    """Posts one message per notification to a Slack incoming webhook."""

    def __init__(self, name: str, spec: SlackSpec) -> None:
        super().__init__(name, timeout_s=spec.timeout_seconds)
        self._url = spec.url
        self.max_alerts = spec.max_alerts

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> SlackNotifier:
        return SlackNotifier(name, parse_spec(SlackSpec, spec, f"receivers.{name}"))

    def send(self, batch: Notification) -> Result:
        body = json_bytes(message(batch, max_alerts=self.max_alerts))
        return self._post(self._url.get_secret_value(), body, {"content-type": "application/json"})
