"""``driftline serve`` as a child process, optionally pinned to one core, with its CPU time readable."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["Server", "free_port", "split_cores"]

_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_cores() -> tuple[int | None, set[int] | None]:
    """(server core, client cores) when at least two cores are available, else (None, None)."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[0], set(cores[1:])


class Server:
    """A fresh ``driftline serve`` on a loopback port with its own SQLite database in ``workdir``."""

    def __init__(self, workdir: Path, *, core: int | None, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.db_url = f"sqlite:///{workdir / 'driftline.db'}"
        self.core = core
        # Settings come from the defaults, not from whatever DRIFTLINE_* the caller's shell holds.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")} | (env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.taskset = shutil.which("taskset") if core is not None else None
        self._log_path = workdir / "server.log"

    @property
    def pinned(self) -> bool:
        return self.taskset is not None

    def command(self) -> list[str]:
        script = Path(sys.executable).parent / "driftline"
        entry = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
        serve = [*entry, "serve", "--port", str(self.port), "--db", self.db_url, "--log-level", "warning"]
        return [self.taskset, "-c", str(self.core), *serve] if self.taskset else serve

    def start(self, timeout: float = 60.0) -> None:
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command(), env=self.env, cwd=_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"driftline serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"driftline serve did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all its threads, so far."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def thread_cpu(self) -> dict[int, tuple[str, float]]:
        """CPU seconds (user + system) per thread id so far, with each thread's name."""
        out: dict[int, tuple[str, float]] = {}
        if self.process is None:
            return out
        tick = os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                name = (task / "comm").read_text().strip()
            except OSError:  # the thread ended meanwhile
                continue
            out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
        return out

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def readyz(self) -> dict[str, Any]:
        status, body = self.request("GET", "/readyz")
        document: dict[str, Any] = json.loads(body)
        document["status"] = status
        return document

    def metrics(self) -> dict[str, float]:
        """``/metrics`` samples as ``{'name{labels}': value}``."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = self.request("GET", "/metrics")
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = sample.value
        return out
