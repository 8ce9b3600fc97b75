"""The in-memory feed from the log writer to the pipeline: a shortcut that never loses an entry."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from collectors.records import Column, InferenceBatch
from monitor.ingest_log import IngestLog, LiveFeed, encode_entry
from monitor.kinds import KindRegistry
from monitor.pipeline import Pipeline
from monitor.references import ReferenceStore
from monitor.settings import Settings
from monitor.store import make_engine, migrate


def batch(n: int, start: float) -> InferenceBatch:
    return InferenceBatch(
        model="feed",
        version="v1",
        timestamps=start + np.arange(n, dtype=np.float64),
        prediction_ids=np.asarray([f"{start}-{i}" for i in range(n)], dtype=object),
        predictions=Column("numeric", np.zeros(n)),
        scores=np.full(n, np.nan),
        latencies=np.full(n, np.nan),
        features={"x": Column("numeric", np.arange(n, dtype=np.float64))},
    )


def test_feed_keeps_order_and_reports_overflow() -> None:
    feed = LiveFeed(capacity=2)
    one, two = [batch(1, 0)], [batch(1, 1)]
    feed.push(1, one)
    feed.push(2, two)
    assert feed.take() == ([(1, one), (2, two)], False)
    for offset in (3, 4, 5):
        feed.push(offset, one)
    assert feed.take() == ([], True)  # the third push overflowed: read the log instead
    feed.push(6, None)  # an entry without its decoded form
    assert feed.take() == ([], True)
    feed.push(7, one)
    assert feed.take() == ([(7, one)], False)


def test_pipeline_counts_everything_when_the_feed_overflows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    engine = make_engine(url)
    migrate(engine)
    log = IngestLog(engine, max_pending=256)
    log.live = LiveFeed(capacity=3)  # far smaller than the burst below
    log.start()
    pipeline = Pipeline(engine, log, ReferenceStore(), KindRegistry(), Settings(db_url=url))
    pipeline.start()
    try:
        futures = []
        for i in range(120):
            batches = [batch(10, 1_000.0 + i * 10)]
            # Every third entry arrives without its decoded form, forcing a read of the log.
            futures.append(log.append(f"d{i}", 10, encode_entry(batches), None if i % 3 == 0 else batches))
        last = max(f.result(timeout=30).offset for f in futures)
        deadline = time.monotonic() + 30
        while pipeline.processed_offset < last and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pipeline.predictions_total() == {("feed", "v1"): 1200}
    finally:
        pipeline.stop()
        log.stop()
        engine.dispose()
