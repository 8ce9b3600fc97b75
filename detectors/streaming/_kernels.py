"""Numeric kernels shared by the streaming detectors (private).

The contract asks ``update_many`` to raise *exactly* the alarms a loop of ``update`` raises.
With floating point that only holds when both paths perform the same operations in the same
order, so the recursions here are written once in a form that numpy can evaluate over an
array and that ``update`` evaluates one value at a time with the same roundings:

* running sums are ``np.cumsum`` (a strictly sequential accumulation) seeded with the
  previous total, which is what ``total += x`` computes;
* linear fading recursions ``y_t = f * y_{t-1} + e_t`` are evaluated as
  ``y_t = f**p * (y_0 + sum_i e_i / f**i)`` within blocks of ``p`` steps (:class:`Fading`);
* sequences that depend only on a step count come from one cached table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["FadeState", "Fading", "estimate_reference", "fading", "geometric_table", "scan"]

#: (steps taken in the current block, scaled running sum, current value)
FadeState = tuple[int, float, float]

_MAX_BLOCK = 4096
# Blocks end before f**p falls below this, so e_i / f**i stays far from overflow.
_SMALLEST_POWER = 1e-100
_MAX_TABLE = 1 << 20
_FIRST_CHUNK = 256
_MAX_CHUNK = 1 << 16
# A warm-up with zero spread would make every standardised value infinite or undefined; the
# floor sits at rounding level, so a series that was constant alarms at its first real change.
_RELATIVE_STD_FLOOR = 1e-12


class Fading:
    """The recursion ``y_t = factor * y_{t-1} + e_t``, one value or an array at a time.

    Within a block of ``block`` steps the array form is ``y = f**p * cumsum(e / f**p)``, which
    :meth:`step` reproduces operation for operation; at a block boundary both restart from the
    current value. Factors below 1e-100 are treated as 0 (``y_t = e_t``).
    """

    def __init__(self, factor: float) -> None:
        self.factor = factor
        if factor < _SMALLEST_POWER:
            self.block = 0
        elif factor >= 1.0:
            self.block = _MAX_BLOCK
        else:
            self.block = max(1, min(_MAX_BLOCK, int(math.log(_SMALLEST_POWER) / math.log(factor))))
        self._powers = factor ** np.arange(self.block + 1, dtype=np.float64)
        self._power_list: list[float] = self._powers.tolist()

    @staticmethod
    def start(value: float = 0.0) -> FadeState:
        """The state whose current value is ``value``."""
        return (0, value, value)

    def step(self, state: FadeState, e: float) -> FadeState:
        """Advance one step with increment ``e``; the new value is ``result[2]``."""
        if not self.block:
            return (0, e, e)
        pos, acc, value = state
        if pos == self.block:
            pos, acc = 0, value
        pos += 1
        power = self._power_list[pos]
        acc = acc + e / power
        return (pos, acc, power * acc)

    def run(self, state: FadeState, e: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], FadeState]:
        """Advance over all of ``e``; return every value and the final state."""
        if not self.block:
            return e.copy(), ((0, float(e[-1]), float(e[-1])) if e.size else state)
        out = np.empty(e.size)
        pos, acc, value = state
        i = 0
        while i < e.size:
            if pos == self.block:
                pos, acc = 0, value
            take = min(e.size - i, self.block - pos)
            powers = self._powers[pos + 1 : pos + 1 + take]
            scaled = e[i : i + take] / powers
            scaled[0] += acc
            np.cumsum(scaled, out=scaled)
            np.multiply(powers, scaled, out=out[i : i + take])
            acc, value = float(scaled[-1]), float(out[i + take - 1])
            pos, i = pos + take, i + take
        return out, (pos, acc, value)


@functools.lru_cache(maxsize=64)
def fading(factor: float) -> Fading:
    """The shared :class:`Fading` for ``factor`` (its power table is built once)."""
    return Fading(factor)


@functools.lru_cache(maxsize=64)
def geometric_table(limit: float, start: float, ratio: float) -> npt.NDArray[np.float64]:
    """``limit + (start - limit) * ratio**j`` for ``j = 0..J``; read entry ``min(j, J)``.

    ``J`` is where ``ratio**J`` < 2**-60 (the sequence has converged to rounding), capped at
    2**20 for ratios within about 4e-5 of 1, beyond which the last entry stands in.
    """
    if ratio <= 0.0:
        last = 1
    elif ratio >= 1.0:
        last = 0
    else:
        last = min(_MAX_TABLE, max(1, math.ceil(-60.0 * math.log(2.0) / math.log(ratio))))
    table = limit + (start - limit) * ratio ** np.arange(last + 1, dtype=np.float64)
    table.flags.writeable = False
    return table


def estimate_reference(values: list[float], mean: float | None, std: float | None) -> tuple[float, float]:
    """Reference mean and standard deviation: the given ones, or estimates from ``values``.

    Sums are exact (``math.fsum``), so the estimate does not depend on how the warm-up values
    arrived (one by one or in arrays). The standard deviation uses ``n - 1`` when the mean is
    estimated too, ``n`` when it is given.
    """
    n = len(values)
    mu = math.fsum(values) / n if mean is None else float(mean)
    if std is not None:
        return mu, max(float(std), _RELATIVE_STD_FLOOR * max(1.0, abs(mu)))
    sigma = math.sqrt(math.fsum((v - mu) ** 2 for v in values) / (n - (1 if mean is None else 0)))
    return mu, max(sigma, _RELATIVE_STD_FLOOR * max(1.0, abs(mu)))


def scan(values: npt.NDArray[np.float64], advance: Callable[[npt.NDArray[np.float64]], int]) -> list[int]:
    """Feed ``values`` to ``advance`` in chunks; collect alarm positions.

    ``advance(chunk)`` consumes the chunk and returns -1, or stops at its first alarm, leaves
    the detector reset and returns that offset; the scan resumes right after it. Chunks start
    small after an alarm and double while none is raised, so an early alarm wastes little work
    and a quiet stream runs in long vectorised strides.
    """
    alarms: list[int] = []
    pos, step = 0, _FIRST_CHUNK
    while pos < values.size:
        end = min(values.size, pos + step)
        hit = advance(values[pos:end])
        if hit < 0:
            pos, step = end, min(2 * step, _MAX_CHUNK)
        else:
            alarms.append(pos + hit)
            pos, step = pos + hit + 1, _FIRST_CHUNK
    return alarms
