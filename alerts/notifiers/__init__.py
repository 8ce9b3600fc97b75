"""Notifiers: one module per receiver type, built from a receiver's config by :func:`build_notifier`.

=============  ==========================================================
``type``       receiver
=============  ==========================================================
webhook        any HTTP endpoint, signed per Standard Webhooks
slack          a Slack incoming webhook (Block Kit)
pagerduty      PagerDuty Events API v2
alertmanager   Prometheus Alertmanager (``POST /api/v2/alerts``)
memory         in-process test double
=============  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alerts.model import Notifier
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.memory import MemoryNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "MemoryNotifier",
    "PagerDutyNotifier",
    "SlackNotifier",
    "WebhookNotifier",
    "build_notifier",
]

_KINDS: dict[str, Callable[[str, Mapping[str, Any]], Notifier]] = {
    "alertmanager": AlertmanagerNotifier.from_spec,
    "memory": lambda name, _spec: MemoryNotifier(name),
    "pagerduty": PagerDutyNotifier.from_spec,
    "slack": SlackNotifier.from_spec,
    "webhook": WebhookNotifier.from_spec,
}


def build_notifier(name: str, spec: Mapping[str, Any]) -> Notifier:
    """Build the notifier a receiver's config describes (``spec["type"]`` selects the kind).

    Raises :class:`ValueError` naming the receiver, the field and the rule it breaks.

    >>> build_notifier("ops", {"type": "memory"}).name
    'ops'
    >>> build_notifier("ops", {"type": "carrier-pigeon"})
    Traceback (most recent call last):
    ...
    ValueError: receivers.ops.type: unknown receiver type 'carrier-pigeon' (known: alertmanager, memory, ...)
    >>> build_notifier("ops", {"type": "webhook", "url": "https://example.com/hook", "secret": "hunter2"})
    Traceback (most recent call last):
    ...
    ValueError: receivers.ops.secret: Value error, must be written whsec_<base64>
    """
    kind = spec.get("type")
    factory = _KINDS.get(kind) if isinstance(kind, str) else None
    if factory is None:
        raise ValueError(f"receivers.{name}.type: unknown receiver type {kind!r} (known: {', '.join(sorted(_KINDS))})")
    return factory(name, spec)
