"""The model-server client (monitor.client) and the OpenTelemetry helper (monitor.otel_helper).

Against a real server: rows land, are counted in windows, and the OTel helper gives the same
windows. Against httpx.MockTransport: retries, Retry-After, the deadline, shutdown, back-pressure.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from monitor.client import DriftlineClient, QueueFull
from monitor.otel_helper import InferenceLogger
from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up

MODEL = "client-model"
TOKEN = "client-ingest-token"
N_ROWS = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    url = f"sqlite:///{tmp_path_factory.mktemp('client') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0, ingest_token=TOKEN)) as running:
        yield running


def reference_csv(rows: int = 2000) -> bytes:
    rng = np.random.default_rng(3)
    out = io.StringIO()
    out.write("stable,shifted,color\n")
    colors = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    for a, b, c in zip(rng.normal(0, 1, rows), rng.normal(0, 1, rows), colors, strict=True):
        out.write(f"{a:.6f},{b:.6f},{c}\n")
    return out.getvalue().encode()


def live_rows(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(9)
    stable, shifted = rng.normal(0, 1, n), rng.normal(1.0, 1, n)
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2])
    return [
        {
            "id": f"p-{i}",
            "prediction": int(i % 3 == 0),
            "score": (i % 100) / 100,
            "features": {"stable": float(a), "shifted": float(b), "color": str(c)},
        }
        for i, (a, b, c) in enumerate(zip(stable, shifted, colors, strict=True))
    ]


def evaluate(url: str, version: str) -> list[tuple[Any, ...]]:
    response = httpx.post(f"{url}/api/v1/models/{MODEL}/evaluate", params={"version": version}, timeout=60)
    assert response.status_code == 200, response.text
    keys = ("feature", "test", "statistic", "p_value", "drift_detected", "n")
    return sorted(tuple(r[k] for k in keys) for r in response.json()["results"])


def upload_reference(url: str, version: str) -> None:
    response = httpx.put(
        f"{url}/api/v1/models/{MODEL}/versions/{version}/reference",
        content=reference_csv(),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_client_and_otel_helper_rows_land_in_the_same_windows(server: ServerThread) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    for version in ("client", "otel"):
        upload_reference(server.url, version)
    rows = live_rows(N_ROWS)
    stamp = time.time() - 30

    client = DriftlineClient(server.url, MODEL, "client", token=TOKEN, batch_size=128, flush_interval=0.2, jitter=0)
    for row in rows:
        assert client.log(row["id"], row["prediction"], row["features"], score=row["score"], timestamp=stamp)
    assert client.force_flush(timeout=10)
    client.shutdown()
    stats = client.stats
    assert (stats.sent, stats.rejected, stats.dropped, stats.queued) == (N_ROWS, 0, 0, 0)
    assert stats.batches == 5  # 4 x 128 + 88

    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=f"{server.url}/v1/logs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=256))
    helper = InferenceLogger(provider, MODEL, "otel")
    for row in rows:
        helper.log(row["id"], row["prediction"], row["features"], score=row["score"], latency=0.003)
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()

    wait_caught_up(server.url)
    metrics = scrape(server.url)
    for version in ("client", "otel"):
        assert metrics[f'driftline_model_predictions_total{{model="{MODEL}",version="{version}"}}'] == N_ROWS
    windows = evaluate(server.url, "client")
    assert {row[0]: row[4] for row in windows} == {"shifted": True, "stable": False, "color": False}
    assert all(row[5] == N_ROWS for row in windows)
    assert evaluate(server.url, "otel") == windows


def test_mixed_types_go_as_json_and_only_the_odd_row_is_rejected(server: ServerThread) -> None:
    with DriftlineClient(server.url, MODEL, "mixed", token=TOKEN, flush_interval=60, jitter=0) as client:
        client.log("a", 1, {"plan": "pro", "age": 31})
        client.log("b", 0, {"plan": 3, "age": None})
        client.log("c", 1, {"plan": "free"})
        assert client.force_flush(timeout=10)
    stats = client.stats
    assert (stats.sent, stats.rejected, stats.dropped) == (2, 1, 0)
    assert stats.last_error is not None
    assert "rejected" in stats.last_error


def test_wrong_token_is_rejected_without_retry(server: ServerThread) -> None:
    client = DriftlineClient(server.url, MODEL, "auth", token="nope", flush_interval=60, jitter=0, backoff=0.01)
    client.log("a", 1, {"x": 1.0})
    assert client.force_flush(timeout=10)
    client.shutdown()
    assert (client.stats.rejected, client.stats.retries) == (1, 0)
    assert client.stats.last_error is not None
    assert client.stats.last_error.startswith("HTTP 401")


# -- retries, deadline, shutdown and back-pressure, against a scripted transport --------------------


class Script:
    """A mock server answering from a list of responses (the last one repeats), recording attempts."""

    def __init__(self, *answers: Callable[[], httpx.Response]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []
        self.rows: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        self.rows.append(pa.ipc.open_stream(request.content).read_all().num_rows)
        answer = self.answers[min(len(self.times), len(self.answers)) - 1]
        return answer()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def ok() -> httpx.Response:
    return httpx.Response(200, json={"accepted": 3, "rejected": 0, "errors": []})


def busy(retry_after: str | None = None) -> Callable[[], httpx.Response]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return lambda: httpx.Response(503, headers=headers, json={"accepted": 0, "rejected": 0, "errors": []})


def three_rows(client: DriftlineClient) -> None:
    for i in range(3):
        client.log(f"p-{i}", i, {"x": float(i)})


def test_retries_on_503_and_honours_retry_after() -> None:
    script = Script(busy("0.3"), busy(), ok)
    client = DriftlineClient("http://driftline", "m", "v", flush_interval=60, jitter=0, backoff=0.05, transport=script.transport)
    three_rows(client)
    assert client.force_flush(timeout=5)
    client.shutdown()
    assert len(script.times) == 3
    assert script.times[1] - script.times[0] >= 0.3  # Retry-After replaced the 0.05 s backoff
    assert 0.05 <= script.times[2] - script.times[1] < 0.3  # then the backoff, without jitter
    assert (client.stats.sent, client.stats.retries, client.stats.dropped) == (3, 2, 0)


@pytest.mark.parametrize("status", [400, 413, 422, 500])
def test_other_statuses_are_not_retried(status: int) -> None:
    script = Script(lambda: httpx.Response(status, json={"errors": [{"message": "no"}]}))
    client = DriftlineClient("http://driftline", "m", "v", flush_interval=60, jitter=0, backoff=0.01, transport=script.transport)
    three_rows(client)
    assert client.force_flush(timeout=5)
    client.shutdown()
    assert len(script.times) == 1
    assert (client.stats.rejected, client.stats.retries) == (3, 0)


def test_transport_errors_are_retried() -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return ok()

    client = DriftlineClient(
        "http://driftline", "m", "v", flush_interval=60, jitter=0, backoff=0.01, transport=httpx.MockTransport(flaky)
    )
    three_rows(client)
    assert client.force_flush(timeout=5)
    client.shutdown()
    assert (len(calls), client.stats.sent, client.stats.retries) == (2, 3, 1)


def test_the_deadline_bounds_a_batch() -> None:
    script = Script(busy())
    client = DriftlineClient(
        "http://driftline", "m", "v", flush_interval=60, jitter=0, backoff=0.05, deadline=0.5, transport=script.transport
    )
    three_rows(client)
    started = time.monotonic()
    assert client.force_flush(timeout=5)
    elapsed = time.monotonic() - started
    client.shutdown()
    assert elapsed < 0.5 + 0.2
    assert len(script.times) == 4  # waits 0.05, 0.1, 0.2; the next (0.4) would pass the deadline
    assert (client.stats.sent, client.stats.dropped) == (0, 3)
    assert client.stats.last_error is not None
    assert "deadline" in client.stats.last_error


def test_a_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    script = Script(busy("120"))
    client = DriftlineClient("http://driftline", "m", "v", flush_interval=60, jitter=0, deadline=5, transport=script.transport)
    three_rows(client)
    started = time.monotonic()
    assert client.force_flush(timeout=5)
    assert time.monotonic() - started < 1
    client.shutdown()
    assert (len(script.times), client.stats.dropped) == (1, 3)


def test_shutdown_cuts_retries_short() -> None:
    script = Script(busy("30"))
    client = DriftlineClient("http://driftline", "m", "v", flush_interval=60, jitter=0, deadline=60, transport=script.transport)
    three_rows(client)
    assert not client.force_flush(timeout=0.3)  # the batch waits out a 30 s Retry-After
    started = time.monotonic()
    client.shutdown()
    assert time.monotonic() - started < 1
    assert (len(script.times), client.stats.dropped) == (1, 3)
    assert not client.log("late", 1, {"x": 1.0})


def test_full_queue_drops_and_counts_or_raises() -> None:
    script = Script(ok)
    dropping = DriftlineClient(
        "http://driftline", "m", "v", batch_size=100, flush_interval=60, max_queue=3, transport=script.transport
    )
    assert [dropping.log(f"p-{i}", 1, {"x": 1.0}) for i in range(5)] == [True, True, True, False, False]
    assert (dropping.stats.queued, dropping.stats.dropped) == (3, 2)
    dropping.shutdown()  # sends what is buffered
    assert (script.rows, dropping.stats.sent, dropping.stats.queued) == ([3], 3, 0)

    raising = DriftlineClient(
        "http://driftline", "m", "v", batch_size=100, flush_interval=60, max_queue=1, on_full="raise", transport=script.transport
    )
    raising.log("a", 1, {"x": 1.0})
    with pytest.raises(QueueFull) as caught:
        raising.log("b", 1, {"x": 1.0})
    assert caught.value.prediction_id == "b"
    raising.shutdown()


def test_batch_size_and_flush_interval_trigger_sends() -> None:
    script = Script(ok)
    client = DriftlineClient("http://driftline", "m", "v", batch_size=4, flush_interval=0.2, transport=script.transport)
    for i in range(6):
        client.log(f"p-{i}", 1, {"x": float(i)})
    deadline = time.monotonic() + 5
    while sum(script.rows) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.shutdown()
    assert script.rows == [4, 2]  # a full batch at once, the rest after flush_interval


def test_logging_from_many_threads_loses_nothing() -> None:
    received: list[int] = []
    lock = threading.Lock()

    def count(request: httpx.Request) -> httpx.Response:
        rows = pa.ipc.open_stream(request.content).read_all().num_rows
        with lock:
            received.append(rows)
        return httpx.Response(200, json={"accepted": rows, "rejected": 0, "errors": []})

    client = DriftlineClient(
        "http://driftline", "m", "v", batch_size=50, flush_interval=0.05, transport=httpx.MockTransport(count)
    )

    def work(thread: int) -> None:
        for i in range(500):
            client.log(f"{thread}-{i}", i % 2, {"x": float(i), "c": "a"})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.force_flush(timeout=10)
    client.shutdown()
    assert sum(received) == client.stats.sent == 4000


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_queue": 1.5}, "max_queue"),
        ({"flush_interval": -1}, "flush_interval"),
        ({"deadline": float("inf")}, "deadline"),
        ({"jitter": 2}, "jitter"),
        ({"on_full": "block"}, "on_full"),
    ],
)
def test_bad_parameters_name_themselves(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DriftlineClient("http://driftline", "m", "v", **kwargs)
    with pytest.raises(ValueError, match="model"):
        InferenceLogger(None, "", "v")
