"""PostgreSQL stopped for 30 s under load: 503 (never 500), /readyz fails, then full recovery."""

from __future__ import annotations

import time

import httpx
import pytest
from pgcluster import Cluster
from senders import RetryingSender, all_statuses

from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up, wait_until

DOWN_SECONDS = 30
LANES = 3


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_down_for_30_s_answers_503_then_recovers_without_loss(own_postgres: Cluster) -> None:
    with ServerThread(Settings(db_url=own_postgres.url, port=0)) as server:
        senders = [RetryingSender.stream(server.url, "outage", lane) for lane in range(LANES)]
        for sender in senders:
            sender.start()
        wait_until(lambda: all(s.acknowledged >= 500 for s in senders), timeout=60)

        own_postgres.stop()
        readyz_down: set[int] = set()
        deadline = time.monotonic() + DOWN_SECONDS
        while time.monotonic() < deadline:
            readyz_down.add(httpx.get(f"{server.url}/readyz", timeout=10).status_code)
            time.sleep(1)
        seen_while_down = all_statuses(senders)
        own_postgres.start()

        wait_until(lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, timeout=60)
        acknowledged_at_restart = [s.acknowledged for s in senders]
        wait_until(lambda: all(s.acknowledged > a + 200 for s, a in zip(senders, acknowledged_at_restart, strict=True)), 60)
        for sender in senders:
            sender.finish()

        assert readyz_down == {503}, "/readyz must fail while the store is down"
        assert seen_while_down[503] > 0, "ingest never met the outage"
        statuses = all_statuses(senders)
        assert set(statuses) <= {200, 503}, f"only 200 and 503 may be answered: {statuses}"
        assert {h for s in senders for h in s.retry_after} <= {"1", "5"}

        wait_caught_up(server.url, timeout=60)
        total = sum(s.acknowledged for s in senders)
        metrics = scrape(server.url)
        assert metrics['driftline_model_predictions_total{model="outage",version="v1"}'] == total
        assert metrics['driftline_ingest_rejected_total{reason="store_unavailable",signal="logs"}'] > 0
