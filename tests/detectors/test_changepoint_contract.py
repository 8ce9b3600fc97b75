"""The ChangePointDetector contract, checked for every detector that detectors.changepoint exports.

Detectors are discovered from ``detectors.changepoint.__all__``. Besides the streaming contract
(validated parameters, ``update_many`` equal to a loop of ``update``, state round trips, clones),
a change-point detector reports dates in the past that are final: what it has reported by time
``t`` depends on ``x[0..t]`` only. The streams are short (a few thousand values) because these
detectors spend about 0.1 ms per value.
"""

from __future__ import annotations

import inspect
import math
import pickle
from typing import Any

import numpy as np
import pytest
from detector_state import assert_plain, assert_same_state

import detectors.changepoint as changepoint
from detectors.changepoint import ChangePointDetector

DETECTORS: list[type[ChangePointDetector]] = [
    obj
    for name in changepoint.__all__
    if isinstance(obj := getattr(changepoint, name), type)
    and issubclass(obj, ChangePointDetector)
    and not inspect.isabstract(obj)
]

SHIFT_AT = 400


def eventful(seed: int = 7) -> np.ndarray:
    """About 1,600 values: steps up and down, a variance change, a trend, and a missing value."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(mu, sd, n) for mu, sd, n in [(0, 1, 250), (4, 1, 200), (-1, 1, 250), (-1, 3, 250), (3, 1, 200)]]
    xs = np.concatenate([*parts, 3.0 + 0.3 * np.arange(450) + rng.normal(0, 1, 450)])
    xs[700] = np.nan
    return xs


def shifted(seed: int = 2025) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 1.0, SHIFT_AT), rng.normal(2.0, 1.0, 400)])


def looped(detector: ChangePointDetector, xs: np.ndarray) -> list[int]:
    alarms = []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def bad_values(default: Any) -> list[Any]:
    if isinstance(default, bool):
        return ["yes", None, 2]
    if isinstance(default, int):
        return [-1, 0, 2.5, None, "3"]
    return [math.nan, math.inf, -math.inf, -1.0, 0.0, 1.5, None, "x"]


parametrize = pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)


def test_detectors_are_discovered() -> None:
    assert [cls.__name__ for cls in DETECTORS] == ["BOCPD"]


@parametrize
def test_parameters_are_stored_unchanged_and_validated(cls: type[ChangePointDetector]) -> None:
    signature = inspect.signature(cls).parameters
    defaults = {name: p.default for name, p in signature.items()}
    assert all(v is not inspect.Parameter.empty for v in defaults.values()), "every parameter needs a default"
    assert cls().get_params() == defaults
    assert repr(cls()).startswith(f"{cls.__name__}(")
    for name, default in defaults.items():
        rejected = []
        for bad in bad_values(default):
            try:
                cls(**{name: bad})
            except ValueError as error:
                if name in str(error) and repr(bad) in str(error):
                    rejected.append(bad)
            except Exception:  # only a ValueError naming the parameter and the value counts
                pass
        assert rejected, f"{cls.__name__}({name}=...) accepted every one of {bad_values(default)}"


@parametrize
def test_update_many_matches_looped_update(cls: type[ChangePointDetector]) -> None:
    xs = eventful()
    reference = cls()
    expected = looped(reference, xs)
    assert len(expected) >= 4, "the stream should make the detector report several changes"
    whole = cls()
    assert whole.update_many(xs).tolist() == expected
    assert whole.drift_detected == reference.drift_detected
    assert_same_state(whole.state_dict(), reference.state_dict())

    # Splits anywhere, empty and one-value calls, calls ending exactly on an alarm or inside the
    # warm-up: the same alarms, and the same state after every call.
    rng = np.random.default_rng(0)
    cuts = sorted({*rng.integers(0, xs.size, 15).tolist(), *expected[:2], *(a + 1 for a in expected[:2]), 2, 3, 3})
    pieces, step = cls(), cls()
    alarms: list[int] = []
    for start, stop in zip([0, *cuts], [*cuts, xs.size], strict=True):
        got = pieces.update_many(xs[start:stop])
        assert got.dtype == np.int64
        alarms.extend((start + got).tolist())
        looped(step, xs[start:stop])
        assert pieces.drift_detected == step.drift_detected
        assert_same_state(pieces.state_dict(), step.state_dict())
    assert alarms == expected


@parametrize
def test_empty_input_changes_nothing(cls: type[ChangePointDetector]) -> None:
    detector = cls()
    detector.update_many(eventful()[:300])
    before = detector.state_dict()
    result = detector.update_many(np.array([]))
    assert result.dtype == np.int64
    assert result.size == 0
    assert_same_state(detector.state_dict(), before)


@parametrize
def test_state_round_trips(cls: type[ChangePointDetector]) -> None:
    xs = eventful()
    expected = cls().update_many(xs).tolist()
    for split in (0, 2, 10, expected[0] + 1, 1_000):
        original = cls()
        head = original.update_many(xs[:split]).tolist()
        saved = original.state_dict()
        assert_plain(saved)
        restored = cls.from_state(pickle.loads(pickle.dumps(saved)))
        assert_same_state(restored.state_dict(), saved)
        tail = (split + restored.update_many(xs[split:])).tolist()
        assert head + tail == expected, f"split at {split}"
        original.update_many(xs[split:])
        assert_same_state(restored.state_dict(), original.state_dict())
        assert restored.change_points == original.change_points
    with pytest.raises(ValueError, match=cls.__name__):
        cls.from_state({**saved, "class": "SomethingElse"})


@parametrize
def test_clone_behaves_like_a_fresh_detector(cls: type[ChangePointDetector]) -> None:
    xs = eventful()
    used = cls()
    expected = used.update_many(xs).tolist()
    clone = used.clone()
    assert type(clone) is cls
    assert clone is not used
    assert clone.n_seen == 0
    assert clone.change_points == ()
    assert clone.update_many(xs).tolist() == expected
    assert_same_state(clone.state_dict(), used.state_dict())


@parametrize
def test_reports_are_dated_in_the_past_and_final(cls: type[ChangePointDetector]) -> None:
    xs = eventful()
    detector = cls()
    previous: tuple[int, ...] = ()
    for t, x in enumerate(xs.tolist()):
        detector.update(x)
        points = detector.change_points
        assert detector.n_seen == t + 1
        assert points[: len(previous)] == previous, f"a report was changed at t={t}"
        assert detector.drift_detected == (len(points) > len(previous))
        assert all(0 < p <= t for p in points[len(previous) :]), f"report {points[len(previous) :]} at t={t}"
        previous = points
    assert list(previous) == sorted(set(previous))


@parametrize
def test_no_look_ahead(cls: type[ChangePointDetector]) -> None:
    # Whatever comes after t, the reports made up to t are the same.
    xs = eventful()
    rng = np.random.default_rng(3)
    for t in (240, 455, 900, 1_200):
        original, altered = cls(), cls()
        original.update_many(xs[: t + 1])
        altered.update_many(xs[: t + 1])
        before = original.change_points
        original.update_many(xs[t + 1 :])
        altered.update_many(rng.normal(50.0, 10.0, xs.size - t - 1))
        assert original.change_points[: len(before)] == altered.change_points[: len(before)] == before


@parametrize
def test_no_report_on_a_long_stationary_stream(cls: type[ChangePointDetector]) -> None:
    xs = np.random.default_rng(2024).normal(0.0, 1.0, 5_000)
    detector = cls()
    assert detector.update_many(xs).size == 0
    assert detector.change_points == ()


@parametrize
def test_a_shift_is_found_and_dated(cls: type[ChangePointDetector]) -> None:
    detector = cls()
    alarms = detector.update_many(shifted())
    assert alarms.size == 1, alarms.tolist()
    assert alarms[0] - SHIFT_AT <= 50, alarms.tolist()
    assert len(detector.change_points) == 1
    assert abs(detector.change_points[0] - SHIFT_AT) <= 5


@parametrize
def test_bad_input_is_refused_before_any_value_is_consumed(cls: type[ChangePointDetector]) -> None:
    detector = cls()
    with pytest.raises(ValueError, match="inf"):
        detector.update(math.inf)
    with pytest.raises(ValueError, match=r"xs\[2\]"):
        detector.update_many([1.0, 2.0, -math.inf])
    with pytest.raises(ValueError, match="1-D"):
        detector.update_many(np.zeros((3, 2)))
    assert detector.n_seen == 0
