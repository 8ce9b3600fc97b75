"""The incident event test: one drift onset, followed by an unusual KPI shift, is a finding of its own."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.correlation import scenarios
from monitor.correlation.align import make_grid
from monitor.correlation.engine import EngineConfig, Series, correlate
from monitor.correlation.impact import KpiUnit
from monitor.correlation.shifts import noise_autocorrelation, shift_statistics, shift_test, variance_inflation

N = 480  # eight hours of 1-minute cells
WINDOW = 30
MAX_LAG = 60
GRID = make_grid(0.0, N * 60.0, 60.0)


def kpi_noise(rng: np.random.Generator, phi: float) -> np.ndarray:
    """A KPI around 100 with a slice of the daily cycle (at a random phase) and AR(1) noise."""
    cycle = 5.0 * np.sin(2 * np.pi * (np.arange(N) / 1440.0 + rng.random()))
    return 100.0 + cycle + (scenarios.ar1(rng, N, phi) if phi else rng.normal(size=N))


def test_step_statistics_equal_least_squares_on_each_window_with_gaps() -> None:
    rng = np.random.default_rng(12)
    y = 50.0 + 0.02 * np.arange(N) + rng.normal(size=N)
    y[rng.random(N) < 0.15] = np.nan
    y[200:215] = np.nan
    s = shift_statistics(y, WINDOW)
    for cell in (40, 123, 205, 214, 300, 449):
        cells = np.arange(cell - WINDOW, cell + WINDOW)
        present = np.isfinite(y[cells])
        design = np.column_stack([np.ones(cells.size), (cells - cell + 0.5) / WINDOW, (cells >= cell).astype(float)])[present]
        coef, rss, *_ = np.linalg.lstsq(design, y[cells][present], rcond=None)
        se = np.sqrt(rss[0] / (present.sum() - 3) * np.linalg.inv(design.T @ design)[2, 2])
        assert s.n[cell] == present.sum()
        assert s.delta[cell] == pytest.approx(coef[2], abs=1e-9)
        assert s.se[cell] == pytest.approx(se, rel=1e-9)
        assert s.t[cell] == pytest.approx(coef[2] / se, rel=1e-9)
    assert np.isnan(s.t[:15]).all()  # fewer than half a window of values before the cell
    assert np.isnan(s.t[-14:]).all()


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_variance_inflation_matches_the_spread_of_t_values_under_ar1_noise(rho: float) -> None:
    rng = np.random.default_rng(int(rho * 10))
    noise = scenarios.ar1(rng, 200_000, rho) if rho else rng.normal(size=200_000)
    t = shift_statistics(noise, WINDOW).t[:: 2 * WINDOW]  # one t-value per window: nearly independent
    t = t[np.isfinite(t)]
    # The t-values' spread also carries the residual variance's own noise (a few per cent more at rho = 0.9).
    assert np.std(t) == pytest.approx(variance_inflation(rho, WINDOW), rel=0.07)
    assert noise_autocorrelation(noise) == pytest.approx(rho, abs=0.02)


@pytest.mark.parametrize("phi", [0.0, 0.6, 0.9])
def test_false_event_rate_on_kpi_noise_is_at_most_alpha(phi: float) -> None:
    """No shift after the onset: the noise check must not call the KPI's own wandering a shift."""
    seeds, found = 400, 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        kpi = kpi_noise(rng, phi)
        onset = int(rng.integers(180, N - 90))
        hit = shift_test(kpi, shift_statistics(kpi, WINDOW), onset, MAX_LAG)
        assert hit is not None
        found += hit.p_noise <= 0.05
    assert found <= 0.05 * seeds + 2 * np.sqrt(0.05 * 0.95 * seeds), found  # within two binomial sd of alpha


def test_a_shift_after_the_onset_is_found_with_its_lag_size_and_interval() -> None:
    """A step of about four times the noise, at a random lag: found (most times), dated, sized."""
    seeds, found, covered = 40, 0, 0
    for seed in range(seeds):
        rng = np.random.default_rng(50 + seed)
        kpi = kpi_noise(rng, 0.5)
        onset, lag, size = 300, int(rng.integers(5, 55)), 5.0
        kpi[onset + lag :] -= size
        hit = shift_test(kpi, shift_statistics(kpi, WINDOW), onset, MAX_LAG)
        assert hit is not None
        assert abs(hit.lag - lag) <= 1, seed
        assert hit.strength < -0.5, seed
        found += hit.p_value < 0.05
        covered += hit.delta - 1.96 * hit.se <= -size <= hit.delta + 1.96 * hit.se
    assert found >= 0.85 * seeds, found  # this seed range: 37 of 40
    assert covered >= 0.85 * seeds, covered  # the 95% interval, at a lag chosen from the same data: 38 of 40


