"""SeasonalNoveltyScorer: pinned alarms on seeded series with known anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.anomaly import SeasonalNoveltyScorer

THRESHOLD = SeasonalNoveltyScorer.threshold
FIVE_MINUTES = 300.0


def _alarms(scores: np.ndarray, start: int = 600) -> list[int]:
    return (np.flatnonzero(scores[start:] >= THRESHOLD) + start).tolist()


def test_a_spike_and_a_level_shift_on_a_daily_cycle_alarm_once_each() -> None:
    rng = np.random.default_rng(7)
    t = 1_700_000_000.0 + FIVE_MINUTES * np.arange(4500)
    x = 20 + 5 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 0.5, t.size)
    x[2500] += 6.0
    x[3500:] += 8.0  # the shift persists: one alarm at its onset, not one per point
    scores = SeasonalNoveltyScorer().score_many(x, timestamps=t)
    assert _alarms(scores) == [2500, 3500]
    assert scores[3501:].max() < THRESHOLD


def _daily_burst(off_phase: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two weeks with a +10 burst every day at 09:00, and on day 11 an extra one at 03:00."""
    rng = np.random.default_rng(7)
    t = 1_700_006_400.0 + FIVE_MINUTES * np.arange(4032)
    hour, day = (t % 86400) // 3600, (t - t[0]) // 86400
    x = 20 + rng.normal(0, 0.5, t.size) + 10 * (hour == 9)
    if off_phase:
        x += 10 * ((day == 11) & (hour == 3))
    return x, t


def test_the_daily_pattern_is_normal_but_the_same_burst_at_the_wrong_hour_is_not() -> None:
    x, t = _daily_burst(off_phase=True)
    assert _alarms(SeasonalNoveltyScorer().score_many(x, timestamps=t)) == [2311, 3204]
    # without a clock the 03:00 burst looks like any other day's burst (and day 2's looked new)
    assert _alarms(SeasonalNoveltyScorer().score_many(x)) == [695, 2311]
    # untimed data can give the season as a number of points instead
    assert _alarms(SeasonalNoveltyScorer(season_length=288).score_many(x)) == [2311, 3204]


def test_a_flat_series_is_silent_until_it_steps() -> None:
    x = np.full(3000, 45.0)
    x[2000:] = 47.0
    scores = SeasonalNoveltyScorer().score_many(x)
    assert _alarms(scores, start=0) == [2000]


def test_datetime64_timestamps_equal_unix_seconds() -> None:
    x, t = _daily_burst(off_phase=True)
    stamps = (t * 1e9).astype("int64").astype("datetime64[ns]")
    np.testing.assert_array_equal(
        SeasonalNoveltyScorer().score_many(x[:1500], timestamps=stamps[:1500]),
        SeasonalNoveltyScorer().score_many(x[:1500], timestamps=t[:1500]),
    )
    with pytest.raises(ValueError, match="timestamps"):
        SeasonalNoveltyScorer().score_many(x[:10], timestamps=t[:9])


def test_parameters_are_validated_with_the_rule_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"level_rate must be in \(0, 1\), got 2"):
        SeasonalNoveltyScorer(level_rate=2)
    with pytest.raises(ValueError, match=r"season_length must be an integer >= 2 or None, got 1\.5"):
        SeasonalNoveltyScorer(season_length=1.5)  # type: ignore[arg-type]


def test_untimed_seasons_count_every_offered_value_so_batches_equal_single_calls() -> None:
    x, _ = _daily_burst(off_phase=True)
    x = x[:1200].copy()
    x[[50, 700]] = np.nan  # skipped values still advance the season's clock
    batch = SeasonalNoveltyScorer(season_length=288).score_many(x)
    one = SeasonalNoveltyScorer(season_length=288)
    np.testing.assert_array_equal(batch, [one.score_one(v) for v in x.tolist()])
    half = SeasonalNoveltyScorer(season_length=288)
    head = half.score_many(x[:600])
    rest = SeasonalNoveltyScorer.from_state(half.state_dict()).score_many(x[600:])
    np.testing.assert_array_equal(np.concatenate([head, rest]), batch)
