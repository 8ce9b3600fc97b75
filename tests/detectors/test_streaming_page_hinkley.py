"""Page-Hinkley: pinned alarms and the same alarms as river's PageHinkley."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from river import drift

from detectors.streaming import PageHinkley


def river_alarms(detector: Any, xs: np.ndarray) -> list[int]:
    alarms = []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def levels(seed: int, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(mu, noise, 2000) for mu in (0.0, 2.0, 2.0, -1.0, 0.5)])


def test_pinned_alarms() -> None:
    xs = levels(0, noise=0.5)  # shifts at 2000 (+2), 6000 (-3) and 8000 (+1.5)
    assert PageHinkley().update_many(xs).tolist() == [2022, 6014, 8021]
    assert PageHinkley(threshold=20.0, delta=0.05).update_many(xs).tolist() == [2010, 6006, 8005]
    assert PageHinkley(mode="down").update_many(xs).tolist() == [6018]
    # Watching rises only, the fall at 6000 never resets the running mean, which then sits
    # above the level of 8000 (0.5): the rise is seen late, relative to a mean that drifts down.
    assert PageHinkley(mode="up").update_many(xs).tolist() == [2022, 9833]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"mode": "up", "threshold": 20.0},
        {"mode": "down", "delta": 0.1, "threshold": 30.0},
        {"alpha": 0.99, "threshold": 8.0, "min_instances": 5},
        {"alpha": 1.0, "delta": 0.5, "threshold": 10.0},
    ],
)
def test_same_alarms_as_river(seed: int, params: dict[str, Any]) -> None:
    # Unit noise, so the default parameters also raise false alarms: those must agree too.
    xs = levels(seed)
    assert PageHinkley(**params).update_many(xs).tolist() == river_alarms(drift.PageHinkley(**params), xs)


def test_statistics_follow_the_sums() -> None:
    detector = PageHinkley(delta=0.0, alpha=1.0)
    assert detector.statistics == (0.0, 0.0)
    detector.update_many([0.0, 0.0, 3.0])  # deviations from the running mean: 0, 0, 2
    assert detector.statistics == (2.0, 0.0)
    detector.update(0.0)  # deviation -0.75: sums 1.25, min 0, max 2
    assert detector.statistics == (1.25, 0.75)


def test_no_alarm_before_min_instances() -> None:
    xs = np.r_[np.zeros(10), np.full(30, 100.0)]
    assert PageHinkley(min_instances=30).update_many(xs).tolist() == [29]
    assert PageHinkley(min_instances=1).update_many(xs).tolist() == [10]


def test_inputs_are_checked() -> None:
    detector = PageHinkley()
    with pytest.raises(ValueError, match="finite"):
        detector.update(math.inf)
    with pytest.raises(ValueError, match=r"xs\[1\]"):
        detector.update_many([0.0, math.nan])
    assert detector.state_dict() == PageHinkley().state_dict()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"min_instances": 0}, "min_instances"),
        ({"delta": -1.0}, "delta"),
        ({"threshold": 0.0}, "threshold"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"mode": "sideways"}, "mode"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        PageHinkley(**kwargs)
