"""``driftline check``: the batch quality gate, run as a CI job would run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

import monitor._sources
from collectors.records import Column, InferenceBatch
from monitor.check import CheckInputError, run_check
from monitor.cli import CHECK_FORMATS, main
from monitor.drift import evaluate_window
from monitor.references import build_profiles
from monitor.report import FORMATS, render
from monitor.settings import Settings
from monitor.windows import WindowSet
from support import ROOT

FEATURE_KEYS = {
    "feature",
    "kind",
    "status",
    "test",
    "statistic",
    "p_value",
    "effect_size",
    "threshold",
    "drift_detected",
    "n_reference",
    "n_current",
    "nulls_reference",
    "nulls_current",
    "mean_reference",
    "mean_current",
    "std_reference",
    "std_current",
    "message",
}
SHIFTED = {"age", "plan"}


def dataset(seed: int, n: int, *, shifted: bool = False) -> pa.Table:
    """Six features; ``shifted`` moves one numerical (age) and one categorical (plan) column."""
    rng = np.random.default_rng(seed)
    plan_p = [0.25, 0.35, 0.4] if shifted else [0.6, 0.3, 0.1]
    return pa.table(
        {
            "age": rng.normal(40 + (8 if shifted else 0), 10, n),
            "income": rng.lognormal(10, 1, n),
            "tenure": rng.integers(0, 120, n),
            "plan": rng.choice(["basic", "pro", "team"], n, p=plan_p),
            "region": rng.choice(["de", "fr", "uk", "us"], n),
            "active": rng.random(n) > 0.3,
        }
    )


def write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flagged(out: str) -> set[str]:
    return {f["feature"] for f in json.loads(out)["features"] if f["drift_detected"]}


# -- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [600, 3000])  # p-value tests below 1000 current rows, distances above
@pytest.mark.parametrize(("ref_suffix", "cur_suffix"), [(".csv", ".csv"), (".parquet", ".parquet"), (".csv", ".parquet")])
def test_exactly_the_shifted_columns_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int, ref_suffix: str, cur_suffix: str
) -> None:
    reference = write(dataset(1, 4000), tmp_path / f"reference{ref_suffix}")
    current = write(dataset(2, rows, shifted=True), tmp_path / f"current{cur_suffix}")

    code, out, err = check(capsys, str(reference), str(current), "--format", "json")

    assert code == 1, err
    assert flagged(out) == SHIFTED
    report = json.loads(out)
    assert report["drift_detected"] is True
    assert report["exit_code"] == 1
    assert report["summary"]["by_status"]["drift"] == 2
    assert report["current"]["rows"] == rows
    assert {f["status"] for f in report["features"] if f["feature"] not in SHIFTED} == {"ok"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_identical_distributions_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    reference = write(dataset(1, 4000), tmp_path / f"reference{suffix}")
    current = write(dataset(2, 3000), tmp_path / f"current{suffix}")

    code, out, err = check(capsys, str(reference), str(current), "--format", "json")

    assert code == 0, err
    assert flagged(out) == set()
    assert {f["status"] for f in json.loads(out)["features"]} == {"ok"}


def test_a_file_against_itself_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(dataset(1, 2000), tmp_path / "data.parquet")
    code, out, _ = check(capsys, str(path), str(path))
    assert code == 0
    assert out.rstrip().endswith("OK: no drift in 6 columns")


def test_results_match_the_service_on_the_same_data(tmp_path: Path) -> None:
    """The gate and the pipeline's window evaluation agree test for test."""
    ref_table = dataset(1, 4000).drop_columns(["tenure", "active"])
    cur_table = dataset(2, 1500, shifted=True).drop_columns(["tenure", "active"])
    settings = Settings()
    report = run_check(write(ref_table, tmp_path / "r.parquet"), write(cur_table, tmp_path / "c.parquet"), settings=settings)

    profiles = build_profiles(ref_table, n_bins=settings.reference_bins, sample_size=settings.reference_sample_size)
    n = cur_table.num_rows
    features = {
        name: Column("numeric", cur_table[name].to_numpy())
        if pa.types.is_floating(cur_table.schema.field(name).type)
        else Column("categorical", np.asarray(cur_table[name].to_pylist(), dtype=object))
        for name in cur_table.column_names
    }
    batch = InferenceBatch(
        "m", "v1", np.zeros(n), np.asarray([str(i) for i in range(n)], dtype=object), Column("numeric", np.zeros(n)),
        np.full(n, np.nan), np.full(n, np.nan), features,
    )  # fmt: skip
    window = WindowSet(start=0.0, end=300.0)
    window.add(batch, slice(None), profiles, settings.window_sample_size)
    service = {d.feature: d.result for d in evaluate_window(window, profiles)}

    gate = {f.feature: f.result for f in report.features}
    assert set(gate) == set(service)
    for name, result in service.items():
        ours = gate[name]
        assert ours is not None
        assert (ours.test, ours.drift_detected, ours.n_current) == (result.test, result.drift_detected, result.n_current)
        assert ours.statistic == pytest.approx(result.statistic)


