"""Columnar batch API (``POST /api/v1/events``): durable events/s on one core, Arrow and JSON vs OTLP.

A fresh ``driftline serve`` (SQLite in a temporary directory, a reference profile
uploaded) is pinned to one core with ``taskset``; client threads on the other
core(s) POST distinct requests over keep-alive connections for a fixed time after a
warm-up. Only 200 responses count, and a 200 means the batch is committed to the
ingest log. The same 20 features (16 numeric, 4 categorical) are sent three ways:
an Arrow IPC stream and a JSON body of ``EVENTS_PER_REQUEST`` events each, and the
OTLP/HTTP protobuf path of :mod:`bench.ingest` (512 records a request, as an SDK
batches them), measured the same way. Bodies are made distinct by patching a
fixed-width sequence number into every prediction id (the server deduplicates
retries by body digest).

Targets (>= 1,000,000 events/s via Arrow, >= 250,000 via JSON) are printed as met
or not met, never asserted.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from bench._harness import Options, Report, pin_current_thread, sig, table
from bench._server import Server, split_cores
from bench._workload import MODEL, VERSION, BodyFactory, feature_table

__all__ = ["measure", "run"]

EVENTS_PER_REQUEST = 10_000
OTLP_RECORDS_PER_REQUEST = 512
CONNECTIONS = 4
REFERENCE_ROWS = 5000
TARGETS = {"arrow": 1_000_000, "json": 250_000}
_MARK = b"SEQ#00000000"  # fixed-width placeholder in every prediction id


def _columns(rows: int) -> tuple[pa.Table, list[str]]:
    features = feature_table(np.random.default_rng(2), rows)
    ids = [f"{_MARK.decode()}-{i:06d}" for i in range(rows)]
    return features, ids


def _arrow_template(rows: int) -> bytes:
    features, ids = _columns(rows)
    now = time.time()
    head = {
        "timestamp": pa.array(np.full(rows, now)),
        "prediction_id": pa.array(ids, type=pa.string()),
        "prediction": pa.array(np.arange(rows) % 2, type=pa.int64()),
        "score": pa.array(np.linspace(0, 1, rows)),
    }
    data = pa.table({**head, **{name: features.column(name) for name in features.column_names}})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return bytes(sink.getvalue().to_pybytes())


def _json_template(rows: int) -> bytes:
    features, ids = _columns(rows)
    document = {
        "model": MODEL,
        "version": VERSION,
        "timestamps": [time.time()] * rows,
        "prediction_ids": ids,
        "predictions": (np.arange(rows) % 2).tolist(),
        "scores": np.linspace(0, 1, rows).tolist(),
        "features": {name: features.column(name).to_pylist() for name in features.column_names},
    }
    return json.dumps(document).encode()


def _distinct(template: bytes) -> Callable[[int], bytes]:
    """Requests that differ from ``template`` only in the sequence number of each prediction id."""
    if _MARK not in template:
        raise ValueError("template has no sequence placeholder")

    def make(seq: int) -> bytes:
        return template.replace(_MARK, f"SEQ#{seq:08d}".encode())

    return make


def _client(
    port: int, path: str, make: Callable[[], bytes], headers: dict[str, str], stop: float, out: list[tuple[float, int]]
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        while time.monotonic() < stop:
            body = make()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status = -1
            out.append((time.monotonic(), status))
    finally:
        connection.close()


def measure(
    flavour: str, path: str, headers: dict[str, str], make: Callable[[], bytes], events: int, warmup_s: float, duration_s: float
) -> dict[str, Any]:
    """POST distinct bodies to a fresh one-core server for ``duration_s``; 200 answers count, ``events`` each."""
    server_core, client_cores = split_cores()
    reference = feature_table(np.random.default_rng(1), REFERENCE_ROWS)
    csv = io.BytesIO()
    pa_csv.write_csv(reference, csv)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-") as tmp:
        server = Server(Path(tmp), core=server_core)
        server.start()
        try:
            status, answer = server.request(
                "PUT", f"/api/v1/models/{MODEL}/versions/{VERSION}/reference", csv.getvalue(), {"Content-Type": "text/csv"}
            )
            if status != 200:
                raise RuntimeError(f"reference upload answered {status}: {answer[:300]!r}")
            pin_current_thread(client_cores)
            start_at = time.monotonic() + warmup_s
            stop_at = start_at + duration_s
            samples: list[list[tuple[float, int]]] = [[] for _ in range(CONNECTIONS)]
            threads = [
                threading.Thread(target=_client, args=(server.port, path, make, headers, stop_at, out), daemon=True)
                for out in samples
            ]
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, start_at - time.monotonic()))
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            time.sleep(max(0.0, stop_at - time.monotonic()))
            cpu1, t1 = server.cpu_seconds(), time.monotonic()
            for thread in threads:
                thread.join(timeout=300)
            ok = sum(1 for out in samples for done, status in out if t0 <= done < t1 and status == 200)
            other = sorted({status for out in samples for _, status in out} - {200})
            metrics = server.metrics()
        except Exception:
            print(server.log_tail())
            raise
        finally:
            server.stop()
    return {
        "flavour": flavour,
        "events_per_request": events,
        "requests": ok,
        "events_per_s": sig(ok * events / (t1 - t0)),
        "server_cpu_utilisation": sig((cpu1 - cpu0) / (t1 - t0)),
        "other_statuses": other,
        "rejected_records": int(sum(v for k, v in metrics.items() if k.startswith("driftline_ingest_rejected_total"))),
        "pinned": server.pinned,
    }


def run(options: Options) -> Report:
    warmup_s, duration_s = (1.0, 4.0) if options.quick else (3.0, 15.0)
    sequence = itertools.count(1)
    arrow = _distinct(_arrow_template(EVENTS_PER_REQUEST))
    as_json = _distinct(_json_template(EVENTS_PER_REQUEST))
    factory = BodyFactory(records=OTLP_RECORDS_PER_REQUEST, templates=2, seed=0)
    query = f"/api/v1/events?model={MODEL}&version={VERSION}"
    rows = [
        measure(
            "arrow",
            query,
            {"Content-Type": "application/vnd.apache.arrow.stream"},
            lambda: arrow(next(sequence)),
            EVENTS_PER_REQUEST,
            warmup_s,
            duration_s,
        ),
        measure(
            "json",
            "/api/v1/events",
            {"Content-Type": "application/json"},
            lambda: as_json(next(sequence)),
            EVENTS_PER_REQUEST,
            warmup_s,
            duration_s,
        ),
        measure(
            "otlp",
            "/v1/logs",
            {"Content-Type": "application/x-protobuf"},
            lambda: factory.make(next(sequence)),
            OTLP_RECORDS_PER_REQUEST,
            warmup_s,
            duration_s,
        ),
    ]
    otlp_rate = rows[2]["events_per_s"] or 0.0
    for row in rows:
        row["ratio_to_otlp"] = sig(row["events_per_s"] / otlp_rate) if otlp_rate else None
        target = TARGETS.get(row["flavour"])
        row["target_events_per_s"] = target
        row["target_met"] = None if target is None else bool((row["events_per_s"] or 0) >= target)
    text = table(
        ["body", "events/request", "events/s", "x OTLP", "target", "met", "server CPU", "non-200"],
        [
            [
                r["flavour"],
                r["events_per_request"],
                r["events_per_s"],
                r["ratio_to_otlp"],
                r["target_events_per_s"] or "-",
                {None: "-", True: "yes", False: "NO"}[r["target_met"]],
                r["server_cpu_utilisation"],
                r["other_statuses"] or "-",
            ]
            for r in rows
        ],
        title="Columnar ingest, 20 features, durably acknowledged, server on one core",
    )
    config = {
        "events_per_request": EVENTS_PER_REQUEST,
        "otlp_records_per_request": OTLP_RECORDS_PER_REQUEST,
        "connections": CONNECTIONS,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "features": {"numeric": 16, "categorical": 4},
        "targets_events_per_s": TARGETS,
    }
    return Report(config=config, results={r["flavour"]: r for r in rows}, text=text)
