"""Helpers for alert tests: a settable clock, seeded values, an engine wired as the server wires it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine

from alerts.engine import AlertEngine
from alerts.model import Action, Notifier
from alerts.outbox import Outbox
from alerts.rules import AlertsConfig, Route, effective_rules
from alerts.source import Sample

T = TypeVar("T")


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Values:
    """The current samples, set by each test."""

    current: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)

    def set(self, name: str, value: float | None, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        if value is None:
            self.current.pop(key, None)
        else:
            self.current[key] = value

    def samples(self) -> Iterator[Sample]:
        for (name, labels), value in self.current.items():
            yield Sample(name, dict(labels), value)


def build(
    db: Engine,
    config: Mapping[str, Any],
    values: Values,
    clock: Clock,
    notifiers: Mapping[str, Notifier],
    actions: Mapping[str, Action] | None = None,
    receiver_repeat: Mapping[str, float] | None = None,
) -> tuple[AlertEngine, Outbox]:
    """An engine and outbox as the server wires them, with in-memory receivers and a fixed clock."""
    parsed = AlertsConfig.model_validate(config)
    outbox = Outbox(
        db,
        notifiers,
        actions or {},
        deadline=parsed.delivery_deadline,
        backoff_initial=parsed.backoff_initial,
        backoff_max=parsed.backoff_max,
        jitter=0.0,
        clock=clock,
    )
    routes = list(parsed.routes) or [Route(receiver=name) for name in notifiers]
    engine = AlertEngine(
        db,
        effective_rules(parsed),
        values,
        outbox,
        routes=routes,
        policies=tuple(parsed.policies.values()),
        actions=actions,
        receiver_repeat=receiver_repeat,
        clock=clock,
    )
    engine.load()
    return engine, outbox


def eventually(predicate: Callable[[], T], timeout: float = 30.0) -> T:
    """Poll ``predicate`` until it returns something truthy; return that (tests/conftest.py's
    ``wait_until`` is not importable from a folder with its own conftest)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout} s")
