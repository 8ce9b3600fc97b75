"""DCGM exporter scraping: samples → hw.* batch round trip, and a live server scraping real HTTP targets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from collectors.gpu import EXTENSION_PREFIX, GpuMetric, GpuSample, from_otlp_metrics, parse_dcgm
from monitor.scrape import samples_to_metric_batch
from monitor.settings import Settings
from support import ServerThread, scrape

FIXTURES = Path(__file__).resolve().parent.parent / "collectors" / "fixtures"
LOWER = (FIXTURES / "dcgm_hostname_lower_k8s.prom").read_text()
UPPER_MIG = (FIXTURES / "dcgm_hostname_upper_mig_k8s.prom").read_text()


def _expected_back(sample: GpuSample) -> GpuSample:
    if sample.mig_instance is None:
        return sample
    return sample._replace(gpu=f"{sample.gpu}/mig{sample.mig_instance}", mig_instance=None, mig_profile=None)


@pytest.mark.parametrize("text", [LOWER, UPPER_MIG], ids=["lower_k8s", "upper_mig_k8s"])
def test_dcgm_samples_round_trip_through_otlp_convention(text: str) -> None:
    samples, _ = parse_dcgm(text, now=1_700_000_000.0)
    batch, problems = samples_to_metric_batch(samples)
    assert not problems
    assert len(batch) == len(samples)
    back, back_problems = from_otlp_metrics(batch)
    assert not back_problems
    assert back == [_expected_back(s) for s in samples]
    assert any(str(n).startswith("hw.") for n in batch.names)


def test_every_metric_round_trips_under_a_convention_or_extension_name() -> None:
    samples = [
        GpuSample(1.0, "h", "0", "GPU-x", "H100", metric, 0.5, pod="p", namespace="ns", container="c") for metric in GpuMetric
    ]
    batch, _ = samples_to_metric_batch(samples)
    back, problems = from_otlp_metrics(batch)
    assert not problems
    extension = {str(n).removeprefix(EXTENSION_PREFIX) for n in batch.names if str(n).startswith(EXTENSION_PREFIX)}
    assert back == samples
    assert extension == {"memory_free_bytes", "xid_last_code"} | {
        m.value for m in GpuMetric if "active" in m.value or "occupancy" in m.value
    }


def test_samples_without_uuid_are_counted_not_sent() -> None:
    batch, problems = samples_to_metric_batch([GpuSample(1.0, "h", "0", "", "", GpuMetric.POWER_WATTS, 100.0)])
    assert len(batch) == 0
    assert problems == {"missing_uuid": 1}


class _Target:
    """A loopback HTTP server answering GET with a settable status and body (or hanging)."""

    def __init__(self, body: str = "", status: int = 200) -> None:
        self.body = body
        self.status = status
        self.hang = threading.Event()
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                if owner.hang.is_set():
                    time.sleep(5)
                data = owner.body.encode()
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the scraper gave up on a hung request and closed the connection
                    pass

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Target:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def good() -> Iterator[_Target]:
    with _Target(LOWER) as target:
        yield target


def _wait_for(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


LABELS = 'gpu="0",host="dcgm-exporter-x7k2p",model_name="Tesla T4",uuid="GPU-cccccccc-0000-0000-0000-000000000000"'


def test_live_server_scrapes_dcgm_and_exposes_gpu_metrics(sqlite_url: str, good: _Target) -> None:
    with (
        _Target("this is { not prometheus text\n") as garbage,
        _Target("oops", status=500) as failing,
    ):
        settings = Settings(
            db_url=sqlite_url, port=0, dcgm_targets=[failing.url, garbage.url, good.url], dcgm_interval_seconds=0.2
        )
        with ServerThread(settings) as server:

            def ready() -> dict[str, float] | None:
                metrics = scrape(server.url)
                wanted = (
                    f"driftline_gpu_utilization_ratio{{{LABELS}}}",
                    'driftline_ingest_rejected_total{reason="scrape_failed",signal="dcgm"}',
                    'driftline_ingest_rejected_total{reason="parse_error",signal="dcgm"}',
                )
                return metrics if all(k in metrics for k in wanted) and failing.hits >= 2 and garbage.hits >= 2 else None

            metrics = _wait_for(ready)
            assert metrics, scrape(server.url)
            assert metrics[f"driftline_gpu_utilization_ratio{{{LABELS}}}"] == 1.0
            assert metrics[f"driftline_gpu_memory_used_bytes{{{LABELS}}}"] == 1024 * 1024
            assert metrics[f"driftline_gpu_power_watts{{{LABELS}}}"] == 70.5
            assert metrics[f"driftline_gpu_temperature_celsius{{{LABELS}}}"] == 63.0
            assert metrics['driftline_ingest_records_total{signal="dcgm"}'] >= 4
            assert metrics[f'driftline_scrape_up{{target="{good.url}"}}'] == 1.0
            assert metrics[f'driftline_scrape_up{{target="{failing.url}"}}'] == 0.0
            assert metrics[f'driftline_scrape_up{{target="{garbage.url}"}}'] == 0.0
            # The good target keeps being scraped while the others keep failing.
            hits = good.hits
            assert _wait_for(lambda: good.hits >= hits + 2)


def test_hanging_target_does_not_block_others_and_shutdown_is_prompt(sqlite_url: str, good: _Target) -> None:
    with _Target(LOWER) as slow:
        slow.hang.set()
        settings = Settings(db_url=sqlite_url, port=0, dcgm_targets=[slow.url, good.url], dcgm_interval_seconds=0.2)
        server = ServerThread(settings)
        with server:
            # The slow target times out after min(10 s, interval) each round; the good one is unaffected.
            assert _wait_for(lambda: good.hits >= 5, timeout=4.0)
            assert _wait_for(lambda: f"driftline_gpu_power_watts{{{LABELS}}}" in scrape(server.url))
            runtime = server.runtime
            started = time.monotonic()
        assert time.monotonic() - started < 3.0
        assert runtime.scraper is not None
        # good's loop has ended; at most the hung request's thread is still abandoned in flight.
        hits = good.hits
        time.sleep(0.5)
        assert good.hits == hits
