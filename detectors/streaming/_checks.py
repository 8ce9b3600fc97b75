"""Parameter and input checks shared by the streaming detectors (private).

Every error is a ``ValueError`` that names the parameter (or input), the offending value and
the rule it broke, as :mod:`detectors.streaming.base` requires.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

import numpy as np
import numpy.typing as npt

__all__ = [
    "binary_array",
    "binary_value",
    "check_bool",
    "check_choice",
    "check_int",
    "check_real",
    "finite_array",
    "finite_value",
]


def check_int(name: str, value: object, minimum: int) -> None:
    """Require an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def check_real(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Require a finite real number in the interval from ``low`` to ``high``.

    The bounds are closed unless ``low_open`` / ``high_open``; the message states the interval.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        if math.isinf(low) and math.isinf(high):
            raise ValueError(f"{name} must be a finite number; got {value!r}")
        left = "(" if low_open or math.isinf(low) else "["
        right = ")" if high_open or math.isinf(high) else "]"
        raise ValueError(f"{name} must be a finite number in {left}{low:g}, {high:g}{right}; got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Require ``True`` or ``False`` (truthy stand-ins are rejected, so typos do not pass)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")


def check_choice(name: str, value: object, choices: Collection[str]) -> None:
    """Require one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")


def finite_value(x: float) -> float:
    """``x`` as a float; non-finite values would poison running sums, so they are refused."""
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"x must be a finite number; got {x!r}")
    return value


def binary_value(x: float) -> float:
    """``x`` as 0.0 or 1.0 (an error indicator: 1 = error); anything else is refused."""
    value = float(x)
    if value != 0.0 and value != 1.0:
        raise ValueError(f"x must be 0 or 1 (1 = error); got {x!r}")
    return value


def _as_1d(xs: npt.ArrayLike) -> npt.NDArray[np.float64]:
    values = np.asarray(xs, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"xs must be 1-D; got an array of shape {values.shape}")
    return values


def finite_array(xs: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``xs`` as a 1-D float array, all finite; checked before any value is consumed."""
    values = _as_1d(xs)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"xs must hold finite numbers; xs[{i}] is {values[i]!r}")
    return values


def binary_array(xs: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``xs`` as a 1-D float array of 0.0 / 1.0; checked before any value is consumed."""
    values = _as_1d(xs)
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"xs must hold only 0 and 1 (1 = error); xs[{i}] is {values[i]!r}")
    return values
