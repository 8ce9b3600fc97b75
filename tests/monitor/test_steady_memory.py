"""Memory a long-running server frees as it goes: nothing per checkpoint waits for a full GC.

CPython frees an object the moment its last reference goes, *unless* it is part of a
reference cycle: then it waits for the cyclic collector, whose full collections come rarely
in a process holding a few hundred thousand objects. A checkpoint that leaves a cycle behind
(a recursive closure over its buffers did) keeps megabytes alive per checkpoint, and resident
memory climbs for minutes (see docs/reliability.md, Soak). These tests pin the structure
rather than memory figures: with the collector off, the work creates no cyclic garbage at all.
"""

from __future__ import annotations

import gc
import http.client
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from collectors.records import Column, InferenceBatch
from monitor.ingest_log import IngestLog
from monitor.kinds import KindRegistry
from monitor.pipeline import Pipeline
from monitor.references import ReferenceStore, build_profiles
from monitor.settings import Settings
from monitor.statecodec import pack, unpack
from monitor.store import make_engine, migrate
from support import ServerThread, inference, log_record, logs_request

WIDTH = 10.0
ROWS = 200


def cyclic_garbage(work: Callable[[], None], attempts: int = 3) -> list[Counter[str]]:
    """Run ``work`` with the cyclic collector off and return what only it could free, by type.

    A cycle in the code under test leaves garbage on every run of ``work``; other threads of the
    test session (servers of earlier tests winding down) may leave some at any moment. So the
    work is tried up to ``attempts`` times and the first clean run ends it: the result lists one
    Counter per attempt, the last empty when a run left nothing.
    """
    found: list[Counter[str]] = []
    for _ in range(attempts):
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            work()
            gc.collect()
            found.append(Counter(type(o).__qualname__ for o in gc.garbage))
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()
        if not found[-1]:
            break
    return found


def test_pack_and_unpack_leave_no_reference_cycles() -> None:
    windows = [{"sample": np.arange(4096.0), "keys": np.ones(4096), "n": 7} for _ in range(20)]
    state: dict[str, Any] = {"windows": windows, "offset": 3}
    restored: list[Any] = []

    def work() -> None:
        for _ in range(5):
            restored.append(unpack(pack(state)))

    garbage = cyclic_garbage(work)
    assert not garbage[-1], garbage
    assert restored[-1]["windows"][19]["sample"].tolist() == state["windows"][19]["sample"].tolist()


def batch(rng: np.random.Generator, start: float, seq: int) -> InferenceBatch:
    return InferenceBatch(
        model="soak",
        version="v1",
        timestamps=start + np.sort(rng.uniform(0, 1, ROWS)),
        prediction_ids=np.asarray([f"{seq}-{i}" for i in range(ROWS)], dtype=object),
        predictions=Column("numeric", rng.uniform(0, 1, ROWS)),
        scores=rng.uniform(0, 1, ROWS),
        latencies=rng.uniform(0.001, 0.01, ROWS),
        features={
            "x": Column("numeric", rng.normal(0, 1, ROWS)),
            "color": Column("categorical", rng.choice(np.asarray(["red", "green", "blue"], dtype=object), ROWS)),
        },
    )


def test_closing_windows_and_checkpointing_leave_no_cyclic_garbage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    engine = make_engine(url)
    migrate(engine)
    rng = np.random.default_rng(7)
    references = ReferenceStore()
    reference = pa.table({"x": rng.normal(0, 1, 2000), "color": rng.choice(["red", "green", "blue"], 2000)})
    references.set("soak", "v1", build_profiles(reference))
    settings = Settings(db_url=url, window_seconds=WIDTH, allowed_lateness_seconds=0.0, checkpoint_interval_seconds=0.05)
    log = IngestLog(engine)
    log.start()
    pipeline = Pipeline(engine, log, references, KindRegistry(), settings)
    pipeline.start()
    seq = 0

    def feed(windows: int) -> None:
        """One second of event time per batch; waits until the pipeline has applied them all."""
        nonlocal seq
        last = 0
        for _ in range(windows * int(WIDTH)):
            seq += 1
            last = log.append_batches(f"d{seq}", [batch(rng, 1_000.0 + seq, seq)]).result(timeout=30).offset
        deadline = time.monotonic() + 30
        while pipeline.processed_offset < last and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pipeline.processed_offset == last

    try:
        feed(3)  # first windows closed: tables, statements and caches exist
        closed_before = len(pipeline.latest_results().get(("soak", "v1"), []))

        def work() -> None:
            feed(6)
            time.sleep(0.3)  # the last closed window reaches a checkpoint

        garbage = cyclic_garbage(work)
        assert closed_before == 2  # drift results exist per feature: windows were tested
        assert not garbage[-1], garbage
    finally:
        pipeline.stop()
        log.stop()
        engine.dispose()


def test_otlp_ingest_through_the_server_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'driftline.db'}", window_seconds=WIDTH, allowed_lateness_seconds=0.0)
    rng = np.random.default_rng(11)
    start_ns = 1_700_000_000 * 10**9

    def body(seq: int) -> bytes:
        """20 records one second of event time after the previous request's."""
        records = [
            log_record(
                inference("otlp", "v1", f"{seq}-{i}", {"x": float(rng.normal()), "color": str(rng.choice(["a", "b"]))}),
                time_ns=start_ns + seq * 10**9 + i,
            )
            for i in range(20)
        ]
        return logs_request(records).SerializeToString()

    sent = 0

    def next_bodies(windows: int) -> list[bytes]:
        nonlocal sent
        chunk = [body(seq) for seq in range(sent + 1, sent + 1 + windows * int(WIDTH))]
        sent += len(chunk)
        return chunk

    with ServerThread(settings) as server:
        runtime = server.runtime
        reference = pa.table({"x": rng.normal(0, 1, 2000), "color": rng.choice(["a", "b"], 2000)})
        runtime.references.set("otlp", "v1", build_profiles(reference))
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

        def post(chunk: list[bytes]) -> None:
            for payload in chunk:
                connection.request("POST", "/v1/logs", body=payload, headers={"Content-Type": "application/x-protobuf"})
                response = connection.getresponse()
                response.read()
                assert response.status == 200
            head = runtime.log.head()
            deadline = time.monotonic() + 30
            while runtime.pipeline.processed_offset < head and time.monotonic() < deadline:
                time.sleep(0.01)
            assert runtime.pipeline.processed_offset == head

        post(next_bodies(3))  # first windows closed, connection and statements warm

        def work() -> None:
            post(next_bodies(6))
            time.sleep(0.3)  # the last closed window reaches a checkpoint

        garbage = cyclic_garbage(work)
        connection.close()
        closed = runtime.pipeline.latest_results().get(("otlp", "v1"), [])
    assert {result.feature for result in closed} >= {"x", "color"}
    assert not garbage[-1], garbage
