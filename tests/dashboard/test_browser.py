"""``driftline dashboard`` in real headless Chromium against a seeded server: every page renders, no errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cdp import Browser
from seed import MODEL, seed, settings

from support import ROOT, ServerThread, free_port, require_binary

#: page path -> (selector that shows it rendered, how many)
PAGES = {
    "": ('[data-testid="stDataFrame"]', 1),  # the overview is the default page
    f"drift?model={MODEL}&version=v2": (".js-plotly-plot .main-svg", 2),
    f"performance?model={MODEL}&version=v2": (".js-plotly-plot .main-svg", 7),  # traffic, latency, quality, 4 GPU charts
    "business": (".js-plotly-plot .main-svg", 1),
    "alerts": (".js-plotly-plot .main-svg", 1),  # the alert timeline
}


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_binary("chromium", "Chromium")
    path = tmp_path_factory.mktemp("browser") / "driftline.db"
    with ServerThread(settings(f"sqlite:///{path}")) as server:
        seed(server.url)
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "dashboard", "--api", server.url, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, f"driftline dashboard exited with {process.returncode}"
                assert time.monotonic() < deadline, "the dashboard did not answer /_stcore/health in 60 s"
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_binary("chromium", "Chromium")
    opened = Browser()
    try:
        yield opened
    finally:
        opened.close()


def _keep(shot: Path) -> None:
    """``make screenshots`` sets DRIFTLINE_SCREENSHOT_DIR to refresh the images in docs/img/."""
    target = os.environ.get("DRIFTLINE_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_its_charts_without_errors(dashboard: str, browser: Browser, path: str, tmp_path: Path) -> None:
    selector, minimum = PAGES[path]
    browser.load(f"{dashboard}/{path}", selector, minimum)
    assert browser.count('[data-testid="stException"]') == 0
    assert browser.count(selector) >= minimum
    assert "Page not found" not in browser.evaluate("document.body.innerText")
    page = path.split("?", 1)[0]
    shot = browser.screenshot(tmp_path / (f"dashboard-{page}.png" if page else "dashboard.png"))
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    _keep(shot)


def test_overview_reads_in_the_dark_theme(dashboard: str, browser: Browser, tmp_path: Path) -> None:
    browser.dark()
    browser.load(f"{dashboard}/", '[data-testid="stDataFrame"]')
    background = browser.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    assert browser.count('[data-testid="stException"]') == 0
    _keep(browser.screenshot(tmp_path / "dashboard-dark.png"))
