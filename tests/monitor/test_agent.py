"""``driftline agent gpu``: NVML readings, their OTLP export, and what the server makes of them."""

from __future__ import annotations

import gzip
import http.server
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from collectors.gpu import GpuMetric, GpuSample, from_otlp_metrics
from collectors.otlp import decode_metrics, parse_metrics_request
from monitor.agent import GpuPoller, GpuReading
from monitor.settings import Settings
from support import ROOT, ServerThread, scrape

GIB = 1 << 30


class FakeNvmlError(Exception):
    """Stands in for ``pynvml.NVMLError``."""


class FakeNvml:
    """The few pynvml functions the agent calls, over two fixed GPUs.

    GPU 1 is an older board: no energy counter (NVML answers Not Supported), and it reports
    its strings as bytes, as nvidia-ml-py releases before 11.5 did.
    """

    NVMLError = FakeNvmlError
    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.initialised = False
        self.shutdowns = 0
        self.gpus = [
            {"uuid": "GPU-aaaa", "name": "NVIDIA H100 80GB HBM3", "util": (87, 40), "mem": (20 * GIB, 80 * GIB)},
            {"uuid": b"GPU-bbbb", "name": b"Tesla T4", "util": (5, 1), "mem": (1 * GIB, 16 * GIB)},
        ]
        self.power_mw = [312_500, 27_000]
        self.energy_mj: list[int | None] = [9_000_000, None]
        self.temperature = [61, 44]

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        assert self.initialised
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise FakeNvmlError("Invalid Argument")
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str | bytes:
        return self.gpus[handle]["uuid"]  # type: ignore[return-value]

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self.gpus[handle]["name"]  # type: ignore[return-value]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        gpu, memory = self.gpus[handle]["util"]  # type: ignore[misc]
        return SimpleNamespace(gpu=gpu, memory=memory)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        used, total = self.gpus[handle]["mem"]  # type: ignore[misc]
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self.power_mw[handle]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        energy = self.energy_mj[handle]
        if energy is None:
            raise FakeNvmlError("Not Supported")
        return energy

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self.temperature[handle]


def make_poller() -> tuple[GpuPoller, FakeNvml]:
    nvml = FakeNvml()
    nvml.nvmlInit()
    return GpuPoller(nvml, clock=lambda: 1_700_000_000.0, host="gpu-node-1"), nvml


# What the server should make of one export of FakeNvml: (gpu, uuid, model, metric) -> value.
EXPECTED = {
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.UTILIZATION_RATIO): 0.87,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.MEMORY_UTILIZATION_RATIO): 0.40,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.MEMORY_USED_BYTES): 20.0 * GIB,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.MEMORY_LIMIT_BYTES): 80.0 * GIB,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.POWER_WATTS): 312.5,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.ENERGY_JOULES): 9000.0,
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3", GpuMetric.TEMPERATURE_CELSIUS): 61.0,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.UTILIZATION_RATIO): 0.05,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.MEMORY_UTILIZATION_RATIO): 0.01,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.MEMORY_USED_BYTES): 1.0 * GIB,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.MEMORY_LIMIT_BYTES): 16.0 * GIB,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.POWER_WATTS): 27.0,
    ("1", "GPU-bbbb", "Tesla T4", GpuMetric.TEMPERATURE_CELSIUS): 44.0,
}


def test_poll_once_reads_every_gpu_in_base_units() -> None:
    poller, _ = make_poller()
    first, second = poller.poll_once()
    assert first == GpuReading(
        timestamp=1_700_000_000.0,
        index=0,
        uuid="GPU-aaaa",
        model="NVIDIA H100 80GB HBM3",
        utilization_ratio=0.87,
        memory_utilization_ratio=0.40,
        memory_used_bytes=20.0 * GIB,
        memory_limit_bytes=80.0 * GIB,
        power_watts=312.5,
        energy_joules=9000.0,
        temperature_celsius=61.0,
    )
    assert (second.uuid, second.model, second.energy_joules, second.power_watts) == ("GPU-bbbb", "Tesla T4", None, 27.0)
    assert first.attributes == {"hw.id": "GPU-aaaa", "hw.name": "0", "hw.type": "gpu", "hw.model": "NVIDIA H100 80GB HBM3"}


def test_unsupported_structs_leave_fields_out() -> None:
    poller, nvml = make_poller()

    def unsupported(handle: int) -> Any:
        raise FakeNvmlError("Not Supported")

    nvml.nvmlDeviceGetMemoryInfo = unsupported  # type: ignore[method-assign]
    reading = poller.poll_once()[0]
    assert (reading.memory_used_bytes, reading.memory_limit_bytes, reading.utilization_ratio) == (None, None, 0.87)


