"""The StreamDetector contract, checked for every detector that detectors.streaming exports.

Detectors are discovered from ``detectors.streaming.__all__``: a new detector is covered as soon
as it is exported. Streams follow the class attribute ``binary_input``: real-valued detectors
see Gaussian noise, error-rate detectors see 0/1 error indicators. The statistical checks use
each detector's defaults except where ``EXPECTATIONS`` says otherwise; that table is where the
false-alarm rate and the detection delay each detector is held to are documented.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import pickle
from typing import Any

import numpy as np
import pytest
from detector_state import assert_plain, assert_same_state

import detectors.streaming as streaming
from detectors.streaming import StreamDetector

DETECTORS: list[type[StreamDetector]] = [
    obj
    for name in streaming.__all__
    if isinstance(obj := getattr(streaming, name), type) and issubclass(obj, StreamDetector) and not inspect.isabstract(obj)
]

STATIONARY_LENGTH = 20_000
SHIFT_AT = 2_000
SHIFT_LENGTH = 2_000


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What a detector is held to on the contract streams."""

    #: Constructor arguments for the statistical checks (defaults otherwise).
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Most alarms allowed on STATIONARY_LENGTH stationary values: 5 is one per 4,000 values.
    false_alarms: int = 5
    #: Most values from the shift to the first alarm at or after it.
    delay: int = 300


EXPECTATIONS: dict[str, Expectation] = {
    # river's defaults (threshold 50, delta 0.005) suit noise well below 1; on unit-variance
    # noise they alarm about every 1,500 values, so the contract runs with delta = 0.1.
    "PageHinkley": Expectation(params={"delta": 0.1}),
    # DDM's reference p_min + s_min can be set early, while s is large, which makes it slow
    # after a long stable stretch: delays of 200-700 values are typical on these streams.
    "DDM": Expectation(delay=1_000),
    # river's EDDM defaults (0.95, 0.9) raise dozens of false alarms per 20,000 values; the
    # values river's own example uses keep it to about one, at the cost of slow detection.
    "EDDM": Expectation(params={"alpha": 0.8, "beta": 0.7}, delay=1_500),
    # KSWIN tests at every value on overlapping windows; its default alpha gives about 25
    # false alarms per 20,000 values.
    "KSWIN": Expectation(params={"alpha": 1e-4}),
}


def expectation(cls: type[StreamDetector]) -> Expectation:
    return EXPECTATIONS.get(cls.__name__, Expectation())


def contract_params(cls: type[StreamDetector]) -> dict[str, Any]:
    params = dict(expectation(cls).params)
    if "seed" in inspect.signature(cls).parameters:
        params.setdefault("seed", 0)  # randomised detectors must be reproducible to be compared
    return params


# -- streams ---------------------------------------------------------------------------------------
def stationary(cls: type[StreamDetector], rng: np.random.Generator, n: int) -> np.ndarray:
    """Gaussian noise, or error indicators at a 20% error rate."""
    if cls.binary_input:
        return (rng.random(n) < 0.2).astype(np.float64)
    return rng.normal(0.0, 1.0, n)


def shifted(cls: type[StreamDetector], rng: np.random.Generator) -> np.ndarray:
    """SHIFT_AT stationary values, then a two-standard-deviation rise (or the error rate to 60%)."""
    before = stationary(cls, rng, SHIFT_AT)
    if cls.binary_input:
        return np.concatenate([before, (rng.random(SHIFT_LENGTH) < 0.6).astype(np.float64)])
    return np.concatenate([before, rng.normal(2.0, 1.0, SHIFT_LENGTH)])


def eventful(cls: type[StreamDetector], seed: int = 7) -> np.ndarray:
    """About 6,000 values with large rises and falls, so that every detector alarms several times."""
    rng = np.random.default_rng(seed)
    lengths = [900, 700, 1_100, 600, 1_200, 800, 700]
    if cls.binary_input:
        rates = [0.1, 0.6, 0.05, 0.5, 0.2, 0.85, 0.3]
        return np.concatenate([(rng.random(n) < p).astype(np.float64) for n, p in zip(lengths, rates, strict=True)])
    means = [0.0, 3.0, -1.0, 4.0, 0.0, -4.0, 2.0]
    return np.concatenate([rng.normal(mu, 1.0, n) for n, mu in zip(lengths, means, strict=True)])


# -- helpers ---------------------------------------------------------------------------------------
def looped(detector: StreamDetector, xs: np.ndarray, offset: int = 0) -> list[int]:
    alarms = []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(offset + i)
    return alarms


def chunked(detector: StreamDetector, xs: np.ndarray, cuts: list[int]) -> list[int]:
    alarms: list[int] = []
    for start, stop in zip([0, *cuts], [*cuts, xs.size], strict=True):
        alarms.extend((start + detector.update_many(xs[start:stop])).tolist())
    return alarms


def bad_values(default: Any) -> list[Any]:
    """Candidate invalid values for a parameter, by the type of its default."""
    if isinstance(default, bool):
        return ["yes", None, 2]
    if isinstance(default, int):
        return [-1, 0, 2.5, None, "3"]
    if isinstance(default, float):
        return [math.nan, math.inf, -math.inf, -1.0, 0.0, 1.5, 1e12, None, "x"]
    if isinstance(default, str):
        return ["sideways", "", None]
    return [math.nan, math.inf, -1.0, 0.0, "x"]  # optional parameters (default None)


parametrize = pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)


# -- the contract -------------------------------------------------------------------------------------
def test_detectors_are_discovered() -> None:
    assert len(DETECTORS) >= 7
    assert len({cls.__name__ for cls in DETECTORS}) == len(DETECTORS)


