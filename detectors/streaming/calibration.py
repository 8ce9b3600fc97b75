"""Thresholds chosen for a target false-alarm rate instead of magic constants.

The false-alarm rate of a streaming detector is stated as its in-control average run length
(ARL0): the mean number of values between false alarms on a series that does not change.
:func:`calibrate_threshold` finds the threshold that gives a wanted ARL0 on series resampled
from a reference (a stretch of the monitored series known to be in control), so a threshold
means "one false alarm per N values *on this series*", whatever its distribution and
autocorrelation. :func:`estimate_arl` and :func:`run_length` measure run lengths, and
:func:`block_bootstrap` makes the resampled series.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_int, check_real, finite_array
from detectors.streaming.base import StreamDetector

__all__ = ["ArlEstimate", "block_bootstrap", "calibrate_threshold", "estimate_arl", "run_length"]


@dataclasses.dataclass(frozen=True)
class ArlEstimate:
    """Average run length measured on some streams: ``arl = n_values / n_alarms``."""

    #: Values per alarm; ``inf`` when no alarm was raised.
    arl: float
    n_alarms: int
    n_values: int

    @property
    def alarm_rate(self) -> float:
        """Alarms per value, ``1 / arl``."""
        return self.n_alarms / self.n_values if self.n_values else 0.0


def run_length(detector: StreamDetector, stream: npt.ArrayLike) -> int | None:
    """Number of values up to and including the first alarm on ``stream``; ``None`` if none.

    ``detector`` is left untouched: a copy restored from its state runs the stream, so the
    run starts from wherever ``detector`` stands (fresh, warmed-up or mid-stream).

    >>> import numpy as np
    >>> from detectors.streaming import ADWIN
    >>> x = np.r_[np.zeros(300), np.ones(300)]
    >>> run_length(ADWIN(), x), run_length(ADWIN(), np.zeros(600))
    (320, None)
    """
    values = finite_array(stream)
    copy = type(detector).from_state(detector.state_dict())
    pos, step = 0, 256
    while pos < values.size:
        alarms = copy.update_many(values[pos : pos + step])
        if alarms.size:
            return pos + int(alarms[0]) + 1
        pos, step = pos + step, 2 * step
    return None


def estimate_arl(detector: StreamDetector, streams: Iterable[npt.ArrayLike]) -> ArlEstimate:
    """Average run length of fresh clones of ``detector`` on ``streams``.

    Each stream runs through a fresh clone. Detectors restart after every alarm, so the values
    between alarms are successive run lengths, and the total number of values divided by the
    number of alarms estimates the ARL (a renewal-reward estimate). It also counts the last,
    unfinished run of each stream, which the mean of finished runs would drop, biasing it low.
    Its relative standard error is about ``1 / sqrt(n_alarms)`` on independent data.
    """
    n_alarms = n_values = 0
    for stream in streams:
        values = finite_array(stream)
        n_alarms += int(detector.clone().update_many(values).size)
        n_values += int(values.size)
    return ArlEstimate(arl=n_values / n_alarms if n_alarms else math.inf, n_alarms=n_alarms, n_values=n_values)


def block_bootstrap(
    reference: npt.ArrayLike, length: int, *, block_length: int = 1, rng: np.random.Generator | int | None = None
) -> npt.NDArray[np.float64]:
    """A series of ``length`` values made of random blocks of ``reference`` (circular moving blocks).

    Blocks of ``block_length`` consecutive values start at uniform positions and wrap around
    the end, so every value is equally likely to be drawn. Within a block the reference's
    autocorrelation survives; across blocks it is lost, so choose blocks longer than the
    dependence (``block_length = 1`` is the plain bootstrap, right for independent values).

    >>> block_bootstrap([1.0, 2.0, 3.0, 4.0, 5.0], 8, block_length=3, rng=0)
    array([5., 1., 2., 4., 5., 1., 3., 4.])
    """
    values = finite_array(reference)
    if values.size == 0:
        raise ValueError("reference must hold at least one value; got none")
    check_int("length", length, 0)
    check_int("block_length", block_length, 1)
    if block_length > values.size:
        raise ValueError(f"block_length must be at most len(reference) = {values.size}; got {block_length!r}")
    generator = np.random.default_rng(rng)
    starts = generator.integers(0, values.size, -(-length // block_length))
    index = (starts[:, None] + np.arange(block_length)).ravel()[:length] % values.size
    resampled: npt.NDArray[np.float64] = values[index]
    return resampled


def calibrate_threshold(
    factory: Callable[[float], StreamDetector],
    reference: npt.ArrayLike,
    *,
    target_arl: float,
    bounds: tuple[float, float],
    n_simulations: int = 20,
    stream_length: int | None = None,
    block_length: int | None = None,
    max_iter: int = 30,
    rng: np.random.Generator | int | None = None,
) -> float:
    """The threshold for which ``factory(threshold)`` has an in-control ARL of ``target_arl``.

    ``n_simulations`` series of ``stream_length`` values are block-bootstrapped from
    ``reference`` once; the ARL of ``factory(t)`` on them (:func:`estimate_arl`) is then
    bisected over ``t`` in ``bounds``. Reusing the same series for every ``t`` (common random
    numbers) makes the measured ARL a step function of ``t`` instead of a noisy one, so the
    bisection converges.

    Assumption: the ARL never decreases as the threshold grows (CUSUM's ``h``, Page-Hinkley's
    ``threshold``, EWMA's control limit). For parameters where larger means *more* alarms,
    map them in the factory, e.g. ``lambda t: ADWIN(delta=10.0 ** -t)`` or
    ``lambda t: KSWIN(alpha=10.0 ** -t, seed=0)``.

    Parameters
    ----------
    factory : callable
        Builds a detector from a threshold value.
    reference : array_like
        In-control values (>= 2) that the simulated series are resampled from. It should be
        long compared with ``block_length`` and span the normal variation (a full season).
    target_arl : float
        Wanted mean number of values between false alarms (> 1).
    bounds : (float, float)
        Thresholds ``lo < hi`` that bracket the answer: the ARL at ``lo`` must be below
        ``target_arl`` and at ``hi`` above it, else ``ValueError`` reports both.
    n_simulations : int, default 20
        Number of resampled series (>= 1). Larger: less Monte Carlo error, more time.
    stream_length : int or None, default None
        Length of each series; ``None`` uses ``10 * target_arl`` so that about
        ``10 * n_simulations`` false alarms are counted (relative error about 7%).
    block_length : int or None, default None
        Bootstrap block length (:func:`block_bootstrap`); ``None`` uses ``len(reference) ** (1/3)``
        rounded, a common rule for moving-block bootstraps. Use 1 for independent values.
    max_iter : int, default 30
        Bisection steps after the bounds are checked (>= 1).
    rng : numpy Generator, int or None
        Source of the resampling.

    Returns
    -------
    float
        The midpoint of the final bracket.

    Examples
    --------
    A CUSUM on standardised values, calibrated for one false alarm per 200 values:

    >>> import numpy as np
    >>> from detectors.streaming import CUSUM
    >>> reference = np.random.default_rng(1).normal(size=2_000)
    >>> factory = lambda h: CUSUM(h=h, mean=0.0, std=1.0)
    >>> h = calibrate_threshold(factory, reference, target_arl=200, bounds=(1.0, 10.0), block_length=1, rng=2)
    >>> round(h, 2)
    4.25

    Checked on fresh in-control data (the reference's own sampling error shows):

    >>> fresh = np.random.default_rng(3).normal(size=(10, 4_000))
    >>> estimate = estimate_arl(factory(h), fresh)
    >>> round(estimate.arl), estimate.n_alarms
    (212, 189)
    """
    series = finite_array(reference)
    if series.size < 2:
        raise ValueError(f"reference must hold at least 2 values; got {series.size}")
    check_real("target_arl", target_arl, low=1.0, low_open=True)
    lo, hi = (float(b) for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be two finite numbers lo < hi; got {bounds!r}")
    check_int("n_simulations", n_simulations, 1)
    check_int("max_iter", max_iter, 1)
    length = math.ceil(10 * target_arl) if stream_length is None else stream_length
    check_int("stream_length", length, 1)
    block = max(1, round(series.size ** (1 / 3))) if block_length is None else block_length
    generator = np.random.default_rng(rng)
    streams = [block_bootstrap(series, length, block_length=block, rng=generator) for _ in range(n_simulations)]

    def arl(threshold: float) -> float:
        return estimate_arl(factory(threshold), streams).arl

    arl_lo, arl_hi = arl(lo), arl(hi)
    if not arl_lo <= target_arl <= arl_hi:
        raise ValueError(
            f"bounds must bracket target_arl = {target_arl!r}: the ARL is {arl_lo:.4g} at {lo!r} and {arl_hi:.4g} at {hi!r}"
        )
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if arl(mid) < target_arl:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
