"""MMD and energy-distance permutation tests: pinned outcomes on seeded data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.distribution import (
    DriftTestResult,
    anderson_darling,
    energy_test,
    ks_test,
    mmd_test,
)
from detectors.distribution._permutation import permutation_test

MultiTest = Callable[..., DriftTestResult]
TESTS: list[MultiTest] = [mmd_test, energy_test]


def _correlated(rng: np.random.Generator, n: int, rho: float, dims: int = 5) -> np.ndarray:
    """``dims`` standard normal features; the first two correlated at ``rho``."""
    x = rng.normal(size=(n, dims))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1.0 - rho**2) * x[:, 1]
    return x


@pytest.mark.parametrize("test", TESTS)
def test_no_drift_on_same_distribution(test: MultiTest) -> None:
    rng = np.random.default_rng(26)
    r = test(_correlated(rng, 600, 0.8), _correlated(rng, 600, 0.8), rng=0)
    assert r.test in ("mmd", "energy")
    assert not r.drift_detected
    assert r.p_value is not None
    assert r.p_value > 0.05
    assert (r.n_reference, r.n_current) == (600, 600)


@pytest.mark.parametrize("test", TESTS)
def test_correlation_flip_is_caught_where_every_per_feature_test_is_silent(test: MultiTest) -> None:
    rng = np.random.default_rng(21)
    ref, cur = _correlated(rng, 600, 0.8), _correlated(rng, 600, -0.8)
    # Same marginals: no per-feature test flags any column...
    for j in range(ref.shape[1]):
        assert not ks_test(ref[:, j], cur[:, j]).drift_detected
        assert not anderson_darling(ref[:, j], cur[:, j]).drift_detected
    # ...the joint test does, at its smallest possible p-value.
    r = test(ref, cur, rng=0)
    assert r.drift_detected
    assert r.p_value == pytest.approx(1 / 501)
    assert r.effect_size >= 2 * r.min_effect


@pytest.mark.parametrize("test", TESTS)
def test_mean_shift_detected_and_seeded_runs_repeat(test: MultiTest) -> None:
    rng = np.random.default_rng(22)
    ref, cur = rng.normal(size=(400, 20)), rng.normal(0.3, 1.0, (400, 20))
    first, second = test(ref, cur, rng=3), test(ref, cur, rng=3)
    assert first.drift_detected
    assert first == second


@pytest.mark.parametrize("test", TESTS)
def test_level_under_the_null_without_a_floor(test: MultiTest) -> None:
    rng = np.random.default_rng(23)
    rejections = sum(
        test(rng.normal(size=(40, 3)), rng.normal(size=(40, 3)), n_permutations=99, min_effect=0.0, rng=rng).drift_detected
        for _ in range(300)
    )
    assert rejections / 300 == pytest.approx(0.05, abs=0.04)


@pytest.mark.parametrize("test", TESTS)
def test_subsamples_to_max_samples_drops_nan_rows_and_takes_one_feature(test: MultiTest) -> None:
    rng = np.random.default_rng(24)
    ref = rng.normal(size=(3000, 2))
    cur = rng.normal(size=(500, 2))
    cur[:10, 1] = np.nan
    r = test(ref, cur, max_samples=300, n_permutations=50, rng=0)
    assert (r.n_reference, r.n_current) == (300, 300)
    r = test(ref[:100], cur[10:60], rng=0)
    assert (r.n_reference, r.n_current) == (100, 50)
    one = test(rng.normal(size=200), rng.normal(2.0, 1.0, 200), n_permutations=99, rng=0)
    assert one.drift_detected


def test_permutation_engine_matches_direct_block_means() -> None:
    rng = np.random.default_rng(25)
    pairwise = rng.random((9, 9))
    pairwise = pairwise + pairwise.T
    n = 4
    observed, permuted, mean_xy = permutation_test(pairwise.copy(), n, 20, rng)
    k = pairwise.copy()
    np.fill_diagonal(k, 0.0)
    xx, yy, xy = k[:n, :n].sum() / (n * (n - 1)), k[n:, n:].sum() / (5 * 4), k[:n, n:].mean()
    assert observed == pytest.approx(xx + yy - 2 * xy)
    assert mean_xy == pytest.approx(xy)
    assert permuted.shape == (20,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mmd_test(np.zeros((5, 2)), np.zeros((5, 3))), r"current must have as many features as reference \(2\); got 3"),
        (lambda: mmd_test(np.zeros((1, 2)), np.zeros((5, 2))), "reference must hold at least 2 rows without NaN; got 1"),
        (lambda: energy_test(np.zeros((2, 2, 2)), np.zeros((5, 2))), r"reference must be 1-D or 2-D \(rows x features\)"),
        (lambda: energy_test(np.zeros((3, 1)), [[1.0], [np.inf], [2.0]]), "current must be finite apart from NaN"),
        (lambda: mmd_test(np.zeros(5), np.ones(5), n_permutations=0), "n_permutations must be an integer >= 1; got 0"),
        (lambda: energy_test(np.zeros(5), np.ones(5), max_samples=1), "max_samples must be an integer >= 2; got 1"),
        (lambda: energy_test(np.zeros(5), np.ones(5), max_samples=2.5), "max_samples must be an integer >= 2; got 2.5"),
        (lambda: mmd_test(np.zeros(5), np.ones(5), alpha=0.0), r"alpha must lie in the open interval \(0, 1\)"),
        (lambda: energy_test(np.zeros(5), np.ones(5), min_effect=-0.1), "min_effect must be finite and >= 0; got -0.1"),
    ],
)
def test_validation_errors_name_parameter_value_and_rule(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=match):
        call()
