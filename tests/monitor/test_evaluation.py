"""evaluate_nab: reading a NAB-layout directory, scoring it and judging it with NAB's rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from detectors.anomaly import AnomalyScorer
from monitor.evaluation import evaluate_nab, load_nab
from support import require_path

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "nab"
MARK = 999.0


class MarkerScorer(AnomalyScorer):
    """Flags exactly the rows whose value is the marker: a perfect detector for these files."""

    def __init__(self) -> None:
        super().__init__()

    def _reset(self) -> None:
        pass

    def score_many(self, values: npt.ArrayLike, timestamps: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
        return (np.asarray(values, dtype=np.float64) == MARK).astype(np.float64)


def _stamp(t: np.datetime64) -> str:
    return str(t).replace("T", " ")


def _write_corpus(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """Three files in two categories; anomalies marked with MARK at each window's first row."""
    rng = np.random.default_rng(seed)
    data, windows = root / "data", {}
    for name, n, starts in [("cat_a/one.csv", 1200, [700]), ("cat_a/two.csv", 900, [400, 700]), ("cat_b/quiet.csv", 800, [])]:
        ts = np.arange("2024-03-01T00:00", n, dtype="datetime64[5m]").astype("datetime64[s]")
        x = rng.normal(10, 1, n)
        spans = []
        for start in starts:
            x[start] = MARK
            spans.append([_stamp(ts[start]), _stamp(ts[start + 40])])
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(f"{_stamp(t)},{v}\n" for t, v in zip(ts, x, strict=True))
        (data / name).write_text("timestamp,value\n" + rows)
        windows[name] = spans
    (root / "windows.json").write_text(json.dumps(windows))
    return data, root / "windows.json"


def test_a_perfect_detector_scores_100_on_every_profile(tmp_path: Path) -> None:
    data, windows = _write_corpus(tmp_path)
    report = evaluate_nab(data, windows, detector_factory=MarkerScorer)
    assert (report.n_files, report.n_windows, report.n_rows) == (3, 3, 2900)
    assert [s.normalised for s in report.fixed] == pytest.approx([100.0, 100.0, 100.0])
    assert [s.normalised for s in report.optimised] == pytest.approx([100.0, 100.0, 100.0])
    assert report.fixed[0].threshold == MarkerScorer.threshold


def test_the_default_scorer_finds_the_marked_anomalies(tmp_path: Path) -> None:
    data, windows = _write_corpus(tmp_path)
    report = evaluate_nab(data, windows)
    assert report.detector == "SeasonalNoveltyScorer"
    best = report.optimised[0]
    assert (best.detected, best.missed) == (3, 0)  # the repeated marker in two.csv is less novel
    out = report.as_dict()
    assert set(out) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate", "fixed", "thresholds", "points_per_second"}
    assert out["standard"] == round(best.normalised, 2)
    assert json.loads(json.dumps(out)) == out
    table = report.format_table().splitlines()
    assert len(table) == 2 + 6
    assert table[2].startswith("fixed 0.59")


def test_files_and_windows_must_match(tmp_path: Path) -> None:
    data, windows = _write_corpus(tmp_path)
    labels = json.loads(windows.read_text())
    (tmp_path / "extra.json").write_text(json.dumps({**labels, "cat_c/missing.csv": []}))
    with pytest.raises(ValueError, match=r"windows without files \['cat_c/missing.csv'\]"):
        load_nab(data, tmp_path / "extra.json")
    del labels["cat_b/quiet.csv"]
    (tmp_path / "fewer.json").write_text(json.dumps(labels))
    with pytest.raises(ValueError, match=r"files without windows \['cat_b/quiet.csv'\]"):
        load_nab(data, tmp_path / "fewer.json")
    with pytest.raises(ValueError, match="is not a directory"):
        load_nab(tmp_path / "nowhere", windows)


def test_bad_csv_contents_are_reported_with_file_and_line(tmp_path: Path) -> None:
    data, windows = _write_corpus(tmp_path)
    path = data / "cat_a" / "one.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], lines[2].split(",")[0] + ",oops", *lines[3:]]))
    with pytest.raises(ValueError, match=r"one.csv:3: value must be a number"):
        load_nab(data, windows)
    path.write_text("time,val\n")
    with pytest.raises(ValueError, match="header must start with 'timestamp,value'"):
        load_nab(data, windows)


def test_loaded_windows_are_row_ranges() -> None:
    require_path(BENCH, "NAB benchmark data")
    files = {f.name: f for f in load_nab(BENCH / "data", BENCH / "windows.json")}
    assert len(files) == 31
    assert sum(len(f.windows) for f in files.values()) == 60
    assert files["realKnownCause/rogue_agent_key_hold.csv"].windows[0][0] > 0


@pytest.mark.slow
def test_default_scorer_on_the_nab_dev_subset() -> None:
    """The whole benchmark (201,395 rows) in a few seconds; the figures are in the report."""
    require_path(BENCH, "NAB benchmark data")
    report = evaluate_nab(BENCH / "data", BENCH / "windows.json")
    standard = report.optimised[0]
    assert standard.profile == "standard"
    assert standard.normalised > 74.0  # numenta HTM: 72.22 on the same files
    assert report.fixed[0].normalised > 73.0
