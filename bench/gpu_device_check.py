"""One-off check of ``driftline agent gpu`` against a real GPU: ``python bench/gpu_device_check.py``.

Needs a GPU host with a driver and ``nvidia-ml-py`` installed. Polls NVML a few times, prints
each reading, checks it is physically plausible and stable across polls, then exports one poll
through the real OTel SDK exporter to an in-process HTTP capture and decodes the request with
:func:`collectors.otlp.decode_metrics` + :func:`collectors.gpu.from_otlp_metrics`, checking that
every reading field arrives as exactly one sample with the same value and identity. Exits 0 when
all is consistent, 1 on any inconsistency (each printed), 2 when NVML is not available. Not part
of ``python -m bench``.
"""

from __future__ import annotations

import gzip
import http.server
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.gpu import GpuMetric, from_otlp_metrics
from collectors.otlp import decode_metrics, parse_metrics_request
from monitor.agent import GpuPoller, GpuReading, NvmlUnavailable, open_nvml

POLLS = 3
PAUSE_S = 0.5

# GpuReading field -> the canonical metric collectors.gpu should turn it into.
FIELDS: dict[str, GpuMetric] = {
    "utilization_ratio": GpuMetric.UTILIZATION_RATIO,
    "memory_utilization_ratio": GpuMetric.MEMORY_UTILIZATION_RATIO,
    "memory_used_bytes": GpuMetric.MEMORY_USED_BYTES,
    "memory_limit_bytes": GpuMetric.MEMORY_LIMIT_BYTES,
    "power_watts": GpuMetric.POWER_WATTS,
    "energy_joules": GpuMetric.ENERGY_JOULES,
    "temperature_celsius": GpuMetric.TEMPERATURE_CELSIUS,
}

# Plausible ranges for one GPU reading (inclusive).
RANGES: dict[str, tuple[float, float]] = {
    "utilization_ratio": (0.0, 1.0),
    "memory_utilization_ratio": (0.0, 1.0),
    "memory_used_bytes": (0.0, 1e13),
    "memory_limit_bytes": (1.0, 1e13),
    "power_watts": (0.0, 3000.0),
    "energy_joules": (0.0, 1e15),
    "temperature_celsius": (0.0, 125.0),
}


def check_reading(reading: GpuReading) -> list[str]:
    problems = []
    if not reading.uuid.startswith(("GPU-", "MIG-")):
        problems.append(f"GPU {reading.index}: uuid {reading.uuid!r} does not look like an NVML UUID")
    if not reading.model:
        problems.append(f"GPU {reading.index}: empty model name")
    for field, (low, high) in RANGES.items():
        value = getattr(reading, field)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            problems.append(f"GPU {reading.index}: {field}={value!r} outside [{low:g}, {high:g}]")
    used, limit = reading.memory_used_bytes, reading.memory_limit_bytes
    if used is not None and limit is not None and used > limit:
        problems.append(f"GPU {reading.index}: memory used {used:.0f} B > limit {limit:.0f} B")
    return problems


def check_polls(polls: list[list[GpuReading]]) -> list[str]:
    problems = []
    first = polls[0]
    if not first:
        problems.append("NVML reports no GPUs")
    if len({r.uuid for r in first}) != len(first):
        problems.append(f"duplicate UUIDs: {[r.uuid for r in first]}")
    for number, poll in enumerate(polls[1:], start=2):
        if [(r.index, r.uuid, r.model) for r in poll] != [(r.index, r.uuid, r.model) for r in first]:
            problems.append(f"poll {number}: the set of GPUs changed")
            continue
        for before, after in zip(polls[number - 2], poll, strict=True):
            if (
                before.energy_joules is not None
                and after.energy_joules is not None
                and after.energy_joules < before.energy_joules
            ):
                problems.append(f"GPU {after.index}: energy went backwards {before.energy_joules} -> {after.energy_joules} J")
            if after.timestamp <= before.timestamp:
                problems.append(f"GPU {after.index}: timestamp did not advance")
    for poll in polls:
        for reading in poll:
            problems.extend(check_reading(reading))
    return problems


class _Capture(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.bodies.append((self.headers.get("Content-Encoding", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def check_export(poller: GpuPoller) -> list[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        exported = poller.run(f"http://127.0.0.1:{server.server_address[1]}", interval=10.0, duration=0.0)
    finally:
        server.shutdown()
        server.server_close()
    readings = poller.latest
    if exported != 1 or len(_Capture.bodies) != 1:
        return [f"expected one export request, got {len(_Capture.bodies)} (run returned {exported})"]
    encoding, body = _Capture.bodies[0]
    decoded = decode_metrics(parse_metrics_request(gzip.decompress(body) if encoding == "gzip" else body, "protobuf"))
    if decoded.batch is None or decoded.rejected:
        return [f"decode_metrics: batch={decoded.batch is not None}, rejected={dict(decoded.rejected)} {decoded.first_error}"]
    samples, skipped = from_otlp_metrics(decoded.batch)
    print(f"\nexported one poll: {decoded.accepted} OTLP points -> {len(samples)} GPU samples, skipped {dict(skipped)}")
    for sample in samples:
        print(f"  {sample.host} gpu={sample.gpu} {sample.uuid} {sample.model_name!r}: {sample.metric.value} = {sample.value:g}")

    problems = [f"from_otlp_metrics skipped points: {dict(skipped)}"] if skipped else []
    got: dict[tuple[str, GpuMetric], list[float]] = {}
    for sample in samples:
        got.setdefault((sample.uuid, sample.metric), []).append(sample.value)
        if sample.host != poller.host:
            problems.append(f"sample host {sample.host!r} != agent host {poller.host!r}")
    expected = 0
    for reading in readings:
        for field, metric in FIELDS.items():
            value = getattr(reading, field)
            if value is None:
                continue
            expected += 1
            values = got.get((reading.uuid, metric), [])
            if len(values) != 1 or not math.isclose(values[0], value, rel_tol=1e-9):
                problems.append(f"GPU {reading.index} {field}={value!r} arrived as {metric.value}={values}")
        identities = {(s.gpu, s.model_name) for s in samples if s.uuid == reading.uuid}
        if identities != {(str(reading.index), reading.model)}:
            problems.append(f"GPU {reading.index}: samples carry identities {identities}")
    if len(samples) != expected:
        problems.append(f"{len(samples)} samples for {expected} reading fields")
    return problems


def main() -> int:
    try:
        nvml = open_nvml()
    except NvmlUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    poller = GpuPoller(nvml)
    try:
        polls = []
        for number in range(1, POLLS + 1):
            started = time.perf_counter()
            polls.append(poller.poll_once())
            took = time.perf_counter() - started
            print(f"poll {number}: {len(polls[-1])} GPU(s) in {took * 1000:.1f} ms")
            for reading in polls[-1]:
                print(f"  {reading}")
            time.sleep(PAUSE_S)
        problems = check_polls(polls) + check_export(poller)
    finally:
        poller.close()
    for problem in problems:
        print(f"INCONSISTENT: {problem}", file=sys.stderr)
    print("\nOK: readings plausible and identical after collectors.gpu" if not problems else f"\n{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
