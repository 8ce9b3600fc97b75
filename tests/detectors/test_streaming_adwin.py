"""ADWIN: exact alarm positions, parity with river, vectorised ≡ looped, state and validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from river import drift

from detectors.streaming import ADWIN

CONFIGS = [
    {},
    {"clock": 1},
    {"clock": 7, "max_buckets": 2, "min_window_length": 1, "grace_period": 0},
    {"max_buckets": 1, "min_window_length": 3},
    {"delta": 0.3, "clock": 4},
    {"delta": 0.05, "max_buckets": 9, "clock": 16, "grace_period": 100},
]


def steps(seed: int = 11) -> np.ndarray:
    """Mean steps, a variance change and a slow drift: 6,000 values."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal(0.0, 1.0, 1_500),
            rng.normal(1.0, 1.0, 1_500),
            rng.normal(1.0, 3.0, 1_000),
            rng.normal(-1.0, 1.0, 1_000) + np.linspace(0.0, 3.0, 1_000),
            rng.normal(5.0, 0.1, 1_000),
        ]
    )


def errors(seed: int = 12) -> np.ndarray:
    """0/1 error indicators whose rate moves 10% -> 30% -> 5%."""
    rng = np.random.default_rng(seed)
    return (rng.random(6_000) < np.repeat([0.1, 0.3, 0.05], 2_000)).astype(np.float64)


def looped(detector: ADWIN | drift.ADWIN, xs: np.ndarray) -> list[int]:
    alarms = []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def test_alarm_positions_are_pinned() -> None:
    assert ADWIN().update_many(steps()).tolist() == [1535, 3071, 4063, 4447, 4799, 5023]
    assert ADWIN().update_many(errors()).tolist() == [2079, 4095]


@pytest.mark.parametrize("params", CONFIGS, ids=str)
@pytest.mark.parametrize("stream", [steps, errors], ids=["steps", "errors"])
def test_same_alarms_as_river(params: dict[str, float], stream) -> None:
    xs = stream()
    expected = looped(drift.ADWIN(**params), xs)
    assert expected, "the stream should make river alarm"
    assert ADWIN(**params).update_many(xs).tolist() == expected
    assert looped(ADWIN(**params), xs) == expected


def test_same_alarms_as_river_on_a_long_stream() -> None:
    # 200,000 values: 15 bucket rows, so the bucket layout formula and the pairwise block sums
    # are exercised far beyond the short streams.
    rng = np.random.default_rng(3)
    xs = rng.normal(0.0, 1.0, 200_000) + np.repeat([0.0, 0.05, -0.05, 0.1], 50_000)
    expected = looped(drift.ADWIN(), xs)
    assert 1 <= len(expected) <= 10
    assert ADWIN().update_many(xs).tolist() == expected


@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_update_many_matches_looped_update_in_any_split(params: dict[str, float]) -> None:
    xs = steps()
    reference = ADWIN(**params)
    expected = looped(reference, xs)
    rng = np.random.default_rng(1)
    detector, alarms = ADWIN(**params), []
    cuts = sorted({*rng.integers(0, xs.size, 25).tolist(), *expected[:2], *(a + 1 for a in expected[:2])})
    for start, stop in zip([0, *cuts], [*cuts, xs.size], strict=True):
        alarms.extend((start + detector.update_many(xs[start:stop])).tolist())
    assert alarms == expected
    assert detector.state_dict() == reference.state_dict()


def test_state_round_trips_mid_stream() -> None:
    xs = steps()
    expected = ADWIN(clock=5).update_many(xs).tolist()
    for split in (1, 999, 2_345, expected[1] + 1):
        original = ADWIN(clock=5)
        head = original.update_many(xs[:split]).tolist()
        restored = ADWIN.from_state(pickle.loads(pickle.dumps(original.state_dict())))
        assert restored.width == original.width
        assert head + (split + restored.update_many(xs[split:])).tolist() == expected


def test_window_grows_until_an_alarm_then_restarts() -> None:
    detector = ADWIN()
    detector.update_many([1.0, 2.0, 3.0, 2.0])
    assert (detector.width, detector.estimation) == (4, 2.0)
    detector.update_many(np.full(5_000, 2.0))
    assert not detector.drift_detected
    assert detector.width == 5_004
    alarms = detector.update_many(np.full(100, 3.0))
    assert alarms.size == 1
    assert detector.width == 99 - alarms[0]  # the alarm emptied the window
    assert ADWIN().estimation == 0.0


def test_constant_stream_never_alarms() -> None:
    assert ADWIN(clock=1).update_many(np.full(3_000, 2.5)).size == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"delta": 0.0}, "delta must be a finite number in (0, 1); got 0.0"),
        ({"delta": 1.0}, "delta"),
        ({"clock": 0}, "clock must be an integer >= 1; got 0"),
        ({"clock": 2.0}, "clock"),
        ({"max_buckets": 0}, "max_buckets must be an integer >= 1; got 0"),
        ({"min_window_length": 0}, "min_window_length must be an integer >= 1; got 0"),
        ({"grace_period": -1}, "grace_period must be an integer >= 0; got -1"),
        ({"grace_period": True}, "grace_period"),
    ],
)
def test_invalid_parameters_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ADWIN(**params)  # type: ignore[arg-type]


def test_non_finite_values_are_refused_before_any_is_consumed() -> None:
    detector = ADWIN()
    with pytest.raises(ValueError, match="xs"):
        detector.update_many([1.0, np.nan])
    assert detector.width == 0
    with pytest.raises(ValueError, match="x must be a finite number"):
        detector.update(np.inf)
