"""Wasserstein, Hellinger, Z, Anderson-Darling, Cramér-von Mises and binned KS: pinned outcomes on seeded data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from detectors.distribution import (
    anderson_darling,
    chi_square,
    cramer_von_mises,
    hellinger,
    jensen_shannon,
    ks_binned,
    ks_test,
    wasserstein_normed,
    wasserstein_normed_binned,
    z_test,
)
from detectors.distribution.anderson import _T_FLOOR


def _quantile_counts(reference: np.ndarray, current: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts over the reference's quantile bins (open outer bins), and the interior edges."""
    edges = np.quantile(reference, np.linspace(0, 1, n_bins + 1)[1:-1])

    def count(x: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, x, side="right"), minlength=n_bins)

    return count(reference), count(current), edges


# --- Wasserstein ------------------------------------------------------------


def test_wasserstein_same_vs_shifted_and_reads_in_standard_deviations() -> None:
    rng = np.random.default_rng(10)
    ref = rng.normal(50.0, 4.0, 20_000)
    same = wasserstein_normed(ref, rng.normal(50.0, 4.0, 20_000))
    assert same.test == "wasserstein"
    assert same.p_value is None
    assert same.statistic < 0.03
    assert not same.drift_detected
    moved = wasserstein_normed(ref, rng.normal(51.0, 4.0, 20_000))  # a quarter std
    assert moved.statistic == pytest.approx(0.25, abs=0.02)
    assert moved.effect_size == moved.statistic
    assert moved.drift_detected
    # Pure translation of the very same values: exactly the shift over the std.
    assert wasserstein_normed(ref, ref + 2.0).statistic == pytest.approx(2.0 / ref.std(), rel=1e-9)


def test_wasserstein_constant_reference_uses_evidently_floor_and_drops_nan() -> None:
    r = wasserstein_normed([3.0, 3.0, 3.0], [3.0, 3.0, 3.001, np.nan])
    assert r.statistic == pytest.approx(0.001 / 3 / 0.001)
    assert r.n_current == 3
    assert wasserstein_normed([3.0, 3.0], [3.0]).statistic == 0.0


@pytest.mark.parametrize(
    ("loc", "scale"),
    [(0.0, 1.0), (0.1, 1.0), (0.5, 1.0), (0.0, 1.5), (1.0, 0.7), (0.0, 0.5)],
)
def test_wasserstein_binned_agrees_with_raw_on_narrow_bins(loc: float, scale: float) -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(0.0, 1.0, 40_000), rng.normal(loc, scale, 40_000)
    edges = np.linspace(min(ref.min(), cur.min()), max(ref.max(), cur.max()), 21)
    raw = wasserstein_normed(ref, cur)
    binned = wasserstein_normed_binned(
        np.histogram(ref, edges)[0], np.histogram(cur, edges)[0], edges, reference_std=float(ref.std())
    )
    assert binned.test == "wasserstein_binned"
    assert binned.statistic == pytest.approx(raw.statistic, abs=0.015)
    assert abs(binned.statistic - raw.statistic) <= binned.approximation_error
    assert binned.drift_detected == raw.drift_detected


@pytest.mark.parametrize(("loc", "scale"), [(0.0, 1.0), (0.5, 1.0), (0.0, 1.5), (0.0, 0.5)])
def test_wasserstein_binned_on_reference_quantile_bins_stays_within_its_bound(loc: float, scale: float) -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(0.0, 1.0, 40_000), rng.normal(loc, scale, 40_000)
    ref_counts, cur_counts, inner = _quantile_counts(ref, cur, 20)
    edges = np.concatenate([[min(ref.min(), cur.min())], inner, [max(ref.max(), cur.max())]])
    raw = wasserstein_normed(ref, cur)
    binned = wasserstein_normed_binned(ref_counts, cur_counts, edges, reference_std=float(ref.std()))
    assert abs(binned.statistic - raw.statistic) <= binned.approximation_error
    if loc == 0.0 and scale == 1.0:  # same distribution: the wide outer bins cancel
        assert binned.statistic == pytest.approx(raw.statistic, abs=0.005)
        assert not binned.drift_detected
    else:
        assert binned.drift_detected


