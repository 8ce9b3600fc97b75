"""EWMA chart: pinned alarms, a textbook re-implementation, the documented run length, inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.streaming import EWMA


def textbook_ewma(xs: np.ndarray, lam: float, width: float, warm_up: int) -> list[int]:
    """Roberts' chart with exact limits, value by value, re-learning the reference after alarms."""
    alarms, warm, z, t, ref = [], [], 0.0, 0, None
    for i, x in enumerate(xs.tolist()):
        if ref is None:
            warm.append(x)
            if len(warm) == warm_up:
                ref = (float(np.mean(warm)), float(np.std(warm, ddof=1)))
            continue
        t += 1
        z = lam * (x - ref[0]) / ref[1] + (1 - lam) * z
        if abs(z) > width * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t))):
            alarms.append(i)
            warm, z, t, ref = [], 0.0, 0, None
    return alarms


def drifts(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(mu, 1.0, 1500) for mu in (10.0, 10.5, 10.5, 9.0, 9.5)])


def test_pinned_alarms() -> None:
    # Shifts at 1500 (+0.5), 4500 (-1.5) and 6000 (+0.5 standard deviations).
    xs = drifts(2)
    assert EWMA().update_many(xs).tolist() == [1540, 4508, 6059]
    # Textbook-width limits (ARL of a few hundred) alarm all the time on 7,500 values.
    assert EWMA(lam=0.3, L=3.0).update_many(xs).size == 16
    # A longer memory and narrower limits: quicker on the small shifts, one false alarm (2973).
    assert EWMA(lam=0.05, L=3.5, warm_up=300).update_many(xs).tolist() == [1526, 2973, 4507, 6085]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("lam", "width", "warm_up"), [(0.1, 4.0, 100), (0.25, 3.0, 50), (0.02, 3.0, 200), (1.0, 3.5, 30)])
def test_same_alarms_as_the_textbook_recursion(seed: int, lam: float, width: float, warm_up: int) -> None:
    # The blockwise fading sum and the tabulated limits differ from the recursion by rounding only.
    xs = drifts(seed)
    assert EWMA(lam=lam, L=width, warm_up=warm_up).update_many(xs).tolist() == textbook_ewma(xs, lam, width, warm_up)


def test_lam_one_is_a_shewhart_chart() -> None:
    xs = np.random.default_rng(1).normal(size=50_000)
    alarms = EWMA(lam=1.0, L=3.0, mean=0.0, std=1.0).update_many(xs)
    assert alarms.tolist() == np.flatnonzero(np.abs(xs) > 3.0).tolist()


def test_limits_start_narrow() -> None:
    # Var(z_1) = lam**2: a first value of 0.45 / 0.1 = 4.5 sigma exceeds 4 * 0.1 = 0.4 at once.
    detector = EWMA(mean=0.0, std=1.0)
    detector.update(4.5)
    assert detector.drift_detected
    detector.update(3.5)
    assert not detector.drift_detected
    assert detector.average == pytest.approx(0.35)


def test_documented_run_lengths() -> None:
    # Docstring: L = 4 gives an in-control ARL of about 27,000 values and a delay of about 19
    # for a one-standard-deviation shift (lam = 0.1, known reference).
    rng = np.random.default_rng(5)
    assert EWMA(mean=0.0, std=1.0).update_many(rng.normal(size=300_000)).size <= 25
    delays = [EWMA(mean=0.0, std=1.0).update_many(rng.normal(1.0, 1.0, 200))[0] for _ in range(100)]
    assert 12 <= np.mean(delays) <= 26


def test_reference_is_learnt_then_frozen() -> None:
    detector = EWMA(warm_up=4)
    assert detector.reference is None
    detector.update_many([1.0, 3.0, 1.0, 3.0, 2.5, 2.5])
    assert detector.reference == (2.0, pytest.approx(2.0 / math.sqrt(3.0)))


def test_inputs_are_checked() -> None:
    detector = EWMA()
    with pytest.raises(ValueError, match="finite"):
        detector.update(-math.inf)
    with pytest.raises(ValueError, match=r"xs\[0\]"):
        detector.update_many([math.nan])
    assert detector.state_dict() == EWMA().state_dict()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lam": 0.0}, "lam"), ({"lam": 1.1}, "lam"), ({"L": -1.0}, "L"), ({"std": -1.0}, "std"), ({"warm_up": 0}, "warm_up")],
)
def test_parameters_are_validated(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        EWMA(**kwargs)  # type: ignore[arg-type]
