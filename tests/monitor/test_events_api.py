"""``POST /api/v1/events`` against a running server: same windows as OTLP, errors, auth, gzip, overload."""

from __future__ import annotations

import gzip
import io
import json
import time
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from monitor.ingest_log import LogOverloaded
from monitor.settings import Settings
from support import ServerThread, inference, log_record, logs_request, scrape, wait_caught_up

MODEL = "loans"
N_EVENTS = 600
TOKEN = "events-ingest-token"
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('events') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0, ingest_token=TOKEN)) as running:  # type: ignore[arg-type]
        yield running


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def reference_csv(rows: int = 3000) -> bytes:
    rng = np.random.default_rng(11)
    out = io.StringIO()
    out.write("stable,shifted,color\n")
    colors = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    for a, b, c in zip(rng.normal(0, 1, rows), rng.normal(0, 1, rows), colors, strict=True):
        out.write(f"{a:.6f},{b:.6f},{c}\n")
    return out.getvalue().encode()


def columns(n: int, start_s: int) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    return {
        "timestamps": [float(start_s + i // 100) for i in range(n)],
        "prediction_ids": [f"p-{i}" for i in range(n)],
        "predictions": [int(i % 3 == 0) for i in range(n)],
        "scores": [float(i % 100) / 100 for i in range(n)],
        "features": {
            "stable": rng.normal(0, 1, n).tolist(),
            "shifted": rng.normal(1.0, 1, n).tolist(),
            "color": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).tolist(),
        },
    }


def arrow_stream(cols: dict[str, Any], chunk: int | None = None) -> bytes:
    table = pa.table(
        {
            "timestamp": cols["timestamps"],
            "prediction_id": cols["prediction_ids"],
            "prediction": pa.array(cols["predictions"], type=pa.int64()),
            "score": cols["scores"],
            **cols["features"],
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=chunk)
    return bytes(sink.getvalue().to_pybytes())


def otlp_body(cols: dict[str, Any], version: str) -> bytes:
    records = [
        log_record(
            inference(
                MODEL,
                version,
                cols["prediction_ids"][i],
                {name: values[i] for name, values in cols["features"].items()},
                **{"ml.prediction": cols["predictions"][i], "ml.prediction.score": cols["scores"][i]},
            ),
            time_ns=int(cols["timestamps"][i]) * 1_000_000_000,
        )
        for i in range(len(cols["timestamps"]))
    ]
    return bytes(logs_request(records).SerializeToString())


def upload_reference(url: str, version: str) -> None:
    response = httpx.put(
        f"{url}/api/v1/models/{MODEL}/versions/{version}/reference",
        content=reference_csv(),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def evaluate(url: str, version: str) -> list[tuple[Any, ...]]:
    response = httpx.post(f"{url}/api/v1/models/{MODEL}/evaluate", params={"version": version}, timeout=60)
    assert response.status_code == 200, response.text
    keys = ("feature", "test", "statistic", "p_value", "drift_detected", "n")
    return sorted(tuple(r[k] for k in keys) for r in response.json()["results"])


def test_json_and_arrow_produce_the_same_windows_as_otlp(server: ServerThread) -> None:
    cols = columns(N_EVENTS, int(time.time()) - 60)
    for version in ("otlp", "json", "arrow"):
        upload_reference(server.url, version)
    sent = httpx.post(
        f"{server.url}/v1/logs",
        content=otlp_body(cols, "otlp"),
        headers={"Content-Type": "application/x-protobuf", **AUTH},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    as_json = httpx.post(
        f"{server.url}/api/v1/events", json={"model": MODEL, "version": "json", **cols}, headers=AUTH, timeout=30
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.json() == {"accepted": N_EVENTS, "rejected": 0, "errors": []}
    as_arrow = httpx.post(
        f"{server.url}/api/v1/events",
        params={"model": MODEL, "version": "arrow"},
        content=arrow_stream(cols, chunk=250),
        headers={"Content-Type": ARROW, **AUTH},
        timeout=30,
    )
    assert as_arrow.status_code == 200, as_arrow.text
    assert as_arrow.json() == {"accepted": N_EVENTS, "rejected": 0, "errors": []}

    wait_caught_up(server.url)
    expected = evaluate(server.url, "otlp")
    assert {row[0]: row[4] for row in expected} == {"shifted": True, "stable": False, "color": False}
    assert all(row[5] == N_EVENTS for row in expected)
    assert evaluate(server.url, "json") == expected
    assert evaluate(server.url, "arrow") == expected
    metrics = scrape(server.url)
    for version in ("otlp", "json", "arrow"):
        assert metrics[f'driftline_model_predictions_total{{model="{MODEL}",version="{version}"}}'] == N_EVENTS
    assert metrics['driftline_ingest_records_total{signal="events"}'] >= 2 * N_EVENTS


def test_partial_rejection_reports_reasons_and_counts(server: ServerThread) -> None:
    body = {
        "model": MODEL,
        "version": "partial",
        "timestamps": [1.0, 2.0, 3.0, 4.0],
        "prediction_ids": ["a", "b", "c", "d"],
        "predictions": [1, 0, "maybe", 1],
        "features": {"x": [1.0, [2.0], 3.0, 4.0]},
    }
    before = scrape(server.url).get('driftline_ingest_rejected_total{reason="type_mismatch",signal="events"}', 0.0)
    response = httpx.post(f"{server.url}/api/v1/events", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 2)
    assert [(e["field"], e["reason"], e["rows"]) for e in answer["errors"]] == [
        ("features.x", "unsupported_value_type", 1),
        ("predictions", "type_mismatch", 1),
    ]
    after = scrape(server.url)
    assert after['driftline_ingest_rejected_total{reason="type_mismatch",signal="events"}'] == before + 1


@pytest.mark.parametrize(
    ("content", "headers", "params", "status", "field", "words"),
    [
        (b"{", {"Content-Type": "application/json"}, {}, 400, None, "not valid JSON"),
        (
            json.dumps({"timestamps": [1], "predictions": [1]}).encode(),
            {"Content-Type": "application/json"},
            {},
            422,
            "model",
            "model",
        ),
        (
            json.dumps({"model": "m", "timestamps": [1, 2], "predictions": [1]}).encode(),
            {"Content-Type": "application/json"},
            {},
            422,
            "predictions",
            "equal length",
        ),
        (b"\x00\x01", {"Content-Type": ARROW}, {"model": "m"}, 400, None, "Arrow IPC"),
        (arrow_stream(columns(2, 1)), {"Content-Type": ARROW}, {}, 422, "model", "model"),
        (b"a,b\n", {"Content-Type": "text/csv"}, {}, 415, None, "application/json"),
        (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}, {}, 415, None, "br"),
    ],
)
def test_whole_request_errors(
    server: ServerThread,
    content: bytes,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
    field: str | None,
    words: str,
) -> None:
    response = httpx.post(f"{server.url}/api/v1/events", content=content, headers={**headers, **AUTH}, params=params, timeout=10)
    assert response.status_code == status, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (0, 0)
    assert answer["errors"][0]["field"] == field
    assert words in answer["errors"][0]["message"]


def test_size_cap_applies_after_gzip(tmp_path: Any) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'cap.db'}", port=0, max_body_bytes=50_000)
    cols = columns(2000, int(time.time()))
    body = gzip.compress(json.dumps({"model": MODEL, **cols}).encode())
    assert len(body) < 50_000
    with ServerThread(settings) as running:
        response = httpx.post(
            f"{running.url}/api/v1/events",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            timeout=10,
        )
        assert response.status_code == 413
        assert "after decompression" in response.json()["errors"][0]["message"]


def test_gzip_body_is_accepted(server: ServerThread) -> None:
    cols = columns(50, int(time.time()))
    response = httpx.post(
        f"{server.url}/api/v1/events",
        params={"model": MODEL, "version": "gz"},
        content=gzip.compress(arrow_stream(cols)),
        headers={"Content-Type": ARROW, "Content-Encoding": "gzip", **AUTH},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 50


def test_ingest_token_is_required(server: ServerThread) -> None:
    body = {"model": MODEL, "timestamps": [1.0], "predictions": [1]}
    assert httpx.post(f"{server.url}/api/v1/events", json=body, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{server.url}/api/v1/events", json=body, headers=wrong, timeout=10).status_code == 401
    assert httpx.post(f"{server.url}/api/v1/events", json=body, headers=AUTH, timeout=10).status_code == 200


def test_overload_answers_503_with_retry_after(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with ServerThread(Settings(db_url=f"sqlite:///{tmp_path / 'busy.db'}", port=0)) as running:

        def full(*_: object) -> None:
            raise LogOverloaded("the ingest queue is full")

        monkeypatch.setattr(running.runtime.log, "append", full)
        body = {"model": MODEL, "timestamps": [1.0, 2.0], "predictions": [1, 0]}
        response = httpx.post(f"{running.url}/api/v1/events", json=body, timeout=10)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["errors"][0]["reason"] == "overloaded"
        assert scrape(running.url)['driftline_ingest_rejected_total{reason="overloaded",signal="events"}'] == 2
