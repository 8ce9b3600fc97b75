"""DDM: pinned alarms, river's alarms and warnings, and the one documented deviation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river.drift import binary

from detectors.streaming import DDM


def run(detector: Any, xs: np.ndarray) -> tuple[list[int], list[bool]]:
    """Alarm positions and the warning flag after every value, for river's or ours."""
    alarms, warnings = [], []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
        warnings.append(bool(detector.warning_detected))
    return alarms, warnings


def error_rates(seed: int, rates: tuple[float, ...] = (0.2, 0.4, 0.1, 0.5, 0.3), n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p).astype(np.float64) for p in rates])


def test_pinned_alarms() -> None:
    xs = error_rates(2)  # rises at 2000 and 6000, falls at 4000 and 8000
    # The reference p_min + s_min is set early, while s is large, so the rise at 2000 is seen late.
    assert DDM().update_many(xs).tolist() == [3470, 6111]
    # A longer warm start sets a tighter reference.
    assert DDM(warm_start=500).update_many(xs).tolist() == [2120, 6195]
    # A two-sigma threshold is far too eager.
    assert DDM(drift_threshold=2.0, warning_threshold=1.5).update_many(xs).size == 27


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("params", [{}, {"drift_threshold": 2.5, "warning_threshold": 1.5}, {"warm_start": 5}])
def test_same_alarms_and_warnings_as_river(seed: int, params: dict[str, Any]) -> None:
    xs = error_rates(seed)
    ours = DDM(**params)
    assert run(ours, xs) == run(binary.DDM(**params), xs)
    assert DDM(**params).update_many(xs).tolist() == run(ours.clone(), xs)[0]


def test_deviation_no_reference_from_an_error_free_start() -> None:
    # 2% errors, none among the first 40 values. river takes p = s = 0 as its reference, so the
    # first error — an ordinary one — is "drift"; here the reference waits for an error.
    rng = np.random.default_rng(0)
    xs = np.r_[np.zeros(40), 1.0, (rng.random(5_000) < 0.02).astype(np.float64)]
    river_alarms, _ = run(binary.DDM(), xs)
    assert river_alarms == [40]
    assert DDM().update_many(xs).tolist() == []


def test_error_rate_and_booleans() -> None:
    detector = DDM()
    for e in [True, False, False, True]:
        detector.update(e)
    assert detector.error_rate == 0.5
    assert detector.update_many(np.array([True, False])).tolist() == []


def test_inputs_must_be_error_indicators() -> None:
    detector = DDM()
    with pytest.raises(ValueError, match="0 or 1"):
        detector.update(0.5)
    with pytest.raises(ValueError, match=r"xs\[2\]"):
        detector.update_many([0, 1, 2])
    assert detector.state_dict() == DDM().state_dict()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"warm_start": -1}, "warm_start"),
        ({"drift_threshold": 0.0}, "drift_threshold"),
        ({"warning_threshold": 4.0}, "warning_threshold"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        DDM(**kwargs)
