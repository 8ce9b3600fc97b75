"""BOCPD: pinned change points on seeded series with known changes, and what each part is for."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.changepoint import BOCPD
from detectors.changepoint._segments import robust_scale, student_t_logpdf


def run(xs: np.ndarray, **params: object) -> tuple[tuple[int, ...], list[int]]:
    detector = BOCPD(**params)  # type: ignore[arg-type]
    alarms = detector.update_many(xs)
    return detector.change_points, alarms.tolist()


def test_mean_shifts_are_dated_exactly() -> None:
    # Steps of 1.5 and 2 standard deviations at 300 and 600.
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.normal(5, 2, 300), rng.normal(8, 2, 300), rng.normal(4, 2, 300)])
    assert run(xs) == ((300, 600), [309, 607])


def test_variance_shifts_are_dated_exactly() -> None:
    # The noise triples at 300 and falls back at 600; the mean never moves.
    rng = np.random.default_rng(2)
    xs = np.concatenate([rng.normal(0, 1, 300), rng.normal(0, 3, 300), rng.normal(0, 1, 300)])
    assert run(xs) == ((300, 600), [308, 633])


def test_a_break_in_slope_is_found() -> None:
    # Up at 0.05 per step, then down at 0.1 per step from 300: a kink, no jump.
    rng = np.random.default_rng(3)
    t = np.arange(600.0)
    xs = np.where(t < 300, 0.05 * t, 15 - 0.1 * (t - 300)) + rng.normal(0, 1, 600)
    assert run(xs) == ((298,), [317])


def test_a_steady_trend_is_one_segment_only_with_the_trend_models() -> None:
    # A slow trend (0.01 noise sd per step): the straight-trend model explains it. Levels alone
    # read it as a staircase; without the straight model the wandering one loses to a level
    # over short stretches, which gives a staircase too.
    xs = np.random.default_rng(4).normal(0, 1, 1000) + 0.01 * np.arange(1000)
    assert run(xs) == ((), [])
    assert len(run(xs, trend=False)[0]) == 14


def test_a_curving_trend_is_one_segment() -> None:
    # Population-like: large values, a growth rate that wanders, noise 1e4 around 1e8.
    rng = np.random.default_rng(9)
    xs = 1.5e8 + 2e5 * np.arange(800) + np.cumsum(rng.normal(0, 2e4, 800))
    assert run(xs) == ((), [])


def test_isolated_spikes_are_outliers_not_changes() -> None:
    rng = np.random.default_rng(5)
    xs = rng.normal(0, 1, 800)
    xs[[200, 450, 600]] += [9, -8, 12]
    assert run(xs) == ((), [])
    # Without the outlier component each spike starts a segment and its return starts another.
    assert run(xs, outlier_prob=0.0)[0] == (200, 201, 450, 451, 601)


def test_reports_do_not_depend_on_the_units() -> None:
    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.normal(0, 1, 200), rng.normal(2.5, 1, 200), rng.normal(2.5, 3, 200)])
    expected = run(xs)
    assert expected[0] == (200, 410)  # a step, then the noise triples (dated 10 late)
    for a, b in ((1e6, 1e8), (1e-4, -3.0), (-2.0, 5.0)):
        assert run(a * xs + b) == expected


def test_missing_values_pass_time_without_evidence() -> None:
    rng = np.random.default_rng(6)
    xs = np.concatenate([rng.normal(0, 1, 300), rng.normal(3, 1, 300)])
    xs[[10, 100, 295, 296, 297, 302]] = np.nan
    assert run(xs) == ((300,), [309])
    # Leading gaps do not count towards the warm-up; a series with no value reports nothing.
    xs = np.concatenate([np.full(3, np.nan), np.random.default_rng(8).normal(100, 1, 300)])
    xs[150:] += 5
    assert run(xs) == ((150,), [155])
    detector = BOCPD()
    assert detector.update_many(np.full(50, np.nan)).size == 0
    assert detector.n_seen == 50
    assert detector.run_length == 50
    assert detector.score == 0.0


def test_a_constant_stretch_after_a_step_is_not_a_new_segment() -> None:
    # A flat window has no spread: the detector keeps its last scale instead of collapsing it.
    xs = np.concatenate([np.full(100, 7.0), np.full(100, 9.0), np.full(100, 9.0)])
    assert run(xs) == ((100,), [104])


def test_confirm_trades_delay_for_reliability() -> None:
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.normal(5, 2, 300), rng.normal(8, 2, 300), rng.normal(4, 2, 300)])
    assert run(xs, confirm=1) == ((300, 600), [305, 603])
    assert run(xs, confirm=10) == ((300, 600), [314, 612])


def test_memory_is_bounded() -> None:
    detector = BOCPD(max_runs=20)
    detector.update_many(np.random.default_rng(0).normal(0, 1, 2_000))
    state = detector.state_dict()["state"]
    assert state["_start"].size == 20
    assert state["_recent"].size == detector.scale_window + 1


def test_results_read_from_properties() -> None:
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.normal(5, 2, 300), rng.normal(8, 2, 300)])
    detector = BOCPD()
    detector.update_many(xs[:306])
    assert detector.change_points == ()
    assert not detector.drift_detected
    assert detector.run_length == 6
    assert detector.score > 0.95
    detector.update_many(xs[306:310])
    assert detector.change_points == (300,)
    assert detector.drift_detected
    assert detector.run_length == 10
    assert detector.score < 0.05
    assert detector.n_seen == 310


def test_robust_scale() -> None:
    rng = np.random.default_rng(1)
    xs = rng.normal(0, 3.0, 400) + 0.2 * np.arange(400)
    xs[200:] += 50.0
    xs[[50, 300]] += 40.0
    assert robust_scale(xs) == pytest.approx(3.0, rel=0.1)
    assert robust_scale(np.array([1.0])) == 0.0
    assert robust_scale(np.array([2.0, 2.0, 2.0])) == 0.0
    assert robust_scale(np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])) > 0  # mostly flat: the plain spread


def test_student_t_logpdf_matches_scipy() -> None:
    from scipy import stats

    x, loc, scale2, df = 1.3, np.array([0.0, 2.0]), np.array([4.0, 0.25]), np.array([2.0, 30.0])
    expected = stats.t.logpdf(x, df, loc=loc, scale=np.sqrt(scale2))
    assert student_t_logpdf(x, loc, scale2, df) == pytest.approx(expected, rel=1e-12)