@parametrize
def test_parameters_are_stored_unchanged(cls: type[StreamDetector]) -> None:
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
    assert all(value is not inspect.Parameter.empty for value in defaults.values()), "every parameter needs a default"
    assert cls().get_params() == defaults
    params = contract_params(cls)
    detector = cls(**params)
    assert {key: detector.get_params()[key] for key in params} == params
    assert repr(detector).startswith(f"{cls.__name__}(")


@parametrize
def test_every_parameter_is_validated(cls: type[StreamDetector]) -> None:
    for name, parameter in inspect.signature(cls).parameters.items():
        rejected = []
        for bad in bad_values(parameter.default):
            try:
                cls(**{name: bad})
            except ValueError as error:
                if name in str(error) and repr(bad) in str(error):
                    rejected.append(bad)
            except Exception:  # only a ValueError naming the parameter counts
                pass
        assert rejected, f"{cls.__name__}({name}=...) accepted every one of {bad_values(parameter.default)}"


@parametrize
def test_update_many_matches_looped_update(cls: type[StreamDetector]) -> None:
    params, xs = contract_params(cls), eventful(cls)
    reference = cls(**params)
    expected = looped(reference, xs)
    assert len(expected) >= 2, "the stream should make the detector alarm several times"

    whole = cls(**params)
    assert whole.update_many(xs).tolist() == expected
    assert whole.drift_detected == reference.drift_detected
    assert_same_state(whole.state_dict(), reference.state_dict())

    # Calls that split the stream anywhere, including empty calls, one-value calls and calls
    # that end exactly on an alarm, give the same alarms and the same state after every call.
    rng = np.random.default_rng(0)
    cuts = sorted({*rng.integers(0, xs.size, 40).tolist(), *expected[:3], *(a + 1 for a in expected[:3]), 5, 6, 6})
    pieces, step = cls(**params), cls(**params)
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
def test_update_many_matches_looped_update_on_a_long_quiet_stream(cls: type[StreamDetector]) -> None:
    # Long stretches without an alarm cross the internal block boundaries (every few thousand
    # values) where vectorised recursions rebase themselves.
    params = contract_params(cls)
    xs = stationary(cls, np.random.default_rng(11), 9_000)
    reference = cls(**params)
    expected = looped(reference, xs)
    pieces = cls(**params)
    assert chunked(pieces, xs, [1, 2_500, 4_095, 4_097, 8_191, 8_193]) == expected
    assert_same_state(pieces.state_dict(), reference.state_dict())


@parametrize
def test_empty_input_changes_nothing(cls: type[StreamDetector]) -> None:
    detector = cls(**contract_params(cls))
    detector.update_many(eventful(cls)[:500])
    before = detector.state_dict()
    result = detector.update_many(np.array([]))
    assert result.dtype == np.int64
    assert result.size == 0
    assert_same_state(detector.state_dict(), before)


@parametrize
def test_state_round_trips(cls: type[StreamDetector]) -> None:
    params, xs = contract_params(cls), eventful(cls)
    expected = cls(**params).update_many(xs).tolist()
    for split in (0, 10, 1_234, expected[0] + 1, xs.size - 1):
        original = cls(**params)
        head = original.update_many(xs[:split]).tolist()
        saved = original.state_dict()
        assert_plain(saved)
        snapshot = pickle.loads(pickle.dumps(saved))
        restored = cls.from_state(snapshot)
        assert_same_state(restored.state_dict(), saved)
        tail = (split + restored.update_many(xs[split:])).tolist()
        assert head + tail == expected, f"split at {split}"
        original.update_many(xs[split:])
        assert_same_state(restored.state_dict(), original.state_dict())
        assert_same_state(saved, snapshot)  # the saved state did not move with the detector
    with pytest.raises(ValueError, match=cls.__name__):
        cls.from_state({**saved, "class": "SomethingElse"})


@parametrize
def test_alarm_resets_the_detector(cls: type[StreamDetector]) -> None:
    params, xs = contract_params(cls), eventful(cls)
    detector = cls(**params)
    first = detector.update_many(xs).tolist()[0]
    detector = cls(**params)
    detector.update_many(xs[: first + 1])
    assert detector.drift_detected
    rest = xs[first + 1 :]
    assert detector.update_many(rest).tolist() == cls(**params).update_many(rest).tolist()


@parametrize
def test_clone_behaves_like_a_fresh_detector(cls: type[StreamDetector]) -> None:
    params, xs = contract_params(cls), eventful(cls)
    used = cls(**params)
    expected = used.update_many(xs).tolist()
    clone = used.clone()
    assert type(clone) is cls
    assert clone is not used
    assert clone.get_params() == used.get_params()
    assert clone.update_many(xs).tolist() == expected
    assert_same_state(clone.state_dict(), used.state_dict())


@parametrize
def test_few_false_alarms_on_a_stationary_stream(cls: type[StreamDetector]) -> None:
    xs = stationary(cls, np.random.default_rng(2024), STATIONARY_LENGTH)
    alarms = cls(**contract_params(cls)).update_many(xs)
    assert alarms.size <= expectation(cls).false_alarms, f"{alarms.size} alarms: {alarms.tolist()}"


@parametrize
def test_alarm_soon_after_a_shift(cls: type[StreamDetector]) -> None:
    xs = shifted(cls, np.random.default_rng(2025))
    alarms = cls(**contract_params(cls)).update_many(xs)
    after = alarms[alarms >= SHIFT_AT]
    assert after.size, f"no alarm after the shift at {SHIFT_AT}"
    assert after[0] - SHIFT_AT <= expectation(cls).delay, f"first alarm {after[0] - SHIFT_AT} values after the shift"
