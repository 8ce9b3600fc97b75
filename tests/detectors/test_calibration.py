"""Calibration of thresholds for a target in-control average run length (ARL0)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from detectors.streaming import (
    ADWIN,
    CUSUM,
    ArlEstimate,
    block_bootstrap,
    calibrate_threshold,
    estimate_arl,
    run_length,
)


def cusum(h: float) -> CUSUM:
    return CUSUM(k=0.5, h=h, mean=0.0, std=1.0)


def ar1(rng: np.random.Generator, n: int, phi: float = 0.6) -> np.ndarray:
    """A stationary AR(1) series with unit marginal variance."""
    noise = rng.normal(0.0, math.sqrt(1.0 - phi**2), n)
    noise[0] = rng.normal()
    return signal.lfilter([1.0], [1.0, -phi], noise)


def test_calibrated_cusum_meets_the_target_on_fresh_iid_data() -> None:
    reference = np.random.default_rng(10).normal(size=5_000)
    h = calibrate_threshold(cusum, reference, target_arl=500, bounds=(1.0, 10.0), block_length=1, max_iter=12, rng=11)
    # Siegmund's approximation for k = 0.5 puts a two-sided ARL0 of 500 at h = 5.0.
    assert 4.6 < h < 5.4
    fresh = estimate_arl(cusum(h), np.random.default_rng(12).normal(size=(20, 25_000)))
    assert fresh.n_alarms > 500
    assert fresh.arl == pytest.approx(500, rel=0.2)


def test_blocks_keep_the_autocorrelation_that_iid_resampling_loses() -> None:
    rng = np.random.default_rng(20)
    reference, fresh = ar1(rng, 20_000), [ar1(rng, 50_000) for _ in range(4)]
    settings = {"target_arl": 400, "bounds": (1.0, 40.0), "n_simulations": 10, "max_iter": 12, "rng": 21}
    by_blocks = calibrate_threshold(cusum, reference, block_length=100, **settings)
    by_values = calibrate_threshold(cusum, reference, block_length=1, **settings)
    # Positive autocorrelation makes CUSUM alarm more often: shuffling it away picks too low a
    # threshold, and the real series then raises false alarms several times as often.
    assert by_values < by_blocks
    assert estimate_arl(cusum(by_blocks), fresh).arl == pytest.approx(400, rel=0.3)
    assert estimate_arl(cusum(by_values), fresh).arl < 200


def test_larger_parameters_meaning_more_alarms_are_mapped_in_the_factory() -> None:
    reference = np.random.default_rng(30).normal(size=3_000)
    t = calibrate_threshold(
        lambda t: ADWIN(delta=10.0**-t, clock=8),
        reference,
        target_arl=1_000,
        bounds=(0.01, 4.0),
        n_simulations=5,
        block_length=1,
        max_iter=8,
        rng=31,
    )
    assert 0.1 < t < 1.0  # delta between 0.1 and 0.8: ADWIN's default 0.002 is far more cautious


def test_bounds_that_do_not_bracket_the_target_are_reported() -> None:
    reference = np.random.default_rng(1).normal(size=1_000)
    with pytest.raises(ValueError, match=r"bounds must bracket target_arl = 200: the ARL is .* at 6.0 and .* at 9.0"):
        calibrate_threshold(cusum, reference, target_arl=200, bounds=(6.0, 9.0), n_simulations=2, rng=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_arl": 1.0}, "target_arl"),
        ({"bounds": (2.0, 1.0)}, r"bounds must be two finite numbers lo < hi; got \(2.0, 1.0\)"),
        ({"bounds": (1.0, math.inf)}, "bounds"),
        ({"n_simulations": 0}, "n_simulations must be an integer >= 1; got 0"),
        ({"stream_length": 0}, "stream_length must be an integer >= 1; got 0"),
        ({"block_length": 0}, "block_length must be an integer >= 1; got 0"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_invalid_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"target_arl": 100.0, "bounds": (1.0, 10.0), **kwargs}
    with pytest.raises(ValueError, match=message):
        calibrate_threshold(cusum, np.zeros(100), **arguments)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference must hold at least 2 values"):
        calibrate_threshold(cusum, [1.0], target_arl=100.0, bounds=(1.0, 10.0))


def test_run_length_counts_to_the_first_alarm_and_leaves_the_detector_alone() -> None:
    xs = np.random.default_rng(2).normal(size=5_000) + np.repeat([0.0, 2.0], 2_500)
    detector = cusum(5.0)
    detector.update_many(xs[:100])
    before = detector.state_dict()
    first = cusum(5.0)
    first.update_many(xs[:100])
    alarms = first.update_many(xs[100:])
    assert run_length(detector, xs[100:]) == alarms[0] + 1
    assert detector.state_dict()["state"] == before["state"]
    assert run_length(cusum(5.0), np.zeros(10_000)) is None


def test_estimate_arl_divides_values_by_alarms() -> None:
    spike = np.zeros(1_000)
    spike[500] = 100.0
    streams = [spike, np.zeros(1_000)]
    estimate = estimate_arl(cusum(5.0), streams)
    assert estimate == ArlEstimate(arl=2_000.0, n_alarms=1, n_values=2_000)
    assert estimate.alarm_rate == 1 / 2_000
    assert estimate_arl(cusum(5.0), [np.zeros(10)]).arl == math.inf


def test_block_bootstrap_draws_wrapped_runs_of_the_reference() -> None:
    reference = np.arange(50.0)
    xs = block_bootstrap(reference, 1_003, block_length=7, rng=4)
    assert xs.size == 1_003
    blocks = xs[:1_001].reshape(-1, 7)
    assert np.all((np.diff(blocks, axis=1) % 50) == 1)  # consecutive values, wrapping at the end
    assert set(np.unique(xs)) <= set(reference)
    counts = np.bincount(block_bootstrap(reference, 200_000, block_length=7, rng=5).astype(int), minlength=50)
    assert counts.min() > 0.9 * counts.mean()  # no edge effect: every value equally likely
    with pytest.raises(ValueError, match="block_length must be at most len"):
        block_bootstrap(reference, 10, block_length=51)
    with pytest.raises(ValueError, match="reference must hold at least one value"):
        block_bootstrap([], 10)
