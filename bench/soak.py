"""Soak: a steady OTLP load for minutes; resident memory growth and p99 acknowledgement latency.

A fresh ``driftline serve`` (SQLite in a temporary directory, a reference profile uploaded) is
pinned to one core when two are available. One client thread on the other core sends OTLP/HTTP
protobuf ``ml.inference`` requests of 500 records (16 numeric and 4 categorical features) on a
fixed schedule: 10 requests a second, 5,000 events/s. A request's acknowledgement latency runs
from its *scheduled* send time to its 200 response, so a server that falls behind shows it
(no coordinated omission). The server's resident set size (``VmRSS``) is sampled every second.

Drift windows are ``window_s`` wide (60 s; 10 s, with 5 s of allowed lateness, in the quick run) and the warm-up lasts until
the first ones have closed and the label join's prediction buffer (``label_buffer_max_entries``,
100,000) is full, so memory is compared between two moments of steady state.

Reported: p99 acknowledgement latency per interval (a minute; 10 s in the quick run), resident
memory at the end of the warm-up and at the end of the run and its growth (target < 10 %), and
whether the pipeline counted every acknowledged event exactly once. Targets are printed as met
or not met, never asserted.
"""

from __future__ import annotations

import http.client
import io
import math
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pa_csv

from bench._harness import Options, Report, median, percentile, pin_current_thread, sig, table
from bench._server import Server, split_cores
from bench._workload import MODEL, VERSION, BodyFactory, feature_table

__all__ = ["Plan", "run", "soak"]

