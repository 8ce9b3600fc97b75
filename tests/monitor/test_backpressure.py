"""Back-pressure: a full ingest queue answers 503 with Retry-After, and nothing queued is lost."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx

from monitor.settings import Settings
from support import ServerThread, inference, log_record, logs_request, scrape, wait_caught_up


def body(tag: str) -> bytes:
    return logs_request([log_record(inference("bp", "v1", f"{tag}-{i}", {"x": float(i)})) for i in range(5)]).SerializeToString()


def test_full_queue_answers_503_with_retry_after_and_queued_requests_complete(tmp_path: Path) -> None:
    path = tmp_path / "driftline.db"
    with ServerThread(Settings(db_url=f"sqlite:///{path}", port=0, ingest_queue_size=1)) as server:
        # Hold SQLite's write lock so the log writer blocks on its first commit.
        blocker = sqlite3.connect(path, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        results: dict[str, int] = {}

        def send(tag: str) -> None:
            results[tag] = httpx.post(
                f"{server.url}/v1/logs", content=body(tag), headers={"Content-Type": "application/x-protobuf"}, timeout=60
            ).status_code

        first = threading.Thread(target=send, args=("first",))
        first.start()
        deadline = time.monotonic() + 10
        while server.runtime.log.pending and time.monotonic() < deadline:  # the writer took it and is blocked
            time.sleep(0.01)
        time.sleep(0.1)
        second = threading.Thread(target=send, args=("second",))
        second.start()
        while not server.runtime.log.pending and time.monotonic() < deadline:  # it now waits in the queue
            time.sleep(0.01)

        refused = httpx.post(
            f"{server.url}/v1/logs", content=body("third"), headers={"Content-Type": "application/x-protobuf"}, timeout=10
        )
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"

        blocker.execute("COMMIT")
        blocker.close()
        first.join(timeout=60)
        second.join(timeout=60)
        assert results == {"first": 200, "second": 200}
        wait_caught_up(server.url)
        metrics = scrape(server.url)
        assert metrics['driftline_model_predictions_total{model="bp",version="v1"}'] == 10
        assert metrics['driftline_ingest_rejected_total{reason="overloaded",signal="logs"}'] == 5
