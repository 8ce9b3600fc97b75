"""Headless Chromium driven over the DevTools protocol (websockets), for real-browser dashboard tests."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from support import free_port

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
]

#: Streamlit is done when these are gone: the first-load skeleton and the "running" widget.
_BUSY = '[data-testid="stAppSkeleton"], [data-testid="stStatusWidget"]'


class Browser:
    """One headless Chromium with a fresh profile and one page; ``call`` sends a DevTools command."""

    def __init__(self, binary: str = "chromium", width: int = 1440, height: int = 1000) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="driftline-chromium-"))
        port = free_port()
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--remote-debugging-port={port}", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        target = self._page_target(f"http://127.0.0.1:{port}")
        self._stack = contextlib.ExitStack()
        self.socket: ClientConnection = self._stack.enter_context(connect(target, max_size=64 * 1024 * 1024, open_timeout=30))
        self._id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _page_target(self, base: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            try:
                pages = [t for t in httpx.get(f"{base}/json/list", timeout=2).json() if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("chromium's DevTools endpoint did not come up in 60 s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:  # skip events until our answer arrives
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def count(self, selector: str) -> int:
        return int(self.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))

    def load(self, url: str, ready: str, minimum: int = 1, timeout: float = 90.0) -> None:
        """Navigate and wait until Streamlit is idle, ``minimum`` elements match ``ready`` and nothing changes."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        settled = 0
        while time.monotonic() < deadline:
            idle = self.count(_BUSY) == 0 and self.count(ready) >= minimum
            settled = settled + 1 if idle else 0
            if settled >= 3:  # idle on three polls in a row: the last rerun has finished drawing
                return
            time.sleep(0.3)
        raise AssertionError(f"{url}: {ready!r} x{minimum} not rendered in {timeout} s (found {self.count(ready)})")

    def dark(self) -> None:
        """Prefer a dark colour scheme (Streamlit follows the system setting by default)."""
        self.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