def test_wasserstein_binned_hand_computed() -> None:
    # Uniform on [0, 2] vs uniform on [1, 3]: W1 = 1; mass spread uniformly
    # within each bin is exactly what these windows are.
    r = wasserstein_normed_binned([1, 1, 0], [0, 1, 1], [0.0, 1.0, 2.0, 3.0], reference_std=2.0)
    assert r.statistic == pytest.approx(0.5)
    assert r.approximation_error == pytest.approx((0.5 + 1.0 + 0.5) / 2.0 / 2.0)
    # A gap that changes sign inside a bin: reference uniform on [0, 1] and
    # [2, 3], current uniform on [1, 2]. |F - G| integrates to 0.25 per bin,
    # the middle one as two triangles.
    r = wasserstein_normed_binned([1, 0, 1], [0, 2, 0], [0.0, 1.0, 2.0, 3.0], reference_std=1.0)
    assert r.statistic == pytest.approx(0.75)
    rng = np.random.default_rng(12)
    ref = np.concatenate([rng.uniform(0, 1, 100_000), rng.uniform(2, 3, 100_000)])
    cur = rng.uniform(1, 2, 200_000)
    assert wasserstein_normed(ref, cur).statistic * ref.std() == pytest.approx(0.75, abs=0.005)


# --- Hellinger --------------------------------------------------------------


def test_hellinger_bounds_symmetry_and_relation_to_js() -> None:
    assert hellinger([1, 2, 3], [2, 4, 6]).statistic == 0.0
    assert hellinger([5, 0], [0, 5]).statistic == pytest.approx(1.0)
    a, b = [400, 300, 200, 100], [390, 310, 190, 110]
    h = hellinger(a, b)
    assert h.statistic == pytest.approx(hellinger(b, a).statistic)
    expected = math.sqrt(1 - sum(math.sqrt(p / 1000 * q / 1000) for p, q in zip(a, b, strict=True)))
    assert h.statistic == pytest.approx(expected, rel=1e-12)
    # Small changes: H ~ sqrt(ln 2) x the base-2 Jensen-Shannon distance.
    assert h.statistic / jensen_shannon(a, b).statistic == pytest.approx(math.sqrt(math.log(2)), rel=0.02)
    assert not h.drift_detected
    assert hellinger([400, 300, 200, 100], [100, 200, 300, 400]).drift_detected


# --- Z-test -----------------------------------------------------------------


