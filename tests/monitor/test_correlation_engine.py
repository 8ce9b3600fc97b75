"""Ground-truth scenarios for the correlation engine: what it must find, and what it must not."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.correlation import scenarios
from monitor.correlation.align import make_grid
from monitor.correlation.engine import EngineConfig, Series, correlate
from monitor.correlation.impact import KpiUnit

N = 1008  # a week of 10-minute cells
STEP = 600.0
GRID = make_grid(0.0, N * STEP, STEP)
CONFIG = EngineConfig(max_lag=24, min_overlap=200, periods=(144.0,))


def test_scenario_suite_finds_true_links_only() -> None:
    rng = np.random.default_rng(2025)
    falls = scenarios.linked_pair(rng, N, lag=6, effect=-0.5)  # KPI falls 0.5 per unit, 1 h later
    rises = scenarios.linked_pair(rng, N, lag=15, effect=0.8)  # opposite sign, 2.5 h later
    driver, echo, driven = scenarios.confounded_pair(rng, N, lag=4)
    model = [
        Series("falls", falls.x),
        Series("rises", rises.x),
        Series("driver", driver),
        Series("echo", echo),  # moves with the driver, does not move the KPI itself
        Series("walk", scenarios.random_walk(rng, N)),
        Series("season", scenarios.seasonal(rng, N)),
    ]
    kpis = [
        Series("kpi_falls", falls.y),
        Series("kpi_rises", rises.y),
        Series("kpi_driven", driven),
        Series("kpi_walk", scenarios.random_walk(rng, N)),
        Series("kpi_season", scenarios.seasonal(rng, N)),
    ]
    result = correlate(GRID, model, kpis, CONFIG)
    found = {(f.metric, f.kpi): f for f in result.findings}
    assert set(found) == {("falls", "kpi_falls"), ("rises", "kpi_rises"), ("driver", "kpi_driven")}
    assert result.tests == len(model) * len(kpis) * 49
    for key, truth in ((("falls", "kpi_falls"), falls), (("rises", "kpi_rises"), rises)):
        f = found[key]
        assert f.direction == "model_leads"
        assert not f.reverse_warning
        assert abs(f.lag_seconds / STEP - truth.lag) <= 1
        assert np.sign(f.strength) == np.sign(truth.effect)
        assert f.effect_low is not None
        assert f.effect_high is not None
        assert f.effect_low <= truth.effect <= f.effect_high
        assert f.q_value < 0.05
        assert f.granger_p is not None
        assert f.granger_p < 0.05
    assert found[("driver", "kpi_driven")].lag_seconds == 4 * STEP


@pytest.mark.parametrize("seed", range(6))
def test_lag_sign_and_interval_over_seeds(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    lag, effect = int(rng.integers(1, 20)), float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.0))
    pair = scenarios.linked_pair(rng, N, lag=lag, effect=effect)
    (f,) = correlate(GRID, [Series("x", pair.x)], [Series("y", pair.y)], CONFIG).findings
    assert abs(f.lag_seconds / STEP - lag) <= 1
    assert f.effect_low is not None
    assert f.effect_high is not None
    assert f.effect_low <= effect <= f.effect_high


def test_a_kpi_that_moves_first_is_flagged_as_reverse() -> None:
    rng = np.random.default_rng(7)
    metric, kpi = scenarios.reverse_pair(rng, N, lag=5)
    (f,) = correlate(GRID, [Series("metric", metric)], [Series("kpi", kpi)], CONFIG).findings
    assert f.direction == "kpi_leads"
    assert f.reverse_warning
    assert f.lag_seconds == 5 * STEP
    assert "before" in f.sentence
    assert "not the other way round" in f.sentence


def test_gaps_are_skipped_not_filled() -> None:
    rng = np.random.default_rng(31)
    pair = scenarios.linked_pair(rng, N, lag=8, effect=-0.7)
    x, y = pair.x.copy(), pair.y.copy()
    x[rng.random(N) < 0.15] = np.nan
    y[rng.random(N) < 0.15] = np.nan
    y[300:420] = np.nan  # a 20-hour outage of the KPI feed
    (f,) = correlate(GRID, [Series("x", x)], [Series("y", y)], CONFIG).findings
    assert abs(f.lag_seconds / STEP - 8) <= 1
    assert f.effect_low is not None
    assert f.effect_high is not None
    assert f.effect_low <= -0.7 <= f.effect_high
    assert f.n < 0.8 * N  # only cells where both were present were used


def test_too_little_overlap_is_not_tested() -> None:
    rng = np.random.default_rng(32)
    pair = scenarios.linked_pair(rng, N, lag=3, effect=1.0)
    x = pair.x.copy()
    x[150:] = np.nan
    result = correlate(GRID, [Series("x", x)], [Series("y", pair.y)], CONFIG)
    assert result.findings == []
    assert result.tested == set()
    assert result.tests == 0


def test_step_change_gives_matched_events_and_an_incident_estimate() -> None:
    rng = np.random.default_rng(5)
    x = 0.1 * scenarios.ar1(rng, N, 0.5)
    x[600:800] += 2.0  # a drift incident: the drift score jumps for 200 cells
    y = 12.0 - 0.9 * np.r_[np.zeros(3), x[:-3]] + 0.2 * scenarios.ar1(rng, N, 0.5)
    flags = np.zeros(N, dtype=bool)
    flags[600:800] = True
    units = {"conversion": KpiUnit("points", 0.02, "orders")}
    config = EngineConfig(max_lag=24, min_overlap=200, periods=(144.0,), units=units)
    (f,) = correlate(GRID, [Series("drift", x, "drift on income", flags=flags)], [Series("conversion", y)], config).findings
    assert f.lag_seconds == 3 * STEP
    assert f.events_matched >= 1
    assert f.event_effect == pytest.approx(-0.9, abs=0.1)
    assert f.evidence == 3
    incident = f.incident
    assert incident is not None
    assert incident.value is not None
    assert incident.kpi_change == pytest.approx(-1.8, abs=0.15)
    assert (incident.start, incident.end) == ((600 + 3) * STEP, (800 + 3) * STEP)
    assert incident.value == pytest.approx(incident.kpi_change * 200 * 10 * 0.02)
    assert "lower for 1 d 9 h" in f.sentence
    assert "orders" in f.sentence


def test_constant_empty_and_short_series_are_skipped_without_error() -> None:
    rng = np.random.default_rng(41)
    pair = scenarios.linked_pair(rng, N, lag=4, effect=1.0)
    model = [Series("constant", np.full(N, 3.0)), Series("empty", np.full(N, np.nan)), Series("x", pair.x)]
    kpis = [Series("y", pair.y), Series("kpi_empty", np.full(N, np.nan))]
    result = correlate(GRID, model, kpis, CONFIG)
    assert [(f.metric, f.kpi) for f in result.findings] == [("x", "y")]
    assert result.tested == {("x", "y")}
    short = make_grid(0.0, 20 * STEP, STEP)  # fewer cells than the lag window
    assert correlate(short, [Series("x", pair.x[:20])], [Series("y", pair.y[:20])], CONFIG).findings == []
