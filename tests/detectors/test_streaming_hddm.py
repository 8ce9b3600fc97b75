"""HDDM_A and HDDM_W: pinned alarms, river's alarms and warnings (river's HDDMA / HDDMW)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river.drift import binary

from detectors.streaming import HDDM_A, HDDM_W


def run(detector: Any, xs: np.ndarray) -> tuple[list[int], list[bool]]:
    alarms, warnings = [], []
    for i, x in enumerate(xs.tolist()):
        detector.update(x)
        if detector.drift_detected:
            alarms.append(i)
        warnings.append(bool(detector.warning_detected))
    return alarms, warnings


def assert_same_as_river(ours: tuple[list[int], list[bool]], theirs: tuple[list[int], list[bool]]) -> None:
    """Same alarms; same warnings except on an alarm, where river may also report one (two-sided)."""
    assert ours[0] == theirs[0]
    alarms = set(ours[0])
    assert [w for i, w in enumerate(ours[1]) if i not in alarms] == [w for i, w in enumerate(theirs[1]) if i not in alarms]
    assert not any(ours[1][i] for i in alarms)


def error_rates(seed: int, rates: tuple[float, ...] = (0.2, 0.4, 0.1, 0.5, 0.05), n: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p).astype(np.float64) for p in rates])


def test_pinned_alarms() -> None:
    xs = error_rates(0)  # rises at 1500 and 4500, falls at 3000 and 6000
    assert HDDM_A().update_many(xs).tolist() == [1564, 4591]
    assert HDDM_A(two_sided_test=True).update_many(xs).tolist() == [1564, 3099, 4552, 6023]
    # Quicker than HDDM_A, but its short memory also raises false alarms (1903, 2702).
    assert HDDM_W().update_many(xs).tolist() == [1543, 1903, 2702, 4552]
    assert HDDM_W(two_sided_test=True).update_many(xs).tolist() == [1543, 1903, 2702, 3030, 4552, 6017]
    # A longer memory: no false alarm, detection a little later.
    assert HDDM_W(lambda_val=0.01).update_many(xs).tolist() == [1557, 4573]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "params",
    [{}, {"two_sided_test": True}, {"drift_confidence": 0.01, "warning_confidence": 0.05, "two_sided_test": True}],
)
def test_hddm_a_same_alarms_and_warnings_as_river(seed: int, params: dict[str, Any]) -> None:
    xs = error_rates(seed)
    assert_same_as_river(run(HDDM_A(**params), xs), run(binary.HDDMA(**params), xs))
    assert HDDM_A(**params).update_many(xs).tolist() == run(binary.HDDMA(**params), xs)[0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"two_sided_test": True},
        {"lambda_val": 0.2, "two_sided_test": True},
        {"lambda_val": 0.01, "drift_confidence": 0.01, "warning_confidence": 0.05},
    ],
)
def test_hddm_w_same_alarms_and_warnings_as_river(seed: int, params: dict[str, Any]) -> None:
    xs = error_rates(seed)
    assert_same_as_river(run(HDDM_W(**params), xs), run(binary.HDDMW(**params), xs))
    assert HDDM_W(**params).update_many(xs).tolist() == run(binary.HDDMW(**params), xs)[0]


@pytest.mark.parametrize("cls", [HDDM_A, HDDM_W])
def test_improvements_alarm_only_when_two_sided(cls: type[HDDM_A] | type[HDDM_W]) -> None:
    rng = np.random.default_rng(4)
    better = np.r_[(rng.random(1000) < 0.4), (rng.random(1000) < 0.05)].astype(np.float64)
    assert cls().update_many(better).size == 0
    assert cls(two_sided_test=True).update_many(better).size == 1


@pytest.mark.parametrize("cls", [HDDM_A, HDDM_W])
def test_inputs_must_be_error_indicators(cls: type[HDDM_A] | type[HDDM_W]) -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        cls().update(0.3)
    with pytest.raises(ValueError, match=r"xs\[1\]"):
        cls().update_many([1.0, 7.0])


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (HDDM_A, {"drift_confidence": 0.0}, "drift_confidence"),
        (HDDM_A, {"warning_confidence": 0.0001}, "warning_confidence"),
        (HDDM_A, {"two_sided_test": 1}, "two_sided_test"),
        (HDDM_W, {"drift_confidence": 1.0}, "drift_confidence"),
        (HDDM_W, {"lambda_val": 0.0}, "lambda_val"),
        (HDDM_W, {"two_sided_test": "yes"}, "two_sided_test"),
    ],
)
def test_parameters_are_validated(cls: type[HDDM_A] | type[HDDM_W], kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        cls(**kwargs)
