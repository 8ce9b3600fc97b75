"""Effect-size floors on million-row windows, and the family-wise false-alarm rate of control_family."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from detectors.distribution import (
    DriftTestResult,
    anderson_darling,
    chi_square,
    control_family,
    cramer_von_mises,
    energy_test,
    hellinger,
    jensen_shannon,
    ks_binned,
    ks_test,
    mmd_test,
    psi,
    select_test,
    wasserstein_normed,
    wasserstein_normed_binned,
    z_test,
)

N_ROWS = 1_000_000


@pytest.fixture(scope="module")
def numeric_results() -> dict[str, DriftTestResult]:
    """Every numeric test with its defaults, on 10^6 rows against 10^6 rows shifted by 0.01 std."""
    rng = np.random.default_rng(30)
    ref, cur = rng.normal(0.0, 1.0, N_ROWS), rng.normal(0.01, 1.0, N_ROWS)
    inner = np.quantile(ref[:100_000], np.linspace(0, 1, 21)[1:-1])
    ref_counts = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=20)
    cur_counts = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=20)
    edges = np.concatenate([[min(ref.min(), cur.min())], inner, [max(ref.max(), cur.max())]])
    rows_ref = np.column_stack([ref, rng.normal(size=N_ROWS)])
    rows_cur = np.column_stack([cur, rng.normal(0.01, 1.0, N_ROWS)])
    return {
        "ks": ks_test(ref, cur),
        "ks_binned": ks_binned(ref_counts, cur_counts),
        "anderson": anderson_darling(ref, cur),
        "cramervonmises": cramer_von_mises(ref, cur),
        "wasserstein": wasserstein_normed(ref, cur),
        "wasserstein_binned": wasserstein_normed_binned(ref_counts, cur_counts, edges, reference_std=float(ref.std())),
        "psi": psi(ref_counts, cur_counts),
        "mmd": mmd_test(rows_ref, rows_cur, rng=0),
        "energy": energy_test(rows_ref, rows_cur, rng=0),
    }


@pytest.fixture(scope="module")
def categorical_results() -> dict[str, DriftTestResult]:
    """Every categorical test with its defaults, on 10^6 rows with shares moved by half a point."""
    rng = np.random.default_rng(31)
    ref = rng.multinomial(N_ROWS, [0.5, 0.3, 0.2])
    cur = rng.multinomial(N_ROWS, [0.505, 0.297, 0.198])
    binary_ref, binary_cur = rng.multinomial(N_ROWS, [0.5, 0.5]), rng.multinomial(N_ROWS, [0.505, 0.495])
    return {
        "chi2": chi_square(ref, cur),
        "z": z_test(binary_ref, binary_cur),
        "jensenshannon": jensen_shannon(ref, cur),
        "hellinger": hellinger(ref, cur),
        "psi": psi(ref, cur),
    }


def test_no_default_numeric_test_flags_a_trivial_shift_on_a_million_rows(numeric_results: dict[str, DriftTestResult]) -> None:
    assert {name: r.drift_detected for name, r in numeric_results.items()} == dict.fromkeys(numeric_results, False)
    assert select_test("numeric", N_ROWS) in numeric_results
    # The p-values of the full-sample tests are tiny: the floors, not a lack
    # of evidence, keep them quiet.
    for name in ("ks", "ks_binned", "anderson", "cramervonmises"):
        r = numeric_results[name]
        assert r.p_value is not None
        assert r.p_value < 1e-4, name
        assert r.effect_size < r.min_effect / 5, name
    assert numeric_results["wasserstein"].statistic == pytest.approx(0.01, abs=0.003)


def test_no_default_categorical_test_flags_a_trivial_shift_on_a_million_rows(
    categorical_results: dict[str, DriftTestResult],
) -> None:
    assert {name: r.drift_detected for name, r in categorical_results.items()} == dict.fromkeys(categorical_results, False)
    assert select_test("categorical", N_ROWS, n_unique=3, n_reference=N_ROWS) in categorical_results
    assert select_test("categorical", N_ROWS, n_unique=2, n_reference=N_ROWS) in categorical_results
    for name in ("chi2", "z"):
        r = categorical_results[name]
        assert r.p_value is not None
        assert r.p_value < 1e-4, name
        assert r.effect_size < r.min_effect / 5, name


def test_floors_survive_family_control(numeric_results: dict[str, DriftTestResult]) -> None:
    for method in ("none", "bh", "bonferroni"):
        assert not any(r.drift_detected for r in control_family(list(numeric_results.values()), method=method))


# --- family-wise false-alarm rate ---------------------------------------------

N_FEATURES = 50
N_REPEATS = 800
ALPHA = 0.05
# Three Monte-Carlo standard errors of a rate near ALPHA over N_REPEATS checks.
TOLERANCE = 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_REPEATS)


@pytest.fixture(scope="module")
def null_families() -> list[list[DriftTestResult]]:
    """N_REPEATS checks of N_FEATURES binary features, none drifting (Z-tests, floor off)."""
    rng = np.random.default_rng(32)
    shares = rng.uniform(0.1, 0.9, N_FEATURES)
    ref = rng.binomial(2000, shares, size=(N_REPEATS, N_FEATURES))
    cur = rng.binomial(1500, shares, size=(N_REPEATS, N_FEATURES))
    return [
        [z_test([r, 2000 - r], [c, 1500 - c], min_effect=0.0) for r, c in zip(ref[i], cur[i], strict=True)]
        for i in range(N_REPEATS)
    ]


@pytest.mark.parametrize("method", ["bonferroni", "bh"])
def test_family_wise_false_alarm_rate_is_at_most_alpha(
    null_families: list[list[DriftTestResult]], method: Literal["bonferroni", "bh"]
) -> None:
    any_alarm = [any(r.drift_detected for r in control_family(family, method=method, alpha=ALPHA)) for family in null_families]
    rate = float(np.mean(any_alarm))
    assert rate <= ALPHA + TOLERANCE
    # Not vacuous: the controlled rate is near alpha (for BH under the
    # global null the family-wise rate equals the FDR, alpha), not zero.
    assert rate >= ALPHA - TOLERANCE


def test_without_control_fifty_features_almost_always_raise_a_false_alarm(
    null_families: list[list[DriftTestResult]],
) -> None:
    any_alarm = [any(r.drift_detected for r in control_family(family, method="none")) for family in null_families]
    assert float(np.mean(any_alarm)) == pytest.approx(1 - (1 - ALPHA) ** N_FEATURES, abs=0.05)


# --- why select_test departs from Evidently's rule ------------------------------


def test_selected_tests_stay_quiet_where_evidentlys_choices_alarm() -> None:
    rng = np.random.default_rng(33)
    # Numeric, 1001 rows against 1001 of the same distribution: Evidently's
    # rule picks the normed Wasserstein distance (0.1); ours picks binned KS.
    assert select_test("numeric", 1001) == "ks_binned"
    inner = np.quantile(rng.normal(size=100_000), np.linspace(0, 1, 21)[1:-1])

    def counts(x: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(inner, x, side="right"), minlength=20)

    pairs = [(rng.normal(size=1001), rng.normal(size=1001)) for _ in range(400)]
    wasserstein_rate = np.mean([wasserstein_normed(a, b).drift_detected for a, b in pairs])
    assert 0.015 < wasserstein_rate < 0.07  # about 3.8%
    assert not any(ks_binned(counts(a), counts(b)).drift_detected for a, b in pairs)
    # Categorical with 51 categories, 1001 rows against 5000: Evidently's
    # rule picks Jensen-Shannon; ours keeps chi-square until n_e >= 8000.
    assert select_test("categorical", 1001, n_unique=51, n_reference=5000) == "chi2"
    shares = np.full(51, 1 / 51)
    windows = [(rng.multinomial(5000, shares), rng.multinomial(1001, shares)) for _ in range(200)]
    js_rate = np.mean([jensen_shannon(ref, cur).drift_detected for ref, cur in windows])
    assert js_rate > 0.4  # about two in three
    assert not any(chi_square(ref, cur).drift_detected for ref, cur in windows)
