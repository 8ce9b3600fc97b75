"""Path arguments: a missing, wrong-kind or traversing path is a clear one-line error, never a traceback,
and names inside a data file can never make the CLI read outside the directory it was given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.api import create_app
from monitor.settings import Settings
from support import ROOT


def driftline(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "monitor", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def assert_clear_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A readable, well-formed file beside the data directory that no command was given."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    (secret / "secret.json").write_text(json.dumps({"series": [{"raw": [1, 2, 3]}]}))
    return secret


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("reference", "upload", "m", "v", "{missing}"), "is not a file"),
        (("reference", "upload", "m", "v", "{dir}"), "is not a file"),
        (("check", "{missing}", "{missing}"), "no such file"),
        (("check", "{dir}", "{dir}"), "not a regular file"),
        (("kpi", "import", "{missing}"), "No such file"),
        (("eval", "nab", "{missing}", "{missing}"), "is not a directory"),
        (("eval", "tcpd", "{missing}", "{missing}"), "is not a directory"),
    ],
)
def test_missing_or_wrong_kind_of_path_is_a_one_line_error(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    paths = {"missing": str(tmp_path / "data" / ".." / ".." / "nowhere" / "input.csv"), "dir": str(tmp_path)}
    result = (
        driftline(*(arg.format(**paths) for arg in args), "--api", "http://127.0.0.1:9")
        if args[0]
        in {
            "reference",
            "kpi",
        }
        else driftline(*(arg.format(**paths) for arg in args))
    )
    assert_clear_error(result, expected)


def test_nab_windows_naming_a_file_outside_the_data_directory_is_refused(tmp_path: Path, outside: Path) -> None:
    data = tmp_path / "nab"
    (data / "cat").mkdir(parents=True)
    (data / "cat" / "a.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"cat/a.csv": [], "../outside/secret.csv": []}))
    # The traversing name is refused as having no file under data_dir: it is never resolved.
    assert_clear_error(driftline("eval", "nab", data, windows), "windows without files ['../outside/secret.csv']")


def test_tcpd_annotations_naming_a_series_outside_the_data_directory_are_refused(tmp_path: Path, outside: Path) -> None:
    data = tmp_path / "tcpd"
    data.mkdir()
    (data / "a.json").write_text(json.dumps({"series": [{"raw": [1, 2, 3]}]}))
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps({"a": {"1": [1]}, "../outside/secret": {"1": [1]}}))
    assert_clear_error(
        driftline("eval", "tcpd", data, annotations), "annotations_json does not match data_dir", "../outside/secret"
    )


def test_no_api_parameter_names_a_file(tmp_path: Path) -> None:
    """Files reach the server only as request bodies; a new path-like parameter must come with its own test."""
    spec = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'driftline.db'}")).openapi()
    names = {p["name"] for operations in spec["paths"].values() for op in operations.values() for p in op.get("parameters", [])}
    assert not {n for n in names if any(word in n.lower() for word in ("path", "file", "dir"))}
