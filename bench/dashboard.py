"""Dashboard: time to the first complete render of each page, 30 days of data, 5 models x 50 features.

A fresh ``driftline serve`` is filled through its real ingest paths: a reference per model, one
hour-wide window of events per hour (the columnar JSON API), latency and quality series per model
and a KPI (OTLP/JSON metrics). Each page then runs in Streamlit's ``AppTest`` with the client's
caches emptied first, so every render asks the API for everything it shows; the figure is the
median wall time of that script run with the 30-day range selected. Target: <= 2 s per page
(reported, never asserted).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench._harness import Options, Report, median, sig, table
from bench._server import Server

__all__ = ["run"]

MODELS = 5
FEATURES = 50
WINDOW = 3600
PAGES = ("overview", "drift", "performance", "business", "alerts")
TARGET_SECONDS = 2.0


def render(name: str, api: str) -> None:
    """One page as an AppTest script (its source is run, so it imports what it needs)."""
    import importlib

    import streamlit as st

    st.session_state["driftline_api"] = api
    importlib.import_module(f"dashboard.views.{name}").page()


def _post(server: Server, path: str, body: Any, content_type: str = "application/json") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answer = server.request("POST", path, data, {"Content-Type": content_type})
    if status != 200:
        raise RuntimeError(f"POST {path} answered {status}: {answer[:300]!r}")


def _reference(rng: np.random.Generator) -> bytes:
    values = rng.normal(0.0, 1.0, (2000, FEATURES))
    lines = [",".join(f"f{j:02d}" for j in range(FEATURES))] + [",".join(f"{v:.4f}" for v in row) for row in values]
    return ("\n".join(lines) + "\n").encode()


def _gauges(name: str, points: list[tuple[dict[str, str], float, float]]) -> dict[str, Any]:
    """An OTLP/JSON metrics request with one gauge."""

    def attrs(labels: dict[str, str]) -> list[dict[str, Any]]:
        return [{"key": k, "value": {"stringValue": v}} for k, v in labels.items()]

    data_points = [{"attributes": attrs(lab), "timeUnixNano": str(int(t * 1e9)), "asDouble": v} for lab, t, v in points]
    metric = {"name": name, "gauge": {"dataPoints": data_points}}
    return {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [metric]}]}]}


def _fill(server: Server, days: int, rows_per_window: int) -> dict[str, int]:
    rng = np.random.default_rng(7)
    end = float(np.floor(time.time() / WINDOW) * WINDOW)
    start = end - days * 86400
    windows = days * 24
    for m in range(MODELS):
        model = f"model-{m}"
        status, answer = server.request(
            "PUT", f"/api/v1/models/{model}/versions/v1/reference", _reference(rng), {"Content-Type": "text/csv"}
        )
        if status != 200:
            raise RuntimeError(f"reference upload answered {status}: {answer[:300]!r}")
        for first in range(0, windows, 24):  # one day of windows per request
            count = min(24, windows - first) * rows_per_window
            ts = start + first * WINDOW + np.sort(rng.uniform(0, min(24, windows - first) * WINDOW, count))
            values = rng.normal(0.0, 1.0, (count, FEATURES))
            if m < 3 and first >= windows * 2 // 3:  # three models drift on 5 features in their last third
                values[:, :5] += 1.5
            _post(
                server,
                "/api/v1/events",
                {
                    "model": model,
                    "version": "v1",
                    "timestamps": ts.tolist(),
                    "prediction_ids": [f"{model}-{first}-{i}" for i in range(count)],
                    "predictions": rng.integers(0, 2, count).tolist(),
                    "features": {f"f{j:02d}": values[:, j].tolist() for j in range(FEATURES)},
                },
            )
    minutes = np.arange(start, end, 600.0)  # a point every 10 minutes
    for m in range(MODELS):
        labels = {"model": f"model-{m}", "version": "v1"}
        _post(server, "/v1/metrics", _gauges("driftline.model.latency.p95", [(labels, t, 0.1) for t in minutes]))
        _post(
            server,
            "/v1/metrics",
            _gauges("driftline.model.quality", [({**labels, "metric": "accuracy"}, t, 0.9) for t in minutes]),
        )
    _post(server, "/v1/metrics", _gauges("driftline.kpi", [({"kpi": "conversion"}, t, 0.04) for t in minutes]))
    deadline = time.monotonic() + 900
    while server.readyz().get("lag") != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the pipeline did not catch up in 900 s")
        time.sleep(0.5)
    for m in range(MODELS):  # close each model's last window too (the server allows itself 120 s)
        response = httpx.post(f"http://127.0.0.1:{server.port}/api/v1/models/model-{m}/evaluate?version=v1", timeout=180)
        if response.status_code != 200:
            raise RuntimeError(f"evaluate answered {response.status_code}: {response.text[:300]}")
    return {"windows_per_model": windows, "events": MODELS * windows * rows_per_window}


def _time_page(name: str, api: str, repeats: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from dashboard import common

    seconds = []
    for _ in range(repeats):
        common._client.clear()  # a first render: nothing cached in the client
        app = AppTest.from_function(render, args=(name, api), default_timeout=300)
        app.query_params.update(range="30d", model="model-0", version="v1")
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
        if app.exception:
            raise RuntimeError(f"page {name} raised: {[e.value for e in app.exception]}")
    return seconds


def run(options: Options) -> Report:
    days = 3 if options.quick else 30
    rows_per_window = 20 if options.quick else 40
    repeats = 2 if options.quick else 3
    with tempfile.TemporaryDirectory(prefix="driftline-bench-dashboard-") as workdir:
        server = Server(
            Path(workdir), core=None, env={"DRIFTLINE_WINDOW_SECONDS": str(WINDOW), "DRIFTLINE_ALLOWED_LATENESS_SECONDS": "0"}
        )
        server.start()
        try:
            started = time.perf_counter()
            filled = _fill(server, days, rows_per_window)
            fill_seconds = time.perf_counter() - started
            api = f"http://127.0.0.1:{server.port}"
            timings = {name: _time_page(name, api, repeats) for name in PAGES}
        finally:
            server.stop()
    results = {
        name: {"median_s": sig(median(t)), "runs_s": [sig(x) for x in t], "within_target": median(t) <= TARGET_SECONDS}
        for name, t in timings.items()
    }
    config = {
        "days": days,
        "models": MODELS,
        "features": FEATURES,
        "window_s": WINDOW,
        "rows_per_window": rows_per_window,
        "repeats": repeats,
        "range": "30d",
        "fill_s": sig(fill_seconds),
        **filled,
    }
    text = [
        f"{days} days, {MODELS} models x {FEATURES} features, {filled['windows_per_model']} windows per model "
        f"({filled['events']} events; filled in {fill_seconds:.0f} s); range 30d; median of {repeats} cold renders",
        *table(
            ["page", "first render (s)", f"<= {TARGET_SECONDS:g} s"],
            [[name, results[name]["median_s"], "yes" if results[name]["within_target"] else "no"] for name in PAGES],
        ),
    ]
    return Report(config=config, results=results, text=text)
