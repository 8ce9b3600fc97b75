"""The values that flow from the alert engine to notifiers and rollback actions.

The engine (rules, lifecycle, outbox) produces :class:`Notification` batches;
each notifier turns one into its receiver's wire format and answers with a
:class:`Result`. Nothing here does I/O, so notifiers and actions can be tested
with plain values and an in-memory double.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Action", "Alert", "AlertState", "Notification", "Notifier", "Result", "Severity"]

AlertState = Literal["firing", "resolved"]
Severity = Literal["critical", "error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance, identified by the fingerprint of its rule and labels."""

    fingerprint: str
    alertname: str
    state: AlertState
    severity: Severity
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # "summary", "description", rendered
    starts_at: float  # unix seconds
    ends_at: float | None = None  # set once resolved
    value: float | None = None  # the value that crossed the threshold
    generator_url: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    """A group of alerts sent together to one receiver.

    ``id`` is the idempotency key: it is fixed when the notification enters the
    outbox and stays the same on every retry and after restarts.
    """

    id: str
    receiver: str
    group_key: str
    alerts: tuple[Alert, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class Result:
    """What one delivery attempt achieved."""

    ok: bool
    retryable: bool = False
    detail: str = ""
    status_code: int | None = None
    retry_after: float | None = None  # seconds, from the receiver's Retry-After


class Notifier(Protocol):
    """Delivers notifications to one receiver."""

    name: str

    def send(self, batch: Notification) -> Result: ...

    def shutdown(self) -> None: ...

    def force_flush(self, timeout_s: float = 10.0) -> bool: ...


class Action(Protocol):
    """A rollback step attached to alerts by a policy (HTTP call, Argo Rollouts abort, command)."""

    name: str

    def run(self, alert: Alert, *, dry_run: bool = False) -> Result: ...