def test_a_kpi_that_shifts_this_much_regularly_gets_no_event() -> None:
    """A KPI that steps up and down every 70 minutes by itself: the placebo check sees it did so before."""
    rng = np.random.default_rng(9)
    kpi = 100.0 + rng.normal(size=N) + 4.0 * ((np.arange(N) // 70) % 2)
    hit = shift_test(kpi, shift_statistics(kpi, WINDOW), 300, MAX_LAG)
    assert hit is not None
    assert hit.p_noise < 1e-6  # the step after the onset is real...
    assert hit.exceeded_by > 0  # ...but the KPI made steps like it before
    assert hit.p_value > 0.05


def test_an_onset_without_history_before_or_kpi_after_cannot_be_tested() -> None:
    kpi = np.random.default_rng(1).normal(size=N)
    s = shift_statistics(kpi, WINDOW)
    assert shift_test(kpi, s, 100, MAX_LAG) is None  # 11 earlier positions, fewer than 60
    assert shift_test(kpi, s, N - 5, MAX_LAG) is None  # no full window after it
    gap = kpi.copy()
    gap[300:] = np.nan
    assert shift_test(gap, shift_statistics(gap, WINDOW), 320, MAX_LAG) is None


def drift_series(key: str, onset: int, flagged: bool = True) -> Series:
    """A drift statistic per 30-cell window, jumping at ``onset``; the windows from it are flagged."""
    rng = np.random.default_rng(len(key))
    values = scenarios.window_score(rng, N)
    values[onset:] += 0.3
    flags = np.arange(N) >= onset if flagged else None
    return Series(key, values, f"drift on {key}", "m", "v2", flags)


def test_one_drift_incident_is_linked_to_the_kpis_it_moved_and_to_no_other() -> None:
    rng = np.random.default_rng(21)
    onset = 300
    losses, approvals, unrelated = kpi_noise(rng, 0.3), kpi_noise(rng, 0.3), kpi_noise(rng, 0.3)
    losses[onset + 30 :] += 6.0
    approvals[onset:] -= 5.0
    moved_first = kpi_noise(rng, 0.3)
    moved_first[onset - 20 :] += 6.0  # the KPI moved before the incident
    model = [
        drift_series("income", onset),
        drift_series("employment", onset),  # drifts with income: the same onset, one test per KPI
        drift_series("gpu memory", onset, flagged=False),  # steps too, but no incident was flagged
    ]
    kpis = [
        Series(k, v)
        for k, v in (("losses", losses), ("approvals", approvals), ("unrelated", unrelated), ("moved first", moved_first))
    ]
    config = EngineConfig(max_lag=MAX_LAG, min_overlap=360, units={"losses": KpiUnit("USD/h", 1 / 60, "USD")})
    result = correlate(GRID, model, kpis, config)
    found = {(f.metric, f.kpi): f for f in result.findings}
    assert set(found) == {(m, k) for m in ("income", "employment") for k in ("losses", "approvals")}
    assert result.tests == 3 * 4 * (2 * MAX_LAG + 1) + 4  # the lagged family, then one event test per KPI
    loss = found[("income", "losses")]
    assert (loss.method, loss.direction, loss.evidence, loss.lag_seconds) == ("event", "model_leads", 1, 30 * 60.0)
    assert loss.q_value < 0.05
    assert loss.placebos == onset - MAX_LAG - 2 * WINDOW + 1
    assert loss.incident is not None
    assert loss.incident.low <= 6.0 <= loss.incident.high
    assert loss.incident.start == (onset + 30) * 60.0
    assert loss.incident.value == pytest.approx(loss.incident.kpi_change * (N - onset) / 60)
    assert loss.effect == pytest.approx(loss.incident.kpi_change / 0.3, rel=0.25)  # KPI units per unit of drift
    assert loss.sentence.startswith("About 30 min after drift on income began, losses rose by ")
    assert "over twice the largest shift at 181 earlier moments" in loss.sentence
    assert found[("employment", "approvals")].lag_seconds == 0.0
    assert found[("employment", "approvals")].sentence.startswith("As drift on employment began, approvals fell by")


def test_a_pair_the_lagged_correlation_links_keeps_that_finding() -> None:
    rng = np.random.default_rng(5)
    x = 0.1 * scenarios.ar1(rng, N, 0.5)
    x[300:] += 2.0
    y = 12.0 - 0.9 * np.r_[np.zeros(3), x[:-3]] + 0.05 * rng.normal(size=N)
    config = EngineConfig(max_lag=MAX_LAG, min_overlap=360)
    (f,) = correlate(GRID, [Series("drift", x, flags=np.arange(N) >= 300)], [Series("kpi", y)], config).findings
    assert f.method == "correlation"
    assert f.lag_seconds == 3 * 60.0