def test_reports_are_reproducible(tmp_path: Path) -> None:
    reference = write(dataset(1, 4000), tmp_path / "r.parquet")
    current = write(dataset(2, 5000, shifted=True), tmp_path / "c.parquet")  # larger than the reservoir

    first, second = (run_check(reference, current, batch_rows=700).to_dict() for _ in range(2))

    first.pop("elapsed_seconds")
    second.pop("elapsed_seconds")
    assert first == second


# -- columns that do not line up ---------------------------------------------------------------


def test_columns_in_one_file_only_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = write(dataset(1, 3000).append_column("dropped", pa.array(np.arange(3000.0))), tmp_path / "r.csv")
    current = write(dataset(2, 3000).append_column("added", pa.array(np.arange(3000.0))), tmp_path / "c.parquet")

    code, out, _ = check(capsys, str(reference), str(current), "--format", "json")

    features = {f["feature"]: f for f in json.loads(out)["features"]}
    assert code == 1
    assert features["dropped"]["status"] == "missing"
    assert features["dropped"]["drift_detected"] is True
    assert features["added"]["status"] == "new"
    assert features["added"]["drift_detected"] is False
    assert flagged(out) == {"dropped"}


def test_a_column_only_in_the_current_file_does_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = write(dataset(1, 3000), tmp_path / "r.parquet")
    current = write(dataset(2, 3000).append_column("added", pa.array(["x"] * 3000)), tmp_path / "c.parquet")
    code, _, _ = check(capsys, str(reference), str(current))
    assert code == 0


def test_a_changed_column_type_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = write(dataset(1, 3000), tmp_path / "r.parquet")
    current_table = dataset(2, 3000)
    current_table = current_table.set_column(0, "age", current_table["age"].cast(pa.string()))
    current = write(current_table, tmp_path / "c.parquet")

    code, out, _ = check(capsys, str(reference), str(current), "--format", "json")

    features = {f["feature"]: f for f in json.loads(out)["features"]}
    assert code == 1
    assert features["age"]["status"] == "type_changed"
    assert "number" in features["age"]["message"]
    assert "text" in features["age"]["message"]
    assert flagged(out) == {"age"}


def test_integers_against_floats_are_the_same_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = write(dataset(1, 3000), tmp_path / "r.parquet")
    current_table = dataset(2, 3000)
    current_table = current_table.set_column(2, "tenure", current_table["tenure"].cast(pa.float32()))
    code, _, _ = check(capsys, str(reference), str(write(current_table, tmp_path / "c.parquet")))
    assert code == 0


def test_csv_column_that_turns_to_text_partway_is_a_type_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(monitor._sources, "_CSV_BLOCK_BYTES", 4096)  # types are inferred from the first block
    reference = write(dataset(1, 3000), tmp_path / "r.csv")
    table = dataset(2, 3000)
    age = table["age"].to_pylist()
    age[2500] = "unknown"
    current = write(table.set_column(0, "age", pa.array([str(v) for v in age])), tmp_path / "c.csv")

    code, out, _ = check(capsys, str(reference), str(current), "--format", "json")

    features = {f["feature"]: f for f in json.loads(out)["features"]}
    assert code == 1
    assert features["age"]["status"] == "type_changed"
    assert "unknown" in features["age"]["message"]
    assert {f for f, v in features.items() if v["status"] == "ok"} == {"income", "tenure", "plan", "region", "active"}
    assert json.loads(out)["current"]["rows"] == 3000


def test_csv_reference_types_match_a_whole_file_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streaming the reference types its columns as the service's whole-file read does."""
    monkeypatch.setattr(monitor._sources, "_CSV_BLOCK_BYTES", 4096)
    lines = ["code,ratio,label_text"]
    lines += [f"{i},{i},{i % 3}" for i in range(2000)]  # integers for many blocks...
    lines += ["X7,0.5,two"]  # ...then text in one column and a decimal in another
    reference = tmp_path / "r.csv"
    reference.write_text("\n".join(lines) + "\n")

    report = run_check(reference, reference)

    kinds = {f.feature: f.kind for f in report.features}
    whole = build_profiles(pa_csv.read_csv(reference))
    assert kinds == {name: "numeric" if hasattr(p, "edges") else "categorical" for name, p in whole.items()}
    assert kinds["code"] == "categorical"
    assert kinds["ratio"] == "numeric"
    assert report.exit_code == 0


