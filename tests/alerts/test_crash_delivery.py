"""SIGKILL the server while a notification is being retried: after the restart it is delivered once,
with the id it had from the start (a local HTTP receiver that deduplicates on ``webhook-id``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from alert_support import eventually

from alerts.notifiers import build_notifier
from support import ServerProcess, free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """Answers 503 + Retry-After while ``down``, 200 once up; records every request's webhook-id."""

    def __init__(self) -> None:
        self.down = True
        self.attempts: list[str] = []
        self.accepted: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    try:
        build_notifier("probe", {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": SECRET}).shutdown()
    except ValueError:
        pytest.skip("this build has no webhook notifier yet (alerts.notifiers.build_notifier)")
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.mark.slow
def test_sigkill_mid_retry_then_restart_delivers_once_with_the_same_id(receiver: Receiver, tmp_path: Path) -> None:
    config = {
        "default_rules": False,
        "evaluation_interval": 0.1,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        # Always true, in every process: one incident, one notification, across restarts.
        "rules": [{"name": "Always", "metric": "driftline_ingest_log_pending", "op": ">=", "threshold": 0}],
        "receivers": {"hook": {"type": "webhook", "url": receiver.url, "secret": SECRET}},
    }
    port = free_port()
    server = ServerProcess(f"sqlite:///{tmp_path / 'd.db'}", port, env={"DRIFTLINE_ALERTS": json.dumps(config)})
    server.start()
    try:
        eventually(lambda: len(receiver.attempts) >= 2)  # retried at least once
        server.kill()
        (first_id,) = set(receiver.attempts)
        receiver.down = False
        server.start()
        eventually(lambda: receiver.accepted)
        outbox = eventually(lambda: httpx.get(f"{server.url}/api/v1/outbox", params={"state": "delivered"}).json())
        pending = httpx.get(f"{server.url}/api/v1/outbox", params={"state": "pending"}).json()
    finally:
        server.stop()
    assert receiver.accepted == [first_id]
    assert set(receiver.attempts) == {first_id}  # never a new id, before or after the kill
    assert [item["id"] for item in outbox["items"]] == [first_id]
    assert pending["total"] == 0
