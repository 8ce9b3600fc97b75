"""Tests for detectors.distribution: pinned outcomes on seeded data."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import pytest

from detectors.distribution import (
    DriftTestResult,
    chi_square,
    control_family,
    jensen_shannon,
    ks_test,
    psi,
    select_test,
)

Kind = Literal["numeric", "categorical"]
Method = Literal["bonferroni", "bh", "none"]
# Values outside the declared Literal types, to exercise runtime validation.
_BAD_KIND: Any = "text"
_BAD_METHOD: Any = "holm"


def _p_result(p: float, effect: float = 0.5, min_effect: float = 0.1) -> DriftTestResult:
    return DriftTestResult("ks", effect, p, effect, 0.05, p < 0.05, 300, 300, min_effect)


# --- KS ---------------------------------------------------------------------


def test_ks_no_drift_on_same_distribution() -> None:
    rng = np.random.default_rng(0)
    r = ks_test(rng.normal(size=800), rng.normal(size=800))
    assert r.test == "ks"
    assert not r.drift_detected
    assert r.p_value is not None
    assert r.p_value > 0.05
    assert (r.n_reference, r.n_current, r.threshold, r.min_effect) == (
        800,
        800,
        0.05,
        0.1,
    )


def test_ks_drift_on_shifted_sample() -> None:
    rng = np.random.default_rng(1)
    r = ks_test(rng.normal(size=800), rng.normal(0.4, 1.0, 800))
    assert r.drift_detected
    assert r.effect_size == r.statistic
    assert r.p_value is not None
    assert r.p_value < 1e-6


def test_ks_effect_floor_suppresses_tiny_shift_on_huge_sample() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=200_000)
    cur = rng.normal(0.03, 1.0, 200_000)
    floored = ks_test(ref, cur)
    assert floored.p_value is not None
    assert floored.p_value < 1e-6
    assert floored.statistic < 0.1  # ...but trivial
    assert not floored.drift_detected
    assert ks_test(ref, cur, min_effect=0.0).drift_detected


def test_ks_ignores_nan() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=100)
    cur = np.concatenate([rng.normal(size=90), np.full(10, np.nan)])
    r = ks_test(ref, cur)
    assert r.n_current == 90
    assert r.statistic == ks_test(ref, cur[~np.isnan(cur)]).statistic


# --- PSI --------------------------------------------------------------------


def test_psi_hand_computed_value() -> None:
    # p = 0.25 each; q = 0.1, 0.2, 0.3, 0.4; PSI = sum (q - p) ln(q / p).
    expected = sum((q - 0.25) * math.log(q / 0.25) for q in (0.1, 0.2, 0.3, 0.4))
    r = psi([25, 25, 25, 25], [10, 20, 30, 40])
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.statistic == pytest.approx(0.228217, abs=1e-6)
    assert r.drift_detected
    assert r.p_value is None
    assert (r.n_reference, r.n_current) == (100, 100)
    assert not psi([25, 25, 25, 25], [10, 20, 30, 40], threshold=0.25).drift_detected


def test_psi_empty_bin_uses_epsilon_without_renormalising() -> None:
    p, q = [0.5, 0.5, 1e-4], [0.4, 0.4, 0.2]
    expected = sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))
    r = psi([50, 50, 0], [40, 40, 20])
    assert math.isfinite(r.statistic)
    assert r.statistic == pytest.approx(expected, rel=1e-12)


def test_psi_same_and_shifted_quantile_bins() -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(size=20_000)
    edges = np.quantile(ref, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf

    def bins(x: np.ndarray) -> np.ndarray:
        return np.histogram(x, edges)[0]

    same = psi(bins(ref), bins(rng.normal(size=20_000)))
    assert same.statistic < 0.01
    assert not same.drift_detected
    shifted = psi(bins(ref), bins(rng.normal(0.6, 1.0, 20_000)))
    assert shifted.statistic > 0.2
    assert shifted.drift_detected
    assert psi([3, 4, 5], [3, 4, 5]).statistic == 0.0


# --- chi-square -------------------------------------------------------------


def test_chi2_same_categories_no_drift_and_shift_drifts() -> None:
    rng = np.random.default_rng(5)
    probs = [0.4, 0.3, 0.2, 0.1]
    ref = np.bincount(rng.choice(4, 1000, p=probs), minlength=4)
    same = chi_square(ref, np.bincount(rng.choice(4, 600, p=probs), minlength=4))
    assert same.test == "chi2"
    assert not same.drift_detected
    moved = np.bincount(rng.choice(4, 600, p=[0.25, 0.25, 0.25, 0.25]), minlength=4)
    r = chi_square(ref, moved)
    assert r.drift_detected
    assert r.effect_size == pytest.approx(math.sqrt(r.statistic / (600 * 3)))


def test_chi2_effect_floor_on_huge_counts() -> None:
    r = chi_square([500_000, 500_000], [505_000, 495_000])
    assert r.p_value is not None
    assert r.p_value < 1e-10
    assert r.effect_size == pytest.approx(0.01, rel=1e-3)
    assert not r.drift_detected


def test_chi2_new_category_is_finite_and_flagged() -> None:
    r = chi_square([100, 100, 0], [50, 50, 10])
    assert math.isfinite(r.statistic)
    assert r.drift_detected


def test_chi2_drops_categories_empty_in_both_windows() -> None:
    with_empty = chi_square([30, 0, 10], [20, 0, 20])
    without = chi_square([30, 10], [20, 20])
    assert with_empty.statistic == pytest.approx(without.statistic)
    assert with_empty.p_value == pytest.approx(without.p_value)
    single = chi_square([5, 0], [7, 0])
    assert (single.statistic, single.p_value, single.drift_detected) == (
        0.0,
        1.0,
        False,
    )


# --- Jensen-Shannon ---------------------------------------------------------


def test_js_bounds_and_category_shift() -> None:
    assert jensen_shannon([1, 2, 3], [2, 4, 6]).statistic == 0.0
    assert jensen_shannon([5, 0], [0, 5]).statistic == pytest.approx(1.0)
    rng = np.random.default_rng(6)
    ref = np.bincount(rng.choice(3, 50_000, p=[0.6, 0.3, 0.1]), minlength=3)
    same = jensen_shannon(ref, np.bincount(rng.choice(3, 50_000, p=[0.6, 0.3, 0.1]), minlength=3))
    assert same.statistic < 0.01
    assert not same.drift_detected
    cur = np.bincount(rng.choice(3, 50_000, p=[0.3, 0.3, 0.4]), minlength=3)
    moved = jensen_shannon(ref, cur)
    assert moved.drift_detected
    assert moved.p_value is None
    assert moved.statistic == pytest.approx(jensen_shannon(cur, ref).statistic)


# --- selection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n", "n_unique", "n_reference", "expected"),
    [
        # numeric: KS at every size, exact on samples then binned
        ("numeric", 1000, None, None, "ks"),
        ("numeric", 1001, None, None, "ks_binned"),
        ("numeric", 10, 6, None, "ks"),
        ("numeric", 10**6, 6, 10, "ks_binned"),
        # few distinct values: categorical with k = n_unique
        ("numeric", 10, 5, None, "chi2"),
        ("numeric", 10, 2, None, "z"),
        ("numeric", 5000, 2, None, "jensenshannon"),
        # binary
        ("categorical", 1000, 2, None, "z"),
        ("categorical", 1000, 1, None, "z"),
        ("categorical", 1001, 2, None, "jensenshannon"),
        ("categorical", 1001, 2, 100, "z"),  # n_e = 91 < 160
        # 3+ categories (or unknown): JS once n > 1000 and n_e >= 160 (k - 1)
        ("categorical", 1000, None, None, "chi2"),
        ("categorical", 1001, None, None, "jensenshannon"),
        ("categorical", 1001, 3, 5000, "jensenshannon"),  # n_e = 832 >= 320
        ("categorical", 1001, 51, 5000, "chi2"),  # n_e = 832 < 8000
        ("categorical", 16_000, 51, 16_000, "jensenshannon"),  # n_e = 8000
        ("categorical", 15_998, 51, 16_000, "chi2"),
    ],
)
def test_select_test(kind: Kind, n: int, n_unique: int | None, n_reference: int | None, expected: str) -> None:
    assert select_test(kind, n, n_unique=n_unique, n_reference=n_reference) == expected


def test_select_test_names_are_the_result_names() -> None:
    assert ks_test([0.0, 1.0], [0.5, 2.0]).test == select_test("numeric", 2)
    assert chi_square([5, 5, 5], [4, 6, 5]).test == select_test("categorical", 15)
    assert jensen_shannon([5, 5], [4, 6]).test == select_test("categorical", 10**6)


# --- family control ---------------------------------------------------------

_PS = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]


@pytest.mark.parametrize(
    ("method", "cutoff", "flagged"),
    [
        ("none", 0.05, [0, 1, 2, 3, 4]),
        ("bh", 2 * 0.05 / 8, [0, 1]),
        ("bonferroni", 0.05 / 8, [0]),
    ],
)
def test_family_methods_on_crafted_p_values(method: Method, cutoff: float, flagged: list[int]) -> None:
    out = control_family([_p_result(p) for p in _PS], method=method)
    assert [i for i, r in enumerate(out) if r.drift_detected] == flagged
    assert all(r.threshold == pytest.approx(cutoff) for r in out)
    assert [r.p_value for r in out] == _PS


def test_bh_is_step_up() -> None:
    # Rank 2 fails its own step (0.03 >= 2 * 0.05 / 4) but rank 3 passes,
    # so BH rejects ranks 1-3; order of the input is kept.
    ps = [0.9, 0.032, 0.001, 0.03]
    out = control_family([_p_result(p) for p in ps], method="bh")
    assert [r.drift_detected for r in out] == [False, True, True, True]
    assert out[0].threshold == pytest.approx(3 * 0.05 / 4)
    nothing = control_family([_p_result(p) for p in (0.03, 0.5)], method="bh")
    assert not any(r.drift_detected for r in nothing)
    assert nothing[0].threshold == pytest.approx(0.025)


def test_family_keeps_effect_floor_and_leaves_distance_tests() -> None:
    distance = psi([25, 25, 25, 25], [10, 20, 30, 40])
    weak = _p_result(1e-9, effect=0.05)
    out = control_family([distance, weak, _p_result(1e-9)], method="bonferroni")
    assert out[0] is distance
    assert out[1].threshold == pytest.approx(0.025)  # m counts p-value tests only
    assert [r.drift_detected for r in out] == [True, False, True]
    assert control_family([distance]) == [distance]


# --- result and validation --------------------------------------------------


def test_result_is_frozen_and_serialises() -> None:
    r = psi([1, 1], [1, 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.statistic = 1.0  # type: ignore[misc]
    d = r.to_dict()
    assert d["test"] == "psi"
    assert d["p_value"] is None
    assert d["min_effect"] == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ks_test([[1.0, 2.0]], [1.0]), "reference must be 1-D"),
        (lambda: ks_test([1.0], []), "current must hold at least one non-NaN"),
        (lambda: ks_test([np.nan], [1.0]), "reference must hold at least one non-NaN"),
        (
            lambda: ks_test([1.0], [2.0], alpha=1.0),
            r"alpha must lie in the open interval \(0, 1\); got 1.0",
        ),
        (
            lambda: ks_test([1.0], [2.0], min_effect=-0.1),
            "min_effect must be finite and >= 0",
        ),
        (lambda: psi([], [1]), "reference_counts must hold at least one bin"),
        (
            lambda: psi([1, -1], [1, 1]),
            r"reference_counts must be non-negative; got \[1.0, -1.0\]",
        ),
        (
            lambda: psi([1, 1], [1, 1, 1]),
            r"current_counts must have the same length as reference_counts \(2\); got 3",
        ),
        (lambda: psi([0, 0], [1, 1]), "reference_counts must have a positive total"),
        (lambda: psi([1, np.inf], [1, 1]), "reference_counts must be finite"),
        (
            lambda: psi([1, 1], [1, 1], threshold=0.0),
            "threshold must be finite and > 0",
        ),
        (
            lambda: psi([1, 1], [1, 1], epsilon=0.0),
            "epsilon must lie in the open interval",
        ),
        (lambda: chi_square([[1, 1]], [1, 1]), "reference_counts must be 1-D"),
        (
            lambda: jensen_shannon([1, 1], [0, 0]),
            "current_counts must have a positive total",
        ),
        (
            lambda: select_test(_BAD_KIND, 10),
            "kind must be 'numeric' or 'categorical'; got 'text'",
        ),
        (lambda: select_test("numeric", -1), "n_current must be >= 0; got -1"),
        (lambda: select_test("numeric", 1, n_unique=0), "n_unique must be >= 1"),
        (lambda: select_test("categorical", 1, n_reference=0), "n_reference must be >= 1 when given; got 0"),
        (
            lambda: control_family([], method=_BAD_METHOD),
            "method must be one of 'bonferroni', 'bh', 'none'; got 'holm'",
        ),
        (lambda: control_family([], alpha=0.0), "alpha must lie in the open interval"),
    ],
)
def test_validation_errors_name_parameter_value_and_rule(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=match):
        call()