def test_an_all_null_current_column_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = write(dataset(1, 3000), tmp_path / "r.parquet")
    table = dataset(2, 3000)
    current = write(table.set_column(1, "income", pa.nulls(3000, pa.float64())), tmp_path / "c.parquet")

    code, out, _ = check(capsys, str(reference), str(current), "--format", "json")

    features = {f["feature"]: f for f in json.loads(out)["features"]}
    assert code == 1
    assert features["income"]["status"] == "no_data"
    assert features["income"]["nulls_current"] == 3000


def test_reserved_columns_are_not_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = dataset(1, 3000).append_column("prediction", pa.array(np.zeros(3000)))
    cur = dataset(2, 3000).append_column("prediction", pa.array(np.ones(3000)))
    code, out, _ = check(
        capsys, str(write(ref, tmp_path / "r.parquet")), str(write(cur, tmp_path / "c.parquet")), "--format", "json"
    )
    features = {f["feature"]: f for f in json.loads(out)["features"]}
    assert code == 0
    assert features["prediction"]["status"] == "skipped"


# -- formats -----------------------------------------------------------------------------------


@pytest.fixture
def drifting(tmp_path: Path) -> tuple[str, str]:
    reference = dataset(1, 3000).append_column("gone", pa.array(np.zeros(3000)))
    current = dataset(2, 3000, shifted=True).append_column('odd <name> & "quotes"\x01', pa.array(np.zeros(3000)))
    return str(write(reference, tmp_path / "r.parquet")), str(write(current, tmp_path / "c.parquet"))


