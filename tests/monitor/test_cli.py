"""The ``driftline`` command line, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.scenario import sample_applicants
from monitor.settings import Settings
from support import ROOT, ServerThread, free_port, require_path


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0)) as running:
        yield running


def test_reference_upload_parquet_with_progress(server: ServerThread, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = pa.table(
        {"age": rng.normal(40, 10, 5000), "plan": rng.choice(["basic", "pro"], 5000), "flag": rng.random(5000) > 0.5}
    )
    path = tmp_path / "train.parquet"
    pq.write_table(table, path)

    result = driftline("reference", "upload", "churn", "v3", str(path), "--api", server.url)

    assert result.returncode == 0, result.stderr
    assert "5000 rows, 3 features" in result.stdout
    assert "uploading train.parquet" in result.stderr  # the progress bar
    assert "100%" in result.stderr
    profiles = server.runtime.references.get("churn", "v3")
    assert set(profiles) == {"age", "plan", "flag"}
    assert set(profiles["flag"].categories) == {"false", "true"}


def test_reference_upload_csv_with_a_bad_column_reports_the_server_reason(server: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    result = driftline("reference", "upload", "m", "v1", str(path), "--api", server.url)
    assert result.returncode == 1
    assert "422" in result.stderr
    assert "no rows" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reference", "upload", "m", "v1", "/nonexistent.csv"], "is not a file"),
        (["simulate", "--rate", "-3"], "must be > 0"),
        (["serve", "--port", "eighty"], "invalid int value"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_one_line_reason(args: list[str], message: str) -> None:
    result = driftline(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_serve_rejects_an_invalid_config_file(tmp_path: Path) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text("window_seconds: -5\n")
    result = driftline("serve", "--config", str(config))
    assert result.returncode == 2
    assert "window_seconds" in result.stderr


def test_help_on_every_command() -> None:
    for args in (["--help"], ["serve", "--help"], ["reference", "upload", "--help"], ["simulate", "--help"], ["demo", "--help"]):
        result = driftline(*args)
        assert result.returncode == 0
        assert "usage: driftline" in result.stdout


@pytest.mark.slow
def test_demo_shows_drift_on_the_canary_within_one_window() -> None:
    port = free_port()
    demo = subprocess.Popen(
        # A generous lifetime: the test stops the demo as soon as it has seen the drift (about 25 s
        # on an idle machine), but a machine busy with other work may need far longer.
        [sys.executable, "-m", "monitor", "demo", "--port", str(port), "--speed", "1000", "--rate", "200", "--duration", "300"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        api = f"http://127.0.0.1:{port}"
        drifting: set[str] = set()
        deadline = time.monotonic() + 280
        while time.monotonic() < deadline and not {"income", "employment"} <= drifting:
            time.sleep(1)
            try:
                report = httpx.get(f"{api}/api/v1/models/credit-risk/drift", params={"version": "v2"}, timeout=5).json()
            except (httpx.HTTPError, ValueError):
                continue
            drifting = {r["feature"] for r in report.get("results", []) if r["drift_detected"]}
        assert {"income", "employment"} <= drifting
        stable = httpx.get(f"{api}/api/v1/models/credit-risk/drift", params={"version": "v1"}, timeout=5).json()
        assert {r["feature"] for r in stable["results"]} == set(sample_applicants(np.random.default_rng(0), 1, drifted=False))
        assert not [r["feature"] for r in stable["results"] if r["drift_detected"]]
    finally:
        demo.send_signal(2)
        try:
            output, _ = demo.communicate(timeout=90)  # the demo gives its components 20 s together
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()
            raise
    assert demo.returncode == 0
    assert f"{api}/metrics" in output


def test_configuration_reference_lists_every_setting() -> None:
    from monitor.settings import markdown_reference

    assert markdown_reference() in (ROOT / "docs" / "configuration.md").read_text()


NAB = ROOT.parent / "shared" / "bench" / "nab"


def test_eval_nab_scores_the_default_detector_with_nab_rules() -> None:
    require_path(NAB, "NAB benchmark data")
    import json

    result = driftline("eval", "nab", str(NAB / "data"), str(NAB / "windows.json"), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    # Pinned: the detector and the scorer are deterministic.
    assert scores["standard"] == pytest.approx(75.33, abs=0.01)
    assert set(scores["fixed"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}


def test_eval_nab_bad_directory_exits_2(tmp_path: Path) -> None:
    result = driftline("eval", "nab", str(tmp_path / "missing"), str(tmp_path / "windows.json"))
    assert result.returncode == 2
    assert "is not a directory" in result.stderr


TCPD = ROOT.parent / "shared" / "bench" / "tcpd"


def test_eval_tcpd_scores_online_change_detection_the_papers_way() -> None:
    require_path(TCPD, "TCPD benchmark data")
    import json

    result = driftline("eval", "tcpd", str(TCPD / "datasets"), str(TCPD / "annotations.json"), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    # Pinned (deterministic), and above the best published defaults (pelt 0.744 / 0.652).
    assert scores["f1"] == pytest.approx(0.8293, abs=1e-4)
    assert scores["cover"] == pytest.approx(0.6861, abs=1e-4)


def test_eval_tcpd_missing_annotations_exits_2(tmp_path: Path) -> None:
    result = driftline("eval", "tcpd", str(tmp_path), str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert result.stderr.startswith("driftline eval tcpd: error:")
