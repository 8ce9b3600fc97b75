"""KPIs pulled from a real Prometheus that scrapes a tiny local exporter."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from monitor.kpi_pull import PullError, parse_query_answer
from monitor.settings import Settings
from support import ServerThread, free_port, require_binary, scrape

EXPOSITION = b"""# TYPE shop_conversion_ratio gauge
shop_conversion_ratio{region="eu"} 0.031
shop_conversion_ratio{region="us"} 0.045
"""


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(EXPOSITION)))
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping a local exporter every second; yields its URL."""
    require_binary("prometheus", "Prometheus")
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: shop\n    static_configs: [{{targets: ['127.0.0.1:{exporter.server_port}']}}]\n"
    )
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        exporter.shutdown()
        exporter.server_close()


def test_promql_kpis_are_pulled_logged_and_exposed(prometheus: str, sqlite_url: str) -> None:
    settings = Settings(
        db_url=sqlite_url,
        port=0,
        kpi_prometheus_url=prometheus,
        kpi_pull_interval_seconds=0.5,
        kpis=[
            {"name": "conversion_eu", "query": 'sum(shop_conversion_ratio{region="eu"})'},
            {"name": "conversion_any", "query": "shop_conversion_ratio"},  # two series: not one number
        ],
    )
    with ServerThread(settings) as server:
        deadline = time.monotonic() + 60  # Prometheus' first sample takes ~5 s after its start
        metrics: dict[str, float] = {}
        while time.monotonic() < deadline:
            metrics = scrape(server.url)
            if 'driftline_kpi_value{kpi="conversion_eu"}' in metrics and metrics.get(
                'driftline_ingest_rejected_total{reason="not_one_sample",signal="kpi_pull"}'
            ):
                break
            time.sleep(0.2)
        assert metrics['driftline_kpi_value{kpi="conversion_eu"}'] == pytest.approx(0.031)
        assert metrics['driftline_kpi_pull_up{kpi="conversion_eu"}'] == 1.0
        assert metrics['driftline_kpi_pull_up{kpi="conversion_any"}'] == 0.0
        assert metrics['driftline_ingest_records_total{signal="kpi_pull"}'] >= 1
        assert 'driftline_kpi_value{kpi="conversion_any"}' not in metrics

        body = httpx.get(f"{server.url}/api/v1/series", params={"name": "driftline.kpi", "label": "kpi:conversion_eu"}).json()
        assert [s["labels"] for s in body["series"]] == [{"kpi": "conversion_eu"}]
        assert [p["last"] for p in body["series"][0]["points"]] == pytest.approx([0.031] * len(body["series"][0]["points"]))


def test_unreachable_prometheus_is_counted_not_fatal(sqlite_url: str) -> None:
    settings = Settings(
        db_url=sqlite_url,
        port=0,
        kpi_prometheus_url=f"http://127.0.0.1:{free_port()}",
        kpi_pull_interval_seconds=0.2,
        kpis=[{"name": "conversion", "query": "vector(1)"}],
    )
    with ServerThread(settings) as server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metrics = scrape(server.url)
            if metrics.get('driftline_ingest_rejected_total{reason="query_failed",signal="kpi_pull"}'):
                break
            time.sleep(0.1)
        assert metrics['driftline_kpi_pull_up{kpi="conversion"}'] == 0.0
        assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": "error", "error": "parse error"}, "query_failed"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "no_data"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [{}]}}, "not_one_sample"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "NaN"]}}, "non_finite_value"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "many"]}}, "not_one_sample"),
    ],
)
def test_answers_without_one_number_are_rejected_with_a_reason(answer: object, reason: str) -> None:
    with pytest.raises(PullError) as caught:
        parse_query_answer(answer)
    assert caught.value.reason == reason