def test_close_shuts_nvml_down() -> None:
    poller, nvml = make_poller()
    poller.close()
    assert nvml.shutdowns == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"interval": 0.0}, "interval must be"), ({"interval": float("nan")}, "interval must be"), ({"duration": -1.0}, "duration")],
)
def test_run_validates_its_arguments(kwargs: dict[str, float], message: str) -> None:
    poller, _ = make_poller()
    with pytest.raises(ValueError, match=message):
        poller.run("http://127.0.0.1:9", **kwargs)


class _Capture(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (_Capture,), {"requests": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def decoded_samples(body: bytes, headers: dict[str, str]) -> tuple[list[GpuSample], dict[str, int]]:
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    result = decode_metrics(parse_metrics_request(body, "protobuf"))
    assert result.batch is not None
    assert not result.rejected, result.first_error
    samples, problems = from_otlp_metrics(result.batch)
    return samples, dict(problems)


def test_exported_request_normalises_to_the_gpu_schema(capture: tuple[str, list[Any]]) -> None:
    url, received = capture
    poller, _ = make_poller()
    assert poller.run(url + "/", interval=10.0, duration=0.0, token="s3cret") == 1
    [(path, headers, body)] = received
    assert path == "/v1/metrics"
    assert headers["authorization"] == "Bearer s3cret"
    samples, problems = decoded_samples(body, headers)
    assert problems == {}
    assert {s.host for s in samples} == {"gpu-node-1"}
    got = {(s.gpu, s.uuid, s.model_name, s.metric): s.value for s in samples}
    assert got == pytest.approx(EXPECTED)


def test_each_interval_exports_a_fresh_poll(capture: tuple[str, list[Any]]) -> None:
    url, received = capture
    poller, nvml = make_poller()
    readings: list[list[GpuReading]] = []
    original = poller.poll_once

    def poll_and_heat() -> list[GpuReading]:
        readings.append(original())
        nvml.temperature = [t + 1 for t in nvml.temperature]
        return readings[-1]

    poller.poll_once = poll_and_heat  # type: ignore[method-assign]
    exported = poller.run(url, interval=0.1, duration=0.25)
    assert exported == len(received) == len(readings) >= 2
    temperatures = []
    for _, headers, body in received:
        samples, _ = decoded_samples(body, headers)
        temperatures.append(sorted(s.value for s in samples if s.metric is GpuMetric.TEMPERATURE_CELSIUS))
    assert temperatures == [[44.0 + i, 61.0 + i] for i in range(len(received))]


def test_a_failing_poll_exports_nothing_and_keeps_going(capture: tuple[str, list[Any]]) -> None:
    url, received = capture
    poller, nvml = make_poller()

    def lost() -> int:
        raise FakeNvmlError("GPU is lost")

    nvml.nvmlDeviceGetCount = lost  # type: ignore[method-assign]
    assert poller.run(url, interval=10.0, duration=0.0) == 1
    assert received == []  # nothing to export: no request at all


def test_real_server_ingests_the_export(sqlite_url: str) -> None:
    settings = Settings(db_url=sqlite_url, port=0, ingest_token="ingest-token")  # type: ignore[arg-type]
    with ServerThread(settings) as server:
        poller, _ = make_poller()
        assert poller.run(server.url, interval=10.0, duration=0.0, token="ingest-token") == 1
        assert scrape(server.url).get('driftline_ingest_records_total{signal="metrics"}') == len(EXPECTED)


def run_cli(*args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "monitor", "agent", "gpu", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="pynvml is installed here")
def test_cli_without_pynvml_exits_2_with_one_line() -> None:
    done = run_cli("--duration", "1")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("driftline agent gpu: NVML not available: cannot import pynvml")
    assert done.stderr.count("\n") == 1


def test_cli_when_nvml_init_fails_exits_2_with_one_line(tmp_path: Any) -> None:
    (tmp_path / "pynvml.py").write_text(
        "class NVMLError(Exception):\n    pass\ndef nvmlInit():\n    raise NVMLError('NVML Shared Library Not Found')\n"
    )
    done = run_cli(pythonpath=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == "driftline agent gpu: NVML not available: nvmlInit failed: NVML Shared Library Not Found\n"


def test_cli_rejects_a_bad_interval() -> None:
    done = run_cli("--interval", "0")
    assert done.returncode == 2
    assert "--interval" in done.stderr
    assert done.stderr.count("\n") == 1
