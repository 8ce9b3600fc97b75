"""Helpers for alert tests: a settable clock, seeded values, an engine wired as the server wires it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from alerts.engine import AlertEngine
from alerts.model import Action, Notifier
from alerts.notifiers import build_notifier
from alerts.outbox import Outbox
from alerts.rules import AlertsConfig, Route, effective_rules
from alerts.source import Sample
from support import free_port

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


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def require_webhook_notifier() -> None:
    """Skip until ``alerts.notifiers.build_notifier`` knows the ``webhook`` type."""
    try:
        build_notifier("probe", {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": SECRET}).shutdown()
    except ValueError:
        pytest.skip("this build has no webhook notifier yet (alerts.notifiers.build_notifier)")


class Receiver:
    """Answers 503 + Retry-After while ``down``, 200 once up; records every request's webhook-id."""

    def __init__(self) -> None:
        self.down = True
        self.attempts: list[str] = []
        self.accepted: list[str] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                webhook_id = self.headers.get("webhook-id", "")
                receiver.attempts.append(webhook_id)
                if receiver.down:
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                else:
                    receiver.accepted.append(webhook_id)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
