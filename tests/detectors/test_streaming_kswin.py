"""KSWIN: exact alarm positions, the KS test against scipy, vectorised ≡ looped, state, validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

from detectors.streaming import KSWIN
from detectors.streaming.kswin import MIN_DISTANCE


def shape_change(seed: int = 4) -> np.ndarray:
    """3,000 values: normal, then bimodal with the same mean and spread, then normal again."""
    rng = np.random.default_rng(seed)
    bimodal = rng.choice([-1.0, 1.0], 1_000) + rng.normal(0.0, 0.1, 1_000)
    return np.concatenate([rng.normal(0.0, 1.0, 1_000), bimodal, rng.normal(0.0, 1.0, 1_000)])


def rounded(seed: int = 5) -> np.ndarray:
    """Values on a coarse grid, so that the windows are full of ties; the grid widens at 1,500."""
    rng = np.random.default_rng(seed)
    return np.round(np.concatenate([rng.normal(0.0, 1.0, 1_500), rng.normal(0.0, 2.0, 1_500)]))


def looped(detector: KSWIN, xs: np.ndarray) -> list[int]:
    alarms = []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def test_alarm_positions_are_pinned() -> None:
    assert KSWIN(alpha=1e-3, seed=7).update_many(shape_change()).tolist() == [188, 1028, 2625]
    assert KSWIN(alpha=1e-3, seed=7).update_many(rounded()).tolist() == [2429]


@pytest.mark.parametrize("stream", [shape_change, rounded], ids=["shape", "ties"])
def test_each_test_is_scipys_exact_two_sample_ks_test(stream) -> None:
    # The subsample of each test is the stat_size smallest of window_size - stat_size uniform
    # draws from numpy's PCG64 seeded with `seed`; replaying them gives scipy the same samples.
    xs = stream()[:400]
    w, s, seed = 40, 12, 3
    detector, draws = KSWIN(alpha=1e-9, window_size=w, stat_size=s, seed=seed), np.random.default_rng(seed)
    for t, x in enumerate(xs.tolist()):
        detector.update(x)
        if t + 1 < w:
            assert detector.p_value == 1.0
            continue
        window = xs[t + 1 - w : t + 1]
        old = window[np.argsort(draws.random(w - s))[:s]]
        result = stats.ks_2samp(old, window[w - s :], method="exact")
        assert detector.statistic == pytest.approx(result.statistic, abs=1e-12)
        assert detector.p_value == pytest.approx(result.pvalue, rel=1e-9)


def test_alarm_needs_the_p_value_at_most_alpha_and_the_distance_floor() -> None:
    xs = shape_change()
    detector = KSWIN(alpha=0.01, seed=1)
    seen = []
    for x in xs.tolist():
        detector.update(x)
        if detector.window.size + detector.drift_detected * detector.window_size >= detector.window_size:
            seen.append((detector.p_value, detector.statistic, detector.drift_detected))
    assert any(alarm for *_, alarm in seen)
    for p_value, statistic, alarm in seen:
        assert alarm == (p_value <= 0.01 and statistic > MIN_DISTANCE)


@pytest.mark.parametrize("params", [{"seed": 0}, {"alpha": 0.05, "window_size": 20, "stat_size": 10, "seed": 1}])
def test_update_many_matches_looped_update_in_any_split(params: dict[str, int | float]) -> None:
    xs = np.concatenate([shape_change(), rounded()])
    reference = KSWIN(**params)
    expected = looped(reference, xs)
    assert len(expected) >= 3
    rng = np.random.default_rng(2)
    detector, alarms = KSWIN(**params), []
    cuts = sorted({*rng.integers(0, xs.size, 30).tolist(), *expected[:2], *(a + 1 for a in expected[:2])})
    for start, stop in zip([0, *cuts], [*cuts, xs.size], strict=True):
        alarms.extend((start + detector.update_many(xs[start:stop])).tolist())
    assert alarms == expected
    saved, same = detector.state_dict()["state"], reference.state_dict()["state"]
    assert np.array_equal(saved.pop("window"), same.pop("window"))
    assert saved == same


def test_state_round_trips_mid_stream_with_the_generator() -> None:
    xs = shape_change()
    expected = KSWIN(alpha=0.01, seed=3).update_many(xs).tolist()
    for split in (50, 100, 1_500, expected[0] + 1):
        original = KSWIN(alpha=0.01, seed=3)
        head = original.update_many(xs[:split]).tolist()
        restored = KSWIN.from_state(pickle.loads(pickle.dumps(original.state_dict())))
        assert head + (split + restored.update_many(xs[split:])).tolist() == expected


def test_alarm_rate_follows_alpha() -> None:
    xs = np.random.default_rng(9).normal(size=20_000)
    counts = [KSWIN(alpha=alpha, seed=0).update_many(xs).size for alpha in (1e-2, 1e-3, 1e-4)]
    assert counts[0] > counts[1] > counts[2]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 0.0}, r"alpha must be a finite number in \(0, 1\); got 0.0"),
        ({"alpha": 1.0}, "alpha"),
        ({"window_size": 1}, "window_size must be an integer >= 2; got 1"),
        ({"stat_size": 0}, "stat_size must be an integer >= 1; got 0"),
        ({"window_size": 50, "stat_size": 26}, "stat_size must be at most window_size / 2 = 25; got 26"),
        ({"seed": -1}, "seed must be an integer >= 0; got -1"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_invalid_parameters_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KSWIN(**params)  # type: ignore[arg-type]


def test_non_finite_values_are_refused() -> None:
    detector = KSWIN()
    with pytest.raises(ValueError, match="xs"):
        detector.update_many([0.0, np.nan])
    with pytest.raises(ValueError, match="x must be a finite number"):
        detector.update(-np.inf)
    assert detector.window.size == 0