RECORDS_PER_REQUEST = 500
TARGET_RSS_GROWTH = 0.10
PREDICTIONS = f'driftline_model_predictions_total{{model="{MODEL}",version="{VERSION}"}}'


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how hard to soak."""

    duration_s: float
    warmup_s: float
    interval_s: float  # p99 latency is reported per interval of this length
    window_s: float  # drift window width: the warm-up spans the first windows closing, so state is steady
    lateness_s: float | None = None  # allowed lateness (None: the server's default, 60 s)
    events_per_s: int = 5000
    records_per_request: int = RECORDS_PER_REQUEST


FULL = Plan(duration_s=600.0, warmup_s=120.0, interval_s=60.0, window_s=60.0)
# The quick run's windows must close within its minute: a window closes once it is older than the
# allowed lateness, whose default alone (60 s) would outlast the run.
QUICK = Plan(duration_s=60.0, warmup_s=30.0, interval_s=10.0, window_s=10.0, lateness_s=5.0)


def run(options: Options) -> Report:
    return soak(QUICK if options.quick else FULL)


def soak(plan: Plan) -> Report:
    """Run ``plan`` against a fresh server and report what it measured."""
    server_core, client_cores = split_cores()
    factory = BodyFactory(records=plan.records_per_request, templates=4, seed=0)
    reference = io.BytesIO()
    pa_csv.write_csv(feature_table(np.random.default_rng(1), 5000), reference)
    with tempfile.TemporaryDirectory(prefix="driftline-soak-") as tmp:
        env = {"DRIFTLINE_WINDOW_SECONDS": f"{plan.window_s:g}"}
        if plan.lateness_s is not None:
            env["DRIFTLINE_ALLOWED_LATENESS_SECONDS"] = f"{plan.lateness_s:g}"
        server = Server(Path(tmp), core=server_core, env=env)
        server.start()
        try:
            status, answer = server.request(
                "PUT",
                f"/api/v1/models/{MODEL}/versions/{VERSION}/reference",
                body=reference.getvalue(),
                headers={"Content-Type": "text/csv"},
            )
            if status != 200:
                raise RuntimeError(f"reference upload answered {status}: {answer[:500]!r}")
            load = _Load(server.port, factory, plan, client_cores)
            rss = _sample_rss(server, load)
            caught_up = _wait_caught_up(server, timeout=60.0)
            counted = int(server.metrics().get(PREDICTIONS, 0))
        finally:
            server.stop()
    return _report(plan, load, rss, counted, caught_up, pinned=server.pinned, server_core=server_core)


class _Load(threading.Thread):
    """Sends requests on a fixed schedule over one keep-alive connection."""

    def __init__(self, port: int, factory: BodyFactory, plan: Plan, cores: set[int] | None) -> None:
        super().__init__(name="soak-load", daemon=True)
        self.port = port
        self.factory = factory
        self.plan = plan
        self.cores = cores
        self.started = time.monotonic()
        self.samples: list[tuple[float, float]] = []  # (seconds since start when scheduled, latency s)
        self.refused = 0
        self.acknowledged = 0
        self.start()

    def run(self) -> None:
        pin_current_thread(self.cores)
        period = self.plan.records_per_request / self.plan.events_per_s
        total = math.floor(self.plan.duration_s / period)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/x-protobuf"}
        self.started = time.monotonic()
        for seq in range(1, total + 1):
            scheduled = self.started + (seq - 1) * period
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = self.factory.make(seq)
            while True:  # retried until acknowledged, like an exporter; the latency includes retries
                try:
                    connection.request("POST", "/v1/logs", body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.refused += 1
                time.sleep(0.05)
            self.samples.append((scheduled - self.started, time.monotonic() - scheduled))
            self.acknowledged += self.plan.records_per_request
        connection.close()


def _rss_bytes(server: Server) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


def _sample_rss(server: Server, load: _Load) -> list[tuple[float, int]]:
    """(seconds since the load started, resident bytes) once a second while the load runs."""
    samples: list[tuple[float, int]] = []
    while load.is_alive():
        samples.append((time.monotonic() - load.started, _rss_bytes(server)))
        load.join(timeout=1.0)
    samples.append((time.monotonic() - load.started, _rss_bytes(server)))
    return samples


def _wait_caught_up(server: Server, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.readyz().get("lag") == 0:
            return True
        time.sleep(0.1)
    return False


@dataclass(frozen=True, slots=True)
class _Interval:
    start_s: float
    requests: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rss_mib: float | None


def _report(
    plan: Plan,
    load: _Load,
    rss: list[tuple[float, int]],
    counted: int,
    caught_up: bool,
    *,
    pinned: bool,
    server_core: int | None,
) -> Report:
    intervals: list[_Interval] = []
    for index in range(max(1, math.ceil(plan.duration_s / plan.interval_s))):
        low, high = index * plan.interval_s, (index + 1) * plan.interval_s
        latencies = [lat * 1000 for at, lat in load.samples if low <= at < high]
        resident = [b for at, b in rss if low <= at < high]
        intervals.append(
            _Interval(
                start_s=low,
                requests=len(latencies),
                p50_ms=sig(median(latencies)),
                p99_ms=sig(percentile(latencies, 99)),
                max_ms=sig(max(latencies)) if latencies else None,
                rss_mib=sig(resident[-1] / 2**20) if resident else None,
            )
        )
    after_warmup = [b for at, b in rss if at >= plan.warmup_s]
    rss_warm = median(after_warmup[:5]) if after_warmup else math.nan
    rss_end = median(after_warmup[-5:]) if after_warmup else math.nan
    growth = rss_end / rss_warm - 1 if after_warmup else math.nan
    steady = [i.p99_ms for i in intervals if i.start_s >= plan.warmup_s and i.p99_ms is not None]
    elapsed = load.samples[-1][0] + plan.records_per_request / plan.events_per_s if load.samples else math.nan
    results: dict[str, Any] = {
        "summary": {
            "events_acknowledged": load.acknowledged,
            "events_counted": counted,
            "counted_exactly_once": caught_up and counted == load.acknowledged,
            "achieved_events_per_s": sig(load.acknowledged / elapsed) if load.samples else None,
            "refused_requests": load.refused,
            "rss_after_warmup_mib": sig(rss_warm / 2**20),
            "rss_end_mib": sig(rss_end / 2**20),
            "rss_growth": sig(growth),
            "rss_growth_target": TARGET_RSS_GROWTH,
            "rss_target_met": bool(growth < TARGET_RSS_GROWTH),
            "p99_ms_after_warmup_min": sig(min(steady)) if steady else None,
            "p99_ms_after_warmup_max": sig(max(steady)) if steady else None,
        },
        "intervals": [asdict(i) for i in intervals],
    }
    config = {
        **asdict(plan),
        "features": {"numeric": 16, "categorical": 4},
        "server_core": server_core,
        "server_pinned": pinned,
        "latency_from": "scheduled send time to 200 response, retries included",
    }
    summary = results["summary"]
    text = table(
        ["from s", "requests", "p50 ms", "p99 ms", "max ms", "RSS MiB"],
        [[i.start_s, i.requests, i.p50_ms, i.p99_ms, i.max_ms, i.rss_mib] for i in intervals],
        title=f"acknowledgement latency per {plan.interval_s:g} s at {plan.events_per_s:,} events/s "
        f"({plan.records_per_request} records/request); warm-up {plan.warmup_s:g} s",
    )
    text += [
        "",
        f"resident memory: {_mib(rss_warm)} after warm-up -> {_mib(rss_end)} at the end: "
        f"growth {growth:+.1%} (target < {TARGET_RSS_GROWTH:.0%}: {'met' if summary['rss_target_met'] else 'NOT met'})",
        f"p99 after warm-up: {summary['p99_ms_after_warmup_min']} - {summary['p99_ms_after_warmup_max']} ms per interval",
        f"events: {load.acknowledged:,} acknowledged, {counted:,} counted by the pipeline "
        f"({'exactly once' if summary['counted_exactly_once'] else 'MISMATCH'}); {load.refused} requests refused and retried",
        f"server {'pinned to core ' + str(server_core) if pinned else 'not pinned (needs taskset and two cores)'}",
    ]
    return Report(config=config, results=results, text=text)


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB" if math.isfinite(value) else "-"
