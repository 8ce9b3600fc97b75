"""The NAB scorer follows NAB's rules and reproduces the published dev-subset scores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from detectors.evaluation.nab import (
    NAB_PROFILES,
    NabSeries,
    optimise_threshold,
    probation_length,
    scaled_sigmoid,
    score_corpus,
    window_rows,
)
from support import require_path

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "nab"
STANDARD, LOW_FP, LOW_FN = NAB_PROFILES


def test_scaled_sigmoid_and_probation_follow_nab() -> None:
    assert scaled_sigmoid(0.0) == 0.0
    assert float(scaled_sigmoid(3.0)) == pytest.approx(2 / (1 + np.exp(15)) - 1)
    assert float(scaled_sigmoid(3.0001)) == -1.0
    assert probation_length(1000) == 150
    assert probation_length(5000) == 750
    assert probation_length(100_000) == 750


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    scores = np.zeros(200)
    scores[[110, 120, 130]] = 1.0  # all inside the window 100..139
    one = score_corpus([NabSeries("a", scores, ((100, 139),))], STANDARD, 0.5)
    scores[[120, 130]] = 0.0
    earliest = score_corpus([NabSeries("a", scores, ((100, 139),))], STANDARD, 0.5)
    expected = float(scaled_sigmoid(-(139 - 110 + 1) / 40) / scaled_sigmoid(-1.0))
    assert one.raw == pytest.approx(expected)
    assert earliest.raw == pytest.approx(expected)
    assert (one.detected, one.missed, one.false_positives) == (1, 0, 0)


def test_false_positives_are_weighted_by_distance_after_the_preceding_window() -> None:
    scores = np.zeros(400)
    scores[[100, 300]] = 1.0  # before any window, and 80 rows after the window 200..219
    result = score_corpus([NabSeries("a", scores, ((200, 219),))], LOW_FP, 0.5)
    after = 0.22 * float(scaled_sigmoid(80 / 19))  # NAB divides by the width less one
    assert result.raw == pytest.approx(-0.22 + after - 1.0)  # and the window is missed
    assert (result.detected, result.missed, result.false_positives) == (0, 1, 2)
    assert result.normalised == pytest.approx(100 * (result.raw + 1.0) / 2.0)


def test_probation_rows_are_not_scored() -> None:
    scores = np.zeros(1000)
    scores[10] = 1.0  # inside probation (150 rows): neither a false positive nor a detection
    result = score_corpus([NabSeries("a", scores, ((5, 20), (500, 520)))], LOW_FN, 0.5)
    assert result.false_positives == 0
    assert result.raw == pytest.approx(-2.0)  # only the scorable window is missed
    assert result.null == pytest.approx(-2.0)
    assert result.perfect == pytest.approx(2.0)  # both windows count towards the perfect score


def test_window_rows_take_exact_edges_first_occurrence_and_fall_back_to_between() -> None:
    ts = np.array(["2024-01-01T00:00", "2024-01-01T00:05", "2024-01-01T00:05", "2024-01-01T00:10"], dtype="datetime64[s]")
    assert window_rows(ts, [("2024-01-01 00:05:00.000000", "2024-01-01 00:10:00")]) == ((1, 3),)
    assert window_rows(ts, [("2024-01-01 00:01", "2024-01-01 00:09")]) == ((1, 2),)
    with pytest.raises(ValueError, match="covers no row"):
        window_rows(ts, [("2024-02-01", "2024-02-02")])
    with pytest.raises(ValueError, match="ends before it starts"):
        window_rows(ts, [("2024-01-01 00:10", "2024-01-01 00:00")])


def test_optimised_threshold_is_the_best_of_all_candidates_highest_on_ties() -> None:
    rng = np.random.default_rng(11)
    series = []
    for k in range(4):
        n = int(rng.integers(300, 900))
        scores = np.round(rng.uniform(0, 1, n) ** 3, 2)  # ties on purpose
        start = int(rng.integers(200, n - 60))
        series.append(NabSeries(f"f{k}", scores, ((start, start + 40),)))
    candidates = sorted({1.1, *np.concatenate([s.scores for s in series]).tolist()}, reverse=True)
    for profile in NAB_PROFILES:
        best = optimise_threshold(series, profile)
        brute = [score_corpus(series, profile, t).raw for t in candidates]
        top = max(brute)
        assert best.raw == pytest.approx(top)
        assert best.threshold == candidates[next(i for i, v in enumerate(brute) if v >= top - 1e-12)]


def _published(detector: str) -> list[NabSeries]:
    windows = json.loads((BENCH / "windows.json").read_text())
    series = []
    for name, spans in windows.items():
        with (BENCH / "data" / name).open() as handle:
            ts = np.array([row[0] for row in list(csv.reader(handle))[1:]], dtype="datetime64[s]")
        with (BENCH / "published_scores" / detector / name).open() as handle:
            scores = np.array([float(row[1]) for row in list(csv.reader(handle))[1:]])
        series.append(NabSeries(name, scores, window_rows(ts, spans)))
    return series


@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
def test_reproduces_the_published_dev_subset_scores(detector: str) -> None:
    require_path(BENCH, "NAB benchmark data")
    published = json.loads((BENCH / "published_scores_dev_subset.json").read_text())[detector]
    thresholds = json.loads((BENCH / "published_scores" / "thresholds.json").read_text())[detector]
    series = _published(detector)
    for profile in NAB_PROFILES:
        result = score_corpus(series, profile, float(thresholds[profile.name][0]))
        assert round(result.normalised, 2) == published[profile.name], profile.name
    if detector == "numenta":
        assert published["standard"] == 72.22
