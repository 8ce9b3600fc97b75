"""The alert engine inside the server: its value source, its receivers and its schedule.

Rules read current values from :class:`RegistryValues`, i.e. from exactly what
``/metrics`` would show at that moment, so every family that any part of Driftline
exposes is selectable by its sample name without further code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from alerts.actions import build_action
from alerts.engine import AlertEngine
from alerts.model import Action, Notifier
from alerts.notifiers import build_notifier
from alerts.outbox import Outbox
from alerts.rules import DEFAULT_RULES, AlertsConfig, Route, effective_rules
from alerts.source import Sample
from monitor.settings import Settings

__all__ = ["QUICK_RECEIVER", "Alerting", "RegistryValues"]

log = logging.getLogger(__name__)
QUICK_RECEIVER = "webhook"


@dataclass(frozen=True, slots=True)
class RegistryValues:
    """Every sample of a Prometheus registry, read at call time (a :class:`~alerts.source.ValueSource`)."""

    registry: CollectorRegistry

    def samples(self) -> Iterator[Sample]:
        for family in self.registry.collect():
            for sample in family.samples:
                yield Sample(sample.name, sample.labels, float(sample.value))


@dataclass
class Alerting:
    """The engine, its outbox and the evaluation thread."""

    engine: AlertEngine
    outbox: Outbox
    interval: float
    enabled: bool = True
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @staticmethod
    def build(
        settings: Settings,
        db: Engine,
        registry: CollectorRegistry,
        *,
        clock: Callable[[], float] = time.time,
        notifiers: dict[str, Notifier] | None = None,
    ) -> Alerting:
        """Wire rules, receivers (plus the quick-path webhook) and policies from settings.

        ``notifiers`` replaces the receivers built from the config (tests pass in-memory ones).
        """
        config = settings.alerts or AlertsConfig()
        routes = list(config.routes) or [Route(receiver=name) for name in config.receivers]
        if notifiers is None:
            notifiers = {name: build_notifier(name, spec.spec()) for name, spec in config.receivers.items()}
        if settings.webhook_url is not None and settings.webhook_secret is not None and QUICK_RECEIVER not in config.receivers:
            spec = {"type": "webhook", "url": settings.webhook_url, "secret": settings.webhook_secret.get_secret_value()}
            notifiers.setdefault(QUICK_RECEIVER, build_notifier(QUICK_RECEIVER, spec))
            defaults = "|".join(rule.name for rule in DEFAULT_RULES)
            routes.append(Route.model_validate({"receiver": QUICK_RECEIVER, "matchers": [f'alertname=~"{defaults}"']}))
        actions: dict[str, Action] = {
            policy.name: build_action(policy.name, policy.action) for policy in config.policies.values()
        }
        outbox = Outbox(
            db,
            notifiers,
            actions,
            deadline=config.delivery_deadline,
            backoff_initial=config.backoff_initial,
            backoff_max=config.backoff_max,
            clock=clock,
        )
        # Receivers that must hear about firing alerts regularly (Alertmanager) say how often.
        resend = {name: float(getattr(n, "resend_interval_seconds", 0.0)) for name, n in notifiers.items()}
        engine = AlertEngine(
            db,
            effective_rules(config),
            RegistryValues(registry),
            outbox,
            routes=routes,
            policies=tuple(config.policies.values()),
            actions=actions,
            receiver_repeat={name: seconds for name, seconds in resend.items() if seconds > 0},
            clock=clock,
        )
        return Alerting(engine, outbox, config.evaluation_interval, config.enabled)

    def start(self) -> None:
        """Restore alert state, start delivering, and evaluate every ``interval`` seconds (when enabled)."""
        if not self.enabled:
            return
        self.engine.load()
        self.outbox.start()
        self._tick()  # before the server takes requests: counters seen later count from zero
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="driftline-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.outbox.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def _tick(self) -> None:
        try:
            self.engine.evaluate()
        except Exception:  # a failed evaluation is retried at the next tick; detection goes on
            self.errors += 1
            log.exception("alert evaluation failed")