def test_json_keys_are_stable(drifting: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, *drifting, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert set(report) == {
        "drift_detected", "exit_code", "reference", "current", "settings", "summary", "features", "elapsed_seconds",
    }  # fmt: skip
    assert set(report["reference"]) == {"path", "format", "rows", "columns"}
    assert report["settings"]["drift_alpha"] == Settings().drift_alpha
    assert [f["feature"] for f in report["features"]] == sorted(f["feature"] for f in report["features"])
    for feature in report["features"]:
        assert set(feature) == FEATURE_KEYS
    statuses = {f["feature"]: f["status"] for f in report["features"]}
    assert statuses["gone"] == "missing"
    assert sum(report["summary"]["by_status"].values()) == len(report["features"]) == report["summary"]["columns"]


def test_junit_has_one_case_per_column_and_fails_the_drifting(
    drifting: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check(capsys, *drifting, "--format", "junit")

    root = ET.fromstring(out.encode())
    assert code == 1
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests", "-1")) == 8
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {*SHIFTED, "gone"}
    assert int(suite.get("failures", "-1")) == 3
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ['odd <name> & "quotes"\ufffd']  # XML cannot carry \x01
    failure = next(c for c in cases if c.get("name") == "age").find("failure")
    assert failure is not None
    assert failure.get("type") == "drift"
    assert "threshold" in (failure.text or "")


def test_html_is_self_contained_with_a_plot_per_tested_column(
    drifting: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "report.html"
    code, out, err = check(capsys, *drifting, "--out", str(out_file))  # format from the suffix

    page = out_file.read_text(encoding="utf-8")
    assert code == 1
    assert out == ""
    assert "report written to" in err
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 6  # the six tested columns; missing and new ones have no plot
    for name in ("age", "plan", "income", "region"):
        assert f"<h2>{name} " in page
    assert "<script" not in page
    assert "src=" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "odd &lt;name&gt; &amp; &quot;quotes&quot;" in page
    assert page.index("<h2>age ") < page.index("<h2>income ")  # drifting first
    for target in re.findall(r'href="#([^"]+)"', page):
        assert f'id="{target}"' in page


def test_table_lists_failing_columns_first(drifting: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, *drifting)

    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("feature"))
    rows = [line.split()[0] for line in lines[header + 2 : header + 2 + 8]]
    assert code == 1
    assert set(rows[:3]) == {*SHIFTED, "gone"}
    assert lines[header + 2].split()[2] == "DRIFT"
    assert "\x01" not in out  # control characters are shown escaped
    assert lines[-1] == "DRIFT: 3 of 8 columns fail the check"


def test_every_format_renders(tmp_path: Path) -> None:
    report = run_check(write(dataset(1, 500), tmp_path / "r.csv"), write(dataset(2, 500), tmp_path / "c.csv"))
    assert set(FORMATS) == set(CHECK_FORMATS)
    for name in FORMATS:
        assert render(report, name)
    with pytest.raises(ValueError, match="format must be one of"):
        render(report, "yaml")  # type: ignore[arg-type]


def test_progress_goes_to_stderr_and_quiet_silences_it(drifting: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = check(capsys, *drifting, "--format", "json")
    assert "profiling reference" in err
    assert "reading current" in err
    json.loads(out)  # progress never mixes into the report
    _, _, quiet = check(capsys, *drifting, "--format", "json", "--quiet")
    assert quiet == ""


def test_settings_come_from_the_config_file(
    drifting: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text("family_method: bonferroni\ndrift_alpha: 0.01\n")
    code, out, _ = check(capsys, *drifting, "--format", "json", "--config", str(config))
    assert code == 1
    assert json.loads(out)["settings"]["family_method"] == "bonferroni"
    assert json.loads(out)["settings"]["drift_alpha"] == 0.01


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> str:
    return str(write(dataset(1, 500), tmp_path / "good.csv"))


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "twice.csv").write_text("a,a\n1,2\n")
    (tmp_path / "reserved.csv").write_text("timestamp,prediction\n1,2\n")
    (tmp_path / "folder.csv").mkdir()
    return {
        "missing": (tmp_path / "nope.csv", "no such file"),
        "directory": (tmp_path / "folder.csv", "not a regular file"),
        "empty": (tmp_path / "empty.csv", "empty"),
        "no rows": (tmp_path / "header.csv", "no rows"),
        "not csv": (tmp_path / "data.txt", "not a CSV or Parquet file"),
        "binary": (tmp_path / "binary.csv", "not a text file"),
        "broken parquet": (tmp_path / "broken.parquet", "cannot read as Parquet"),
        "ragged": (tmp_path / "ragged.csv", "cannot read as CSV"),
        "duplicate columns": (tmp_path / "twice.csv", "appears more than once"),
        "only reserved columns": (tmp_path / "reserved.csv", "no feature columns"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "empty",
        "no rows",
        "not csv",
        "binary",
        "broken parquet",
        "ragged",
        "duplicate columns",
        "only reserved columns",
    ],
)
@pytest.mark.parametrize("side", ["reference", "current"])
def test_bad_files_exit_2_with_a_one_line_reason(
    tmp_path: Path, good: str, capsys: pytest.CaptureFixture[str], case: str, side: str
) -> None:
    path, reason = _bad_files(tmp_path)[case]
    if case == "only reserved columns" and side == "current":
        reason = "only in the current"  # not bad input there: every reference column is missing
    args = (str(path), good) if side == "reference" else (good, str(path))

    code, out, err = check(capsys, *args)

    if reason == "only in the current":
        assert code == 1
        return
    assert code == 2, out
    assert out == ""
    assert one_reason(err, reason)


def one_reason(err: str, reason: str) -> bool:
    """stderr ends with exactly one ``driftline check:`` line, holding ``reason``; progress may precede it."""
    lines = err.rstrip("\n").split("\n")
    reasons = [line for line in lines if line.startswith("driftline check: ")]
    return len(reasons) == 1 and lines[-1] == reasons[0] and reason in reasons[0]


def test_out_problems_exit_2_before_any_work(tmp_path: Path, good: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        str(tmp_path / "no" / "such" / "report.json"): "does not exist",
        str(tmp_path): "is a directory",
        good: "would overwrite the input",
        str(tmp_path / ".." / tmp_path.name / "good.csv"): "would overwrite the input",
    }
    for out, reason in cases.items():
        code, _, err = check(capsys, good, good, "--out", out)
        assert code == 2
        assert err.count("\n") == 1  # before any work, so no progress either
        assert one_reason(err, reason)


def test_bad_arguments_exit_2(good: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("drift_alpha: 7\n")
    for args in (["check"], ["check", good], ["check", good, good, "--format", "yaml"], ["check", good, good, "--bogus"]):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("driftline")
        assert ": error: " in last
    code, _, err = check(capsys, good, good, "--config", str(bad_config))
    assert code == 2
    assert err.count("\n") == 1
    assert one_reason(err, "invalid settings")


def test_check_input_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckInputError, match="no such file") as raised:
        run_check(tmp_path / "a.csv", tmp_path / "b.csv")
    assert raised.value.path == tmp_path / "a.csv"


def test_the_installed_command_runs(tmp_path: Path) -> None:
    reference = write(dataset(1, 1500), tmp_path / "r.parquet")
    current = write(dataset(2, 1500, shifted=True), tmp_path / "c.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check", str(reference), str(current), "--format", "junit"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert ET.fromstring(done.stdout).tag == "testsuites"


def test_help_states_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit code 0: no drift; 1: drift" in text
    assert "2: bad input" in text
