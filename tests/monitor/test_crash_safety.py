"""Crash safety: SIGKILL mid-stream, restart, and count every acknowledged event exactly once."""

from __future__ import annotations

import random
import time

import httpx
import numpy as np
import pytest
from senders import RetryingSender

from support import ServerProcess, free_port, inference, log_record, logs_request, scrape, wait_caught_up

BATCHES = 200
PER_BATCH = 100
STEP_NS = 50_000_000  # 0.05 s of event time between events: 20,000 events span 1,000 s = 100 windows
ROUNDS = 10  # SIGKILLs at random moments while the stream runs


def batch_bodies(start_ns: int) -> list[bytes]:
    rng = np.random.default_rng(21)
    bodies = []
    for b in range(BATCHES):
        records = []
        for i in range(PER_BATCH):
            k = b * PER_BATCH + i
            features = {"x": float(rng.normal()), "y": float(rng.normal(0.5)), "kind": str(rng.choice(["a", "b"]))}
            records.append(log_record(inference("crashy", "v1", f"id-{k}", features), time_ns=start_ns + k * STEP_NS))
        bodies.append(logs_request(records).SerializeToString())
    return bodies


def stored_count(url: str) -> tuple[int, list[float]]:
    page = httpx.get(f"{url}/api/v1/models/crashy/windows", params={"version": "v1", "limit": 1000}, timeout=10).json()
    windows = page["closed"] + page["open"]
    return sum(w["n"] for w in windows), [w["window_start"] for w in page["closed"]]


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(db_url: str) -> None:
    port = free_port()
    server = ServerProcess(db_url, port, env={"DRIFTLINE_WINDOW_SECONDS": "10", "DRIFTLINE_ALLOWED_LATENESS_SECONDS": "1"})
    server.start()
    try:
        reference = "x,y,kind\n" + "".join(f"{v:.4f},{v / 2:.4f},{'ab'[i % 2]}\n" for i, v in enumerate(np.linspace(-3, 3, 500)))
        assert (
            httpx.put(f"{server.url}/api/v1/models/crashy/versions/v1/reference", content=reference, timeout=30).status_code
            == 200
        )

        bodies = batch_bodies(time.time_ns() - 3600 * 10**9)
        sender = RetryingSender(
            server.url, lambda seq: bodies[seq] if seq < len(bodies) else None, per_batch=PER_BATCH, pause=0.04, timeout=5.0
        )
        sender.start()
        rng = random.Random(7)
        kills = 0
        while sender.is_alive() and kills < ROUNDS:
            time.sleep(rng.uniform(0.2, 0.8))
            if not sender.is_alive():
                break
            server.kill()
            kills += 1
            server.start()
        sender.join(timeout=120)
        assert not sender.is_alive()
        assert kills == ROUNDS, "the stream ended before the server could be killed mid-stream"
        assert sender.failures >= kills  # every kill interrupted the stream
        assert sender.acknowledged == BATCHES * PER_BATCH

        wait_caught_up(server.url)
        total, starts = stored_count(server.url)
        assert total == BATCHES * PER_BATCH
        assert len(starts) == len(set(starts)), "a window was stored twice"
        metrics = scrape(server.url)
        assert metrics['driftline_model_predictions_total{model="crashy",version="v1"}'] == BATCHES * PER_BATCH
        drift = httpx.get(f"{server.url}/api/v1/models/crashy/drift", params={"version": "v1"}, timeout=10).json()
        assert {r["feature"] for r in drift["results"]} == {"x", "y", "kind"}

        # One more crash after the stream: replaying past the checkpoint must not double count.
        server.kill()
        server.start()
        wait_caught_up(server.url)
        assert stored_count(server.url)[0] == BATCHES * PER_BATCH
    finally:
        server.stop()
