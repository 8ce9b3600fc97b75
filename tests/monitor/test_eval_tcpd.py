"""evaluate_tcpd: TCPD-layout loading, online detection per series, scoring and the averages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.changepoint import BOCPD, ChangePointDetector
from detectors.evaluation.tcpd import covering, f_measure
from monitor.eval_tcpd import PAPER_EXCLUDED, detect, evaluate_tcpd, load_tcpd
from support import require_path

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "tcpd"

PAPER_SERIES = [
    "centralia",
    "children_per_woman",
    "co2_canada",
    "construction",
    "debt_ireland",
    "gdp_argentina",
    "gdp_croatia",
    "homeruns",
    "nile",
    "ozone",
    "seatbelts",
    "unemployment_nl",
    "us_population",
    "well_log",
]


def write_series(root: Path, name: str, *columns: list[float | None]) -> None:
    series = [{"label": f"V{i + 1}", "type": "float", "raw": list(c)} for i, c in enumerate(columns)]
    body = {"name": name, "n_obs": len(columns[0]), "n_dim": len(columns), "time": {"index": []}, "series": series}
    (root / f"{name}.json").write_text(json.dumps(body))


def raw(xs: np.ndarray, missing: tuple[int, ...] = ()) -> list[float | None]:
    return [None if i in missing else round(float(v), 4) for i, v in enumerate(xs)]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Three series: a univariate step, an excluded name, a bivariate series; annotations beside."""
    rng = np.random.default_rng(0)
    data = tmp_path / "datasets"
    data.mkdir()
    step = rng.normal(10.0, 1.0, 300)
    step[150:] += 4.0
    write_series(data, "steps", raw(step, missing=(20, 151)))
    write_series(data, "quality_control_1", raw(rng.normal(0.0, 1.0, 120)))
    first, second = rng.normal(0.0, 1.0, 300), rng.normal(5.0, 1.0, 300)
    first[100:] += 5.0
    second[102:] -= 5.0
    second[200:] += 8.0
    write_series(data, "bivariate", raw(first), raw(second))
    annotations = {
        "steps": {"1": [150], "2": [151], "3": []},
        "quality_control_1": {"1": []},
        "bivariate": {"1": [100, 200], "2": [101]},
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(annotations))
    return data, path


def test_series_are_scored_online_and_averaged_the_papers_way(corpus: tuple[Path, Path]) -> None:
    report = evaluate_tcpd(*corpus)
    by_name = {s.name: s for s in report.series}
    assert list(by_name) == ["bivariate", "quality_control_1", "steps"]
    assert by_name["steps"].change_points == (150,)
    assert by_name["quality_control_1"].change_points == ()
    assert by_name["bivariate"].change_points == (100, 200)  # 102 in the second dimension is the same change
    annotations = json.loads(corpus[1].read_text())
    for s in report.series:
        assert s.f1 == f_measure(annotations[s.name], s.change_points)
        assert s.cover == covering(annotations[s.name], s.change_points, s.n_obs)
    # Only univariate series outside TCPDBench's exclusions enter the headline average.
    assert "quality_control_1" in PAPER_EXCLUDED
    assert [s.name for s in report.averaged] == ["steps"]
    assert (report.f1, report.cover) == (by_name["steps"].f1, by_name["steps"].cover)
    assert report.f1_all == pytest.approx(sum(s.f1 for s in report.series) / 3)
    assert report.cover_all == pytest.approx(sum(s.cover for s in report.series) / 3)
    assert report.detector == "BOCPD"
    assert report.params == BOCPD().get_params()


def test_json_and_table(corpus: tuple[Path, Path]) -> None:
    report = evaluate_tcpd(*corpus)
    out: dict[str, Any] = json.loads(report.to_json())
    assert out == report.as_dict()
    assert {"f1", "cover", "f1_all", "cover_all", "averaged_over", "series", "detector", "params"} <= out.keys()
    assert out["averaged_over"] == ["steps"]
    assert out["series"]["steps"] == {
        "f1": round(report.series[2].f1, 4),
        "cover": round(report.series[2].cover, 4),
        "change_points": [150],
        "n_obs": 300,
        "n_dim": 1,
    }
    table = report.format_table()
    assert "quality_control_1 *" in table
    assert "bivariate *" in table
    assert "steps " in table
    assert "average (1 series)" in table
    assert "average (all 3)" in table


def test_a_custom_detector_factory(corpus: tuple[Path, Path]) -> None:
    report = evaluate_tcpd(*corpus, detector_factory=lambda: BOCPD(confirm=2))
    assert report.params["confirm"] == 2