def test_z_matches_two_by_two_homogeneity_chi_square() -> None:
    ref, cur = [700, 300], [640, 360]
    r = z_test(ref, cur)
    table = stats.chi2_contingency(np.array([ref, cur]), correction=False)
    assert r.statistic**2 == pytest.approx(table.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(table.pvalue, rel=1e-8)
    assert r.statistic == pytest.approx((0.64 - 0.7) / math.sqrt(0.67 * 0.33 * (2 / 1000)))
    assert r.statistic < 0  # the first category's share fell


def test_z_sign_effect_and_verdicts() -> None:
    grew = z_test([300, 700], [360, 640])  # first category's share 0.3 -> 0.36
    assert grew.statistic > 0
    assert grew.effect_size == pytest.approx(abs(2 * math.asin(math.sqrt(0.36)) - 2 * math.asin(math.sqrt(0.3))))
    assert grew.drift_detected
    assert not z_test([300, 700], [32, 68]).drift_detected  # small window: not significant
    # Drops categories empty in both windows, e.g. an unused "other" bucket.
    assert z_test([300, 0, 700], [360, 0, 640]).statistic == pytest.approx(grew.statistic)
    single = z_test([10, 0], [7, 0])
    assert (single.statistic, single.p_value, single.drift_detected) == (0.0, 1.0, False)
    with pytest.raises(ValueError, match="at most 2 non-empty categories for a Z-test; got 3"):
        z_test([1, 1, 1], [1, 1, 1])


def test_z_and_chi2_agree_on_trivial_and_real_binary_changes() -> None:
    for ref, cur in (([5000, 5000], [5100, 4900]), ([5000, 5000], [6000, 4000])):
        assert z_test(ref, cur).drift_detected == chi_square(ref, cur).drift_detected


# --- Anderson-Darling -------------------------------------------------------


def test_anderson_same_shifted_and_tail_sensitivity() -> None:
    rng = np.random.default_rng(13)
    ref = rng.normal(size=2000)
    same = anderson_darling(ref, rng.normal(size=2000))
    assert same.test == "anderson"
    assert not same.drift_detected
    shifted = anderson_darling(ref, rng.normal(0.5, 1.0, 2000))
    assert shifted.drift_detected
    assert shifted.p_value is not None
    assert shifted.p_value < 1e-20
    # Heavier tails with the same centre: AD's p-value far below KS's.
    heavy = rng.standard_t(2, 2000)
    ad, ks = anderson_darling(ref, heavy), ks_test(ref, heavy)
    assert ad.p_value is not None
    assert ks.p_value is not None
    assert ad.p_value < ks.p_value * 1e-3


def test_anderson_p_value_outside_scipy_table() -> None:
    rng = np.random.default_rng(14)
    ref = rng.normal(size=500)
    ps = []
    for shift in (0.0, 0.3, 0.35, 0.4, 0.6, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = stats.anderson_ksamp([ref, (cur := rng.normal(shift, 1.0, 500))], variant="midrank")
        r = anderson_darling(ref, cur)
        assert r.p_value is not None
        if r.statistic > _T_FLOOR:  # scipy floors at 0.001; ours goes below, never above
            assert table.pvalue == 0.001
            assert r.p_value < 0.001
        elif table.pvalue >= 0.25:  # scipy caps at 0.25; ours stays at or above
            assert r.p_value >= 0.25
        else:
            assert r.p_value == table.pvalue
        ps.append(r.p_value)
    assert ps[-1] < 1e-20
    # Continuous at the floor's edge: the extrapolation starts at 0.001.
    assert min(p for p in ps if p < 0.25) <= 0.001


def test_anderson_null_level_and_permutation_agreement() -> None:
    rng = np.random.default_rng(15)
    rejections = sum(
        anderson_darling(rng.normal(size=100), rng.normal(size=100), min_effect=0.0).drift_detected for _ in range(400)
    )
    assert rejections / 400 == pytest.approx(0.05, abs=0.035)
    a, b = rng.normal(size=300), rng.normal(0.2, 1.0, 300)
    tabulated = anderson_darling(a, b)
    permuted = anderson_darling(a, b, n_permutations=499, rng=0)
    assert permuted.statistic == tabulated.statistic
    assert permuted.p_value == pytest.approx(tabulated.p_value, abs=0.03)


# --- Cramér-von Mises -------------------------------------------------------


def test_cramer_von_mises_same_shifted_and_spread() -> None:
    rng = np.random.default_rng(16)
    ref = rng.normal(size=3000)
    same = cramer_von_mises(ref, rng.normal(size=3000))
    assert same.test == "cramervonmises"
    assert not same.drift_detected
    assert cramer_von_mises(ref, rng.normal(0.4, 1.0, 3000)).drift_detected
    assert cramer_von_mises(ref, rng.normal(0.0, 1.7, 3000)).drift_detected
    with pytest.raises(ValueError, match="current must hold at least 2 non-NaN values; got 1"):
        cramer_von_mises(ref, [1.0, np.nan])


def test_floors_sit_at_a_quarter_standard_deviation() -> None:
    # The documented calibration: at a normal location shift of 0.25 std the
    # effect sizes of KS, Anderson-Darling and Cramér-von Mises are at their
    # default floors (0.1, 0.17, 0.075).
    rng = np.random.default_rng(17)
    ref, cur = rng.normal(size=200_000), rng.normal(0.25, 1.0, 200_000)
    assert ks_test(ref, cur).effect_size == pytest.approx(0.1, rel=0.08)
    assert anderson_darling(ref, cur).effect_size == pytest.approx(0.17, rel=0.08)
    assert cramer_von_mises(ref, cur).effect_size == pytest.approx(0.075, rel=0.08)


# --- KS on binned state -----------------------------------------------------


def _current(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "same":
        return rng.normal(size=n)
    if kind == "shift":
        return rng.normal(0.3, 1.0, n)
    if kind == "scale":
        return rng.normal(0.0, 2.0, n)
    if kind == "mixture":
        return np.where(rng.random(n) < 0.2, rng.normal(3.0, 0.3, n), rng.normal(size=n))
    return rng.normal(5.0, 0.1, n)  # "pile": everything lands in the top bin


@pytest.mark.parametrize("kind", ["same", "shift", "scale", "mixture", "pile"])
@pytest.mark.parametrize("n_bins", [10, 20, 50])
def test_ks_binned_brackets_exact_ks(kind: str, n_bins: int) -> None:
    rng = np.random.default_rng(18)
    ref, cur = rng.normal(size=20_000), _current(kind, rng, 5_000)
    ref_counts, cur_counts, _ = _quantile_counts(ref, cur, n_bins)
    binned, exact = ks_binned(ref_counts, cur_counts), ks_test(ref, cur)
    assert binned.statistic <= exact.statistic + 1e-12
    assert exact.statistic <= binned.statistic + binned.approximation_error + 1e-12
    assert binned.approximation_error == pytest.approx(max((ref_counts / 20_000).max(), (cur_counts / 5_000).max()))
    assert binned.p_value is not None
    assert exact.p_value is not None
    assert binned.p_value >= exact.p_value * 0.999 or binned.p_value < 1e-12  # conservative
    assert (binned.n_reference, binned.n_current) == (20_000, 5_000)


def test_ks_binned_verdicts_and_level() -> None:
    rng = np.random.default_rng(19)
    ref = rng.normal(size=50_000)
    assert ks_binned(*_quantile_counts(ref, rng.normal(0.5, 1.0, 50_000), 20)[:2]).drift_detected
    assert not ks_binned(*_quantile_counts(ref, rng.normal(size=50_000), 20)[:2]).drift_detected
    ref_counts, _, edges = _quantile_counts(ref, ref, 20)
    rejections = sum(
        ks_binned(
            ref_counts, np.bincount(np.searchsorted(edges, rng.normal(size=300), side="right"), minlength=20), min_effect=0.0
        ).drift_detected
        for _ in range(400)
    )
    assert rejections / 400 <= 0.05 + 0.03  # never above the level beyond Monte-Carlo noise
    assert ks_binned([5], [7]).statistic == 0.0


# --- validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: wasserstein_normed([1.0], [1.0], threshold=0.0), "threshold must be finite and > 0; got 0.0"),
        (lambda: wasserstein_normed([[1.0]], [1.0]), "reference must be 1-D"),
        (
            lambda: wasserstein_normed_binned([1, 1], [1, 1], [0.0, 1.0], reference_std=1.0),
            r"edges must be 1-D with one more entry than the counts \(3\); got shape \(2,\)",
        ),
        (
            lambda: wasserstein_normed_binned([1, 1], [1, 1], [0.0, np.inf, 2.0], reference_std=1.0),
            "edges must be finite",
        ),
        (
            lambda: wasserstein_normed_binned([1, 1], [1, 1], [0.0, 2.0, 1.0], reference_std=1.0),
            r"edges must be non-decreasing; got \[0.0, 2.0, 1.0\]",
        ),
        (
            lambda: wasserstein_normed_binned([1, 1], [1, 1], [0.0, 1.0, 2.0], reference_std=-1.0),
            "reference_std must be finite and >= 0; got -1.0",
        ),
        (lambda: hellinger([1, 1], [1, 1], threshold=-1.0), "threshold must be finite and > 0"),
        (lambda: hellinger([1, 1], [1]), "current_counts must have the same length"),
        (lambda: z_test([1, 1], [1, 1], alpha=0.0), r"alpha must lie in the open interval \(0, 1\); got 0.0"),
        (lambda: z_test([1, 1], [1, 1], min_effect=np.nan), "min_effect must be finite and >= 0; got nan"),
        (lambda: anderson_darling([1.0, 2.0], [3.0]), "must hold at least 4 non-NaN values together; got 3"),
        (lambda: anderson_darling([1.0, 1.0], [1.0, 1.0]), "at least two distinct values together; got only 1.0"),
        (
            lambda: anderson_darling([1.0, 2.0], [3.0, 4.0], n_permutations=0),
            "n_permutations must be an integer >= 1; got 0",
        ),
        (
            lambda: anderson_darling([1.0, 2.0], [3.0, 4.0], n_permutations=True),
            "n_permutations must be an integer >= 1; got True",
        ),
        (lambda: cramer_von_mises([1.0, 2.0], [3.0, 4.0], alpha=1.5), "alpha must lie in the open interval"),
        (lambda: ks_binned([1, 1], [1, -1]), "current_counts must be non-negative"),
        (lambda: ks_binned([1, 1], [1, 1], min_effect=-1.0), "min_effect must be finite and >= 0"),
    ],
)
def test_validation_errors_name_parameter_value_and_rule(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=match):
        call()
