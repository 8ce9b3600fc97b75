"""CUSUM: pinned alarms, a textbook re-implementation, the documented run lengths, inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.streaming import CUSUM


def textbook_cusum(xs: np.ndarray, k: float, h: float, warm_up: int) -> list[int]:
    """Montgomery's tabular CUSUM, value by value, re-learning the reference after each alarm."""
    alarms, warm, upper, lower, ref = [], [], 0.0, 0.0, None
    for i, x in enumerate(xs.tolist()):
        if ref is None:
            warm.append(x)
            if len(warm) == warm_up:
                ref = (float(np.mean(warm)), float(np.std(warm, ddof=1)))
            continue
        z = (x - ref[0]) / ref[1]
        upper, lower = max(0.0, upper + z - k), max(0.0, lower - z - k)
        if upper > h or lower > h:
            alarms.append(i)
            warm, upper, lower, ref = [], 0.0, 0.0, None
    return alarms


def steps(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(mu, 2.0, 1500) for mu in (5.0, 7.0, 7.0, 3.0, 5.0)])


def test_pinned_alarms() -> None:
    # Shifts of one standard deviation at 1500 (up), 4500 (down) and 6000 (up).
    xs = steps(2)
    assert CUSUM().update_many(xs).tolist() == [1516, 4506, 6014]
    # The textbook h = 5 (ARL about 470) alarms all the time on 7,500 values.
    assert CUSUM(h=5.0).update_many(xs).size == 21
    # A short warm-up and a tight threshold: one false alarm (3381).
    assert CUSUM(k=1.0, h=4.0, warm_up=50).update_many(xs).tolist() == [1524, 3381, 4502, 6003]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("k", "h", "warm_up"), [(0.5, 10.0, 100), (0.25, 8.0, 30), (1.0, 3.0, 20)])
def test_same_alarms_as_the_textbook_recursion(seed: int, k: float, h: float, warm_up: int) -> None:
    # The cumulative-sum form differs from max(0, S + z - k) by rounding only.
    xs = steps(seed)
    assert CUSUM(k=k, h=h, warm_up=warm_up).update_many(xs).tolist() == textbook_cusum(xs, k, h, warm_up)


def test_known_reference_needs_no_warm_up_and_is_kept() -> None:
    detector = CUSUM(mean=0.0, std=1.0)
    assert detector.reference == (0.0, 1.0)
    detector.update(11.0)
    assert detector.drift_detected
    assert detector.reference == (0.0, 1.0)
    # Still off the reference, so it alarms again as soon as the evidence is back above h.
    assert detector.update_many(np.full(30, 3.0)).tolist() == [4, 9, 14, 19, 24, 29]


def test_warm_up_then_statistics() -> None:
    detector = CUSUM(warm_up=4)
    detector.update_many([1.0, 3.0, 1.0, 3.0])
    mean, std = detector.reference or (math.nan, math.nan)
    assert mean == 2.0
    assert std == pytest.approx(2.0 / math.sqrt(3.0))
    detector.update(2.0 + 2 * std)
    assert detector.upper == pytest.approx(1.5)
    assert detector.lower == 0.0


def test_constant_warm_up_alarms_on_the_first_change() -> None:
    detector = CUSUM(warm_up=10)
    assert detector.update_many(np.r_[np.full(20, 5.0), 5.001]).tolist() == [20]


def test_documented_run_lengths() -> None:
    # Docstring: h = 10 gives an in-control ARL of about 70,000 values and a delay of about 22
    # for a one-standard-deviation shift (known reference).
    rng = np.random.default_rng(3)
    assert CUSUM(mean=0.0, std=1.0).update_many(rng.normal(size=300_000)).size <= 10
    delays = [CUSUM(mean=0.0, std=1.0).update_many(rng.normal(1.0, 1.0, 200))[0] for _ in range(100)]
    assert 15 <= np.mean(delays) <= 30


def test_inputs_are_checked_before_anything_is_consumed() -> None:
    detector = CUSUM(warm_up=3)
    with pytest.raises(ValueError, match="finite"):
        detector.update(math.nan)
    with pytest.raises(ValueError, match=r"xs\[2\]"):
        detector.update_many([1.0, 2.0, math.inf])
    with pytest.raises(ValueError, match="1-D"):
        detector.update_many(np.zeros((2, 2)))
    assert detector.state_dict() == CUSUM(warm_up=3).state_dict()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"k": -0.1}, "k"), ({"h": 0.0}, "h"), ({"std": 0.0}, "std"), ({"mean": math.inf}, "mean"), ({"warm_up": 1}, "warm_up")],
)
def test_parameters_are_validated(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        CUSUM(**kwargs)  # type: ignore[arg-type]
