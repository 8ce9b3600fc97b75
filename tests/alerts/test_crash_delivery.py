"""SIGKILL the server while a notification is being retried: after the restart it is delivered once,
with the id it had from the start (a local HTTP receiver that deduplicates on ``webhook-id``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from alert_support import SECRET, Receiver

from support import ServerProcess, free_port, wait_until


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
        wait_until(lambda: len(receiver.attempts) >= 2, timeout=60)  # retried at least once
        server.kill()
        (first_id,) = set(receiver.attempts)
        receiver.down = False
        server.start()
        wait_until(lambda: receiver.accepted, timeout=60)
        outbox = wait_until(lambda: httpx.get(f"{server.url}/api/v1/outbox", params={"state": "delivered"}).json())
        pending = httpx.get(f"{server.url}/api/v1/outbox", params={"state": "pending"}).json()
    finally:
        server.stop()
    assert receiver.accepted == [first_id]
    assert set(receiver.attempts) == {first_id}  # never a new id, before or after the kill
    assert [item["id"] for item in outbox["items"]] == [first_id]
    assert pending["total"] == 0
