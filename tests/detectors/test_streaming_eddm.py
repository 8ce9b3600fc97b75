"""EDDM: pinned alarms and river's alarms; warnings differ only where documented."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river.drift import binary

from detectors.streaming import EDDM


def run(detector: Any, xs: np.ndarray) -> tuple[list[int], list[bool]]:
    alarms, warnings = [], []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
        warnings.append(bool(detector.warning_detected))
    return alarms, warnings


def error_rates(seed: int, rates: tuple[float, ...] = (0.1, 0.3, 0.05, 0.4, 0.2), n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p).astype(np.float64) for p in rates])


def test_pinned_alarms() -> None:
    xs = error_rates(0)  # rises at 2000 and 6000, falls at 4000 and 8000
    # Distances are averaged over everything since the last alarm, so after the long quiet
    # stretch (5% errors) the rise at 6000 takes long to pull the average down.
    assert EDDM(alpha=0.8, beta=0.7).update_many(xs).tolist() == [2341, 7670]
    # river's defaults: an alarm every few hundred values, change or not.
    assert EDDM().update_many(xs).size == 26
    # Other streams, the same tuned parameters: early false alarms (before 2000) are common.
    assert EDDM(alpha=0.8, beta=0.7).update_many(error_rates(3)).tolist() == [393, 629, 2211, 2320, 8719]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("params", [{}, {"alpha": 0.8, "beta": 0.7}, {"alpha": 0.9, "beta": 0.9, "warm_start": 10}])
def test_same_alarms_as_river(seed: int, params: dict[str, Any]) -> None:
    xs = error_rates(seed)
    ours, theirs = run(EDDM(**params), xs), run(binary.EDDM(**params), xs)
    assert ours[0] == theirs[0]
    assert EDDM(**params).update_many(xs).tolist() == theirs[0]
    # Warnings: river keeps the previous flag when a new maximum is reached (ratio 1); ours
    # clears it. They agree everywhere else.
    differ = [i for i, (a, b) in enumerate(zip(ours[1], theirs[1], strict=True)) if a != b]
    assert all(not ours[1][i] and theirs[1][i] for i in differ)


def test_only_errors_move_the_statistic() -> None:
    detector = EDDM(warm_start=0, alpha=0.95, beta=0.5)
    detector.update_many([1, 0, 1, 0, 0, 1])  # distances 1, 2, 3
    state = detector.state_dict()["state"]
    assert (state["_n_errors"], state["_sum"], state["_sum_sq"], state["_last_error"]) == (3, 6.0, 14.0, 6)
    # mean 2, standard deviation 1: p' + 2 s' = 4 is the maximum so far.
    assert state["_p2s_max"] == 4.0
    detector.update_many(np.zeros(100))
    assert detector.state_dict()["state"]["_n"] == 106


def test_inputs_must_be_error_indicators() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        EDDM().update(-1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"warm_start": -5}, "warm_start"),
        ({"alpha": 1.5}, "alpha"),
        ({"beta": 0.0}, "beta"),
        ({"alpha": 0.8, "beta": 0.9}, "beta"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        EDDM(**kwargs)
