"""Storage behaviour, run against SQLite and a real PostgreSQL 15."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from sqlalchemy import inspect, select

from collectors.records import Column, InferenceBatch
from monitor.ingest_log import IngestLog, decode_entry, encode_entry
from monitor.settings import Settings
from monitor.store import make_engine, migrate
from monitor.store.tables import checkpoints
from support import ServerThread, inference, log_record, logs_request, wait_caught_up


def small_batch(n: int, model: str = "m") -> InferenceBatch:
    return InferenceBatch(
        model=model,
        version="v1",
        timestamps=np.arange(n, dtype=np.float64),
        prediction_ids=np.asarray([f"p{i}" for i in range(n)], dtype=object),
        predictions=Column("numeric", np.ones(n)),
        scores=np.full(n, np.nan),
        latencies=np.full(n, 0.01),
        features={"x": Column("numeric", np.linspace(0, 1, n))},
    )


def test_migrations_create_every_table_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"models", "features", "references", "ingest_log", "checkpoints", "windows", "drift_results"} <= tables
    engine.dispose()


def test_ingest_log_appends_in_order_and_deduplicates_retries(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    log = IngestLog(engine, max_pending=16)
    log.start()
    try:
        first = log.append("digest-a", 3, encode_entry([small_batch(3)])).result(timeout=10)
        second = log.append("digest-b", 2, encode_entry([small_batch(2, "other")])).result(timeout=10)
        retry = log.append("digest-a", 3, encode_entry([small_batch(3)])).result(timeout=10)
    finally:
        log.stop()
    assert second.offset > first.offset
    assert not first.duplicate
    assert retry.duplicate
    assert retry.offset == first.offset
    entries = log.read(0)
    assert [offset for offset, _ in entries] == [first.offset, second.offset]
    decoded = decode_entry(entries[1][1])
    assert isinstance(decoded[0], InferenceBatch)
    assert decoded[0].model == "other"
    assert log.head() == second.offset
    # Pruning keeps the newest processed entry so offsets never restart.
    assert log.prune(second.offset, older_than=time.time() + 1) == 1
    assert [offset for offset, _ in log.read(0)] == [second.offset]
    engine.dispose()


def test_ingest_log_fails_requests_when_the_store_is_gone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'gone.db'}")  # never migrated: no table
    log = IngestLog(engine, max_pending=4)
    log.start()
    try:
        with pytest.raises(Exception, match="ingest_log"):
            log.append("d", 1, b"x").result(timeout=10)
        # the writer thread survives and keeps answering
        with pytest.raises(Exception, match="ingest_log"):
            log.append("e", 1, b"x").result(timeout=10)
    finally:
        log.stop()


def test_server_round_trip_and_restart_restore(db_url: str) -> None:
    """Events in, drift out; a clean restart restores windows and results from the store."""
    rng = np.random.default_rng(3)
    reference = "x,c\n" + "".join(f"{v:.5f},{'abc'[i % 3]}\n" for i, v in enumerate(rng.normal(size=2000)))
    now = time.time_ns()
    records = [
        log_record(inference("shop", "v1", f"p{i}", {"x": float(v), "c": "abc"[i % 3]}), time_ns=now + i * 1000)
        for i, v in enumerate(rng.normal(2.0, 1.0, size=300))
    ]
    settings = Settings(db_url=db_url, port=0)
    with ServerThread(settings) as server:
        assert (
            httpx.put(f"{server.url}/api/v1/models/shop/versions/v1/reference", content=reference, timeout=30).status_code == 200
        )
        body = logs_request(records).SerializeToString()
        response = httpx.post(
            f"{server.url}/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10
        )
        assert response.status_code == 200
        wait_caught_up(server.url)
        evaluated = httpx.post(f"{server.url}/api/v1/models/shop/evaluate", params={"version": "v1"}, timeout=30).json()
        assert {r["feature"]: r["drift_detected"] for r in evaluated["results"]} == {"x": True, "c": False}

    with ServerThread(settings) as server:
        drift = httpx.get(f"{server.url}/api/v1/models/shop/drift", timeout=10).json()
        assert {r["feature"]: r["drift_detected"] for r in drift["results"]} == {"x": True, "c": False}
        windows = httpx.get(f"{server.url}/api/v1/models/shop/windows", timeout=10).json()
        assert sum(w["n"] for w in windows["closed"]) == 300
        models = httpx.get(f"{server.url}/api/v1/models", timeout=10).json()
        assert models["items"][0]["status"] == "drift"
        assert models["items"][0]["predictions_total"] == 300
        engine = make_engine(db_url)
        with engine.connect() as connection:
            assert connection.execute(select(checkpoints.c.log_offset)).scalar_one() >= 1
        engine.dispose()
