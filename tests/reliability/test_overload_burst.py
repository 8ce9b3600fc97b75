"""Back-pressure end to end: several real OTel SDK exporters burst into a tiny ingest queue.

The store stalls for a moment (another connection holds SQLite's write lock, as a slow disk
would), the queue of one fills, and the server answers 503 with ``Retry-After``. The SDK's own
retries must then deliver every event, and every event must be counted exactly once.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import numpy as np

from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up, wait_until

PROVIDERS = 4
EVENTS_PER_PROVIDER = 1500
REJECTED = 'driftline_ingest_rejected_total{reason="overloaded",signal="logs"}'


def emit_all(url: str, index: int, started: threading.Barrier, flushed: list[bool]) -> None:
    """One service: its own LoggerProvider and OTLPLogExporter, emitting as fast as it can."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": f"burst-{index}"}))
    exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs", timeout=60)
    # A queue that holds the whole burst, so the client drops nothing and any loss is the server's.
    processor = BatchLogRecordProcessor(
        exporter, max_queue_size=EVENTS_PER_PROVIDER, max_export_batch_size=100, schedule_delay_millis=20
    )
    provider.add_log_record_processor(processor)
    logger = provider.get_logger("burst")
    values = np.random.default_rng(index).normal(size=EVENTS_PER_PROVIDER)
    started.wait(timeout=30)
    for i, value in enumerate(values):
        logger.emit(
            event_name="ml.inference",
            attributes={
                "ml.model.name": "burst",
                "ml.model.version": "v1",
                "ml.prediction.id": f"{index}-{i}-{uuid.uuid4().hex[:8]}",
                "ml.feature.x": float(value),
                "ml.feature.lane": f"lane-{index}",
            },
        )
    flushed[index] = provider.force_flush(timeout_millis=120_000)
    provider.shutdown()


def test_overload_burst_from_real_exporters_is_delivered_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "driftline.db"
    with ServerThread(Settings(db_url=f"sqlite:///{path}", port=0, ingest_queue_size=1)) as server:
        blocker = sqlite3.connect(path, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the store stalls: the log writer cannot commit
        started = threading.Barrier(PROVIDERS + 1)
        flushed = [False] * PROVIDERS
        threads = [threading.Thread(target=emit_all, args=(server.url, i, started, flushed)) for i in range(PROVIDERS)]
        for thread in threads:
            thread.start()
        started.wait(timeout=30)
        try:
            # Hold the stall until the server has refused requests for lack of room. (Read in
            # process: over HTTP, /metrics would wait for the same lock.)
            wait_until(lambda: server.runtime.stats.snapshot()[1].get(("logs", "overloaded"), 0) > 0, timeout=60)
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        for thread in threads:
            thread.join(timeout=180)
        assert not any(thread.is_alive() for thread in threads)
        assert flushed == [True] * PROVIDERS, "an exporter gave up before everything was delivered"

        wait_caught_up(server.url)
        metrics = scrape(server.url)
        assert metrics[REJECTED] > 0, "the burst never met a full queue"
        total = PROVIDERS * EVENTS_PER_PROVIDER
        assert metrics['driftline_model_predictions_total{model="burst",version="v1"}'] == total
        assert metrics['driftline_ingest_records_total{signal="logs"}'] == total
        # The server was left in a usable state: the queue drains and the store answers.
        assert server.runtime.log.pending == 0