def test_headline_falls_back_to_all_series_when_none_qualifies(tmp_path: Path) -> None:
    write_series(tmp_path, "quality_control_2", raw(np.random.default_rng(1).normal(0, 1, 60)))
    (tmp_path / "a.json").write_text(json.dumps({"quality_control_2": {"1": [30]}}))
    report = evaluate_tcpd(tmp_path, tmp_path / "a.json")  # the annotations sit among the series
    assert len(report.series) == 1
    assert report.averaged == report.series
    assert report.f1 == report.f1_all


class Scripted(ChangePointDetector):
    """Reports ``point`` when it has seen ``at`` values, for each ``(at, point)`` of ``script``."""

    def __init__(self, script: tuple[tuple[int, int], ...] = ()) -> None:
        self.script = script
        super().__init__()

    def _reset(self) -> None:
        self._n = 0
        self._points: list[int] = []

    def update(self, x: float) -> None:
        self._n += 1
        new = [point for at, point in self.script if at == self._n]
        self._points.extend(new)
        self.drift_detected = bool(new)

    @property
    def change_points(self) -> tuple[int, ...]:
        return tuple(self._points)

    @property
    def n_seen(self) -> int:
        return self._n


def test_dimensions_are_merged_in_the_order_changes_were_reported() -> None:
    # The second dimension reports 103 first; the first dimension's later 100 is the same change.
    scripts = iter([((106, 100), (311, 300)), ((105, 103), (211, 200))])
    points = detect(np.zeros((400, 2)), lambda: Scripted(next(scripts)))
    assert points == (103, 200, 300)


def test_mismatched_or_malformed_input_is_reported(tmp_path: Path) -> None:
    write_series(tmp_path, "one", [1.0, 2.0, 3.0])
    write_series(tmp_path, "two", [1.0, 2.0, 3.0])
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps({"one": {"1": []}, "three": {"1": [1]}}))
    with pytest.raises(ValueError, match=r"without annotations \['two'\].*without series \['three'\]"):
        load_tcpd(tmp_path, annotations)

    def fails(body: dict[str, Any], match: str, notes: Any = None) -> None:
        (tmp_path / "two.json").unlink(missing_ok=True)
        (tmp_path / "bad.json").write_text(json.dumps(body))
        annotations.write_text(json.dumps(notes or {"one": {"1": []}, "bad": {"1": []}}))
        with pytest.raises(ValueError, match=match):
            load_tcpd(tmp_path, annotations)

    fails({"series": [{"raw": [1.0, "x"]}]}, r"bad.json: series\[0\].raw\[1\] must be a finite number or null, got 'x'")
    fails({"series": [{"raw": [1.0, True]}]}, r"raw\[1\] must be a finite number")
    fails({"series": []}, "'series' must be a non-empty list")
    fails({"n_obs": 3, "series": [{"raw": [1.0, 2.0]}]}, "n_obs is 3 but the series hold 2 values")
    fails({"series": [{"raw": [1.0, 2.0]}, {"raw": [1.0]}]}, r"series\[1\].raw must be a list, as long as")
    fails({"series": [{"raw": [1.0]}]}, r"'bad' / '1' must be a list of integers", {"one": {"1": []}, "bad": {"1": [1.5]}})
    fails({"series": [{"raw": [1.0]}]}, "'bad' must map at least one annotator", {"one": {"1": []}, "bad": {}})
    with pytest.raises(ValueError, match="not a directory"):
        load_tcpd(tmp_path / "missing", annotations)
    (tmp_path / "empty").mkdir()
    annotations.write_text(json.dumps({"one": {"1": []}}))
    with pytest.raises(ValueError, match=r"no '<name>\.json' series"):
        load_tcpd(tmp_path / "empty", annotations)


def test_the_published_corpus() -> None:
    # TCPDBench's 21 series: online BOCPD against the best published defaults on the 14
    # univariate series (pelt 0.744 / 0.652, binseg 0.741 / 0.647, bocpd 0.726 / 0.614, zero
    # 0.640 / 0.545). Deterministic, so the figures are pinned; about a second.
    require_path(BENCH, "TCPD benchmark data")
    report = evaluate_tcpd(BENCH / "datasets", BENCH / "annotations.json")
    assert len(report.series) == 21
    assert [s.name for s in report.averaged] == PAPER_SERIES
    assert (round(report.f1, 4), round(report.cover, 4)) == (0.8293, 0.6861)
    assert (round(report.f1_all, 4), round(report.cover_all, 4)) == (0.8588, 0.735)
    assert report.f1 > 0.7445
    assert report.cover > 0.6522
    points = {s.name: s.change_points for s in report.series}
    assert points["nile"] == (28,)
    assert points["gdp_croatia"] == (14,)
    assert points["us_population"] == ()
    assert points["seatbelts"] == (10, 60, 169)
    assert not math.isnan(report.points_per_second)
