"""The correlation engine's numerical parts, against reference implementations and seeded truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from monitor.correlation import scenarios
from monitor.correlation.align import make_grid, overlap, to_grid
from monitor.correlation.engine import EngineConfig, Series, scan
from monitor.correlation.events import change_points
from monitor.correlation.findings import bh_q_values
from monitor.correlation.granger import granger_test
from monitor.correlation.impact import lagged_effect
from monitor.correlation.lagged import autocorrelations, cross_correlate, looks_integrated, prewhiten


@pytest.mark.parametrize("order", [1, 3, 6])
def test_granger_f_test_equals_statsmodels(order: int) -> None:
    from statsmodels.tsa.stattools import grangercausalitytests

    rng = np.random.default_rng(order)
    x = scenarios.ar1(rng, 300, 0.5)
    y = 0.3 * np.r_[0.0, 0.0, x[:-2]] + scenarios.ar1(rng, 300, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own deprecation notices
        reference = grangercausalitytests(np.column_stack([y, x]), maxlag=[order])[order][0]["ssr_ftest"]
    ours = granger_test(y, x, range(1, order + 1), range(1, order + 1))
    assert ours.f == pytest.approx(reference[0], rel=1e-9)
    assert ours.p_value == pytest.approx(reference[1], rel=1e-7, abs=1e-300)
    assert (ours.df_den, ours.df_num) == (int(reference[2]), int(reference[3]))


def test_newey_west_interval_equals_statsmodels_hac() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(21)
    x = scenarios.ar1(rng, 600, 0.6)
    y = 1.0 + 0.7 * np.r_[np.zeros(3), x[:-3]] + scenarios.ar1(rng, 600, 0.7)
    ours = lagged_effect(x, y, 3, trend=False, bandwidth=8)
    fit = sm.OLS(y[3:], sm.add_constant(x[:-3])).fit(cov_type="HAC", cov_kwds={"maxlags": 8, "use_correction": False})
    assert ours.slope == pytest.approx(fit.params[1], rel=1e-10)
    assert ours.se == pytest.approx(fit.bse[1], rel=1e-9)


def test_gaps_stay_gaps_and_correlations_use_pairwise_complete_cells() -> None:
    grid = make_grid(0.0, 600.0, 60.0)
    assert np.isnan(to_grid(grid, [0.0, 500.0], [1.0, 2.0])[1:8]).all()  # nothing carried forward
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(400, 1)), rng.normal(size=(400, 1))
    b[2:] += 0.8 * a[:-2]
    a[rng.random(400) < 0.2] = np.nan
    b[100:160] = np.nan
    cc = cross_correlate(a, b, max_lag=3, min_overlap=30)
    both = np.isfinite(a[:-2, 0]) & np.isfinite(b[2:, 0])
    assert cc.n[0, 0, 5] == both.sum() == overlap(a[:, 0], b[:, 0], lag=2)
    assert cc.r[0, 0, 5] == pytest.approx(np.corrcoef(a[:-2, 0][both], b[2:, 0][both])[0, 1], rel=1e-12)
    sparse = cross_correlate(a, b, max_lag=3, min_overlap=int(cc.n.max()) + 1)
    assert np.isnan(sparse.r).all()  # below the minimum evidence window: not tested at all


def test_complete_series_take_the_running_sum_path_with_the_same_result() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 2))
    a[:4, 1] = np.nan  # leading gaps only, as pre-whitening leaves them: the fast path
    dense = cross_correlate(a, b, max_lag=5)
    masked_a = a.copy()
    masked_a[150, 0] = np.nan  # one gap in the middle forces the masked path
    masked = cross_correlate(masked_a, b, max_lag=5)
    for lag_index, lag in enumerate(dense.lags.tolist()):
        rows = slice(4, 300 - lag) if lag >= 0 else slice(4 - lag, 300)
        shifted = slice(4 + lag, 300) if lag >= 0 else slice(4, 300 + lag)
        assert dense.r[2, 1, lag_index] == pytest.approx(np.corrcoef(a[rows, 2], b[shifted, 1])[0, 1], rel=1e-10)
    # At lags >= 0 column 1 pairs the same cells on both paths (the fast one skips the first 4 of every column).
    assert dense.r[1, :, 5:] == pytest.approx(masked.r[1, :, 5:], rel=1e-10)


def test_prewhitening_removes_persistence_trend_season_and_unit_roots() -> None:
    rng = np.random.default_rng(9)
    n = 1008
    for series, integrated in (
        (scenarios.ar1(rng, n, 0.95), False),
        (scenarios.trending(rng, n, 0.05), False),
        (scenarios.seasonal(rng, n), False),
        (scenarios.random_walk(rng, n), True),
    ):
        whitened = prewhiten(series, periods=[144.0])
        assert whitened.differenced == integrated == looks_integrated(series, periods=[144.0])
        assert np.abs(autocorrelations(series, 5)).max() > 0.5
        assert np.abs(autocorrelations(whitened.residuals, 5)).max() < 0.1


def test_benjamini_hochberg_q_values() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, np.nan])
    q = bh_q_values(p)
    assert np.isnan(q[-1])
    assert q[:-1] == pytest.approx([0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.0846, 0.205], abs=1e-4)
    # Rejecting q < alpha is the step-up rule: the largest k with p_(k) <= k alpha / m.
    alpha, m = 0.07, 8
    k = max(i for i in range(1, m + 1) if np.sort(p[:-1])[i - 1] <= i * alpha / m)
    assert int((q < alpha).sum()) == k == 5


def _independent(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    return {
        "ar": lambda: scenarios.ar1(rng, n, 0.9),
        "walk": lambda: scenarios.random_walk(rng, n),
        "trend": lambda: scenarios.trending(rng, n),
        "season": lambda: scenarios.seasonal(rng, n),
    }[kind]()


@pytest.mark.slow
def test_false_link_rate_over_500_independent_pairs_is_at_most_alpha() -> None:
    n, alpha = 720, 0.05
    grid = make_grid(0.0, n * 600.0, 600.0)  # five days of 10-minute cells; the season is a day
    config = EngineConfig(max_lag=24, alpha=alpha, min_overlap=200, periods=(144.0,))
    kinds = ["ar", "walk", "trend", "season"]
    linked = {kind: 0 for kind in kinds}
    for seed in range(500):
        rng = np.random.default_rng(seed)
        kind = kinds[seed % 4]
        a, b = _independent(kind, rng, n), _independent(kind, rng, n)
        linked[kind] += bool(scan(grid, [Series("a", a)], [Series("b", b)], config).links.any())
    assert sum(linked.values()) / 500 <= alpha, linked
    assert max(linked.values()) / 125 <= 2 * alpha, linked


def test_without_prewhitening_the_same_pairs_look_linked() -> None:
    """The previous test can fail: raw cross-correlations of such pairs are 'significant' most of the time."""
    n = 720
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        kind = ["ar", "walk", "trend", "season"][seed % 4]
        a, b = _independent(kind, rng, n), _independent(kind, rng, n)
        cc = cross_correlate(a[:, None], b[:, None], 24, min_overlap=200)
        hits += bool((bh_q_values(cc.p_value) < 0.05).any())
    assert hits >= 20


def test_effective_sample_size_counts_windows_not_cells() -> None:
    """Innovations of two step series (20 windows of 30 cells) are as many observations as windows."""
    rng = np.random.default_rng(3)
    n, width = 600, 30
    steps = [np.diff(np.repeat(rng.normal(size=n // width), width), prepend=np.nan)[:, None] for _ in range(2)]
    noise = rng.normal(size=(n, 2))
    both = cross_correlate(steps[0], steps[1], 0, min_overlap=100)
    assert both.n[0, 0, 0] == n - 1
    assert 10 <= both.effective[0, 0, 0] <= 2 * n // width
    plain = cross_correlate(noise[:, :1], noise[:, 1:], 0, min_overlap=100)
    assert plain.effective[0, 0, 0] >= 0.8 * n  # products alike: about every cell counts
    one_spike = noise[:, 1:] * 0.1
    one_spike[300] += 5.0
    assert cross_correlate(steps[0], one_spike, 0, min_overlap=100).effective[0, 0, 0] < 2 * n // width


def test_step_series_and_flags_do_not_link_to_a_kpi_with_one_unrelated_shift() -> None:
    """Window-level scores and sparse flags meet a KPI's one level shift at some lag by chance.

    A drift score per 30-minute window keeps its innovations at window starts, an anomaly flag at
    the few cells where it fires, and the KPI's shift in one cell; Fisher's z on the cell count
    called such coincidences links in 41 and 51 of these 100 seeds.
    """
    n, seeds = 480, 100
    grid = make_grid(0.0, n * 60.0, 60.0)
    config = EngineConfig(max_lag=60, min_overlap=360)
    linked = {"window score": 0, "flag": 0}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        score, flag = scenarios.window_score(rng, n), scenarios.flags(rng, n)
        found = scan(grid, [Series("score", score), Series("flag", flag)], [Series("kpi", scenarios.level_shift(rng, n))], config)
        linked["window score"] += bool(found.links[0].any())
        linked["flag"] += bool(found.links[1].any())
    assert max(linked.values()) <= 0.05 * seeds, linked


def test_one_outlier_does_not_hide_a_link_carried_by_the_other_cells() -> None:
    """The link holds in every cell; one huge step of the metric must not swamp it (nor fake it)."""
    rng = np.random.default_rng(8)
    n = 1000
    x = 0.1 * scenarios.ar1(rng, n, 0.5)
    x[500:] += 3.0
    y = 5.0 + 0.9 * np.r_[np.zeros(4), x[:-4]] + 0.2 * scenarios.ar1(rng, n, 0.5)
    found = scan(make_grid(0.0, n * 60.0, 60.0), [Series("x", x)], [Series("y", y)], EngineConfig(max_lag=10, min_overlap=200))
    assert found.lags[found.links[0, 0]].tolist() == [4]


def test_a_step_series_changes_only_where_its_level_moves() -> None:
    """A drift score per 30-cell window, spread over its cells: each window is one observation.

    Fed cell by cell, the detector learnt a spread of almost zero inside windows and dated a change
    at nearly every window start, which every KPI change then "matched".
    """
    rng = np.random.default_rng(12)
    quiet = np.repeat(rng.gamma(4.0, 0.02, size=24), 30)
    assert change_points(quiet) == []
    shifted = quiet.copy()
    shifted[16 * 30 :] += 0.4
    assert change_points(shifted) == [16 * 30]
