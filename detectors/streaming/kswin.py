"""KSWIN: Kolmogorov-Smirnov test between a random sample of a sliding window and its newest values."""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_int, check_real, finite_array, finite_value
from detectors.streaming.base import StreamDetector

__all__ = ["KSWIN"]

#: river's fixed effect-size floor: an alarm also needs a KS distance above 0.1.
MIN_DISTANCE = 0.1

# update_many runs this many tests at once after an alarm, doubling up to the maximum while none
# is raised, so that an early alarm wastes little work.
_FIRST_TESTS = 64
_MAX_TESTS_PER_CHUNK = 2048


class KSWIN(StreamDetector):
    r"""Kolmogorov-Smirnov windowing (Raab et al. [1]_): alarms when the newest values' distribution changes.

    KSWIN keeps the last ``window_size`` values. Once the window is full, at every value it
    draws ``stat_size`` values at random, without replacement, from the older
    ``window_size - stat_size`` values of the window and runs an exact two-sample
    Kolmogorov-Smirnov test against the newest ``stat_size`` values; it alarms when the
    p-value is at most ``alpha`` and the KS distance exceeds :data:`MIN_DISTANCE`.

    Prefer KSWIN when the shape or the spread of a distribution may change while its mean
    does not (a bimodal split, a variance jump): ADWIN, CUSUM and Page-Hinkley watch the mean
    only. It assumes no distribution, but it tests at every value, so ``alpha`` is not the
    false-alarm rate of the stream: on stationary data the defaults raise about one false
    alarm per 900 values (``alpha = 1e-3``: one per 2,000). Set ``alpha`` low, or calibrate it
    for a target run length with :func:`detectors.streaming.calibration.calibrate_threshold`.

    :meth:`update_many` is vectorised: the random subsamples, the sorted merges and the KS
    distances of many consecutive tests are computed as arrays. For two samples of equal size
    ``n`` the distance takes values ``k / n``; the exact p-value of ``k`` (Gnedenko and
    Korolyuk's formula, in exact integer arithmetic) is decreasing in ``k``, so the test
    reduces to ``k >= k_alarm``, computed once.

    Parameters
    ----------
    alpha : float, default 0.005
        Significance of each test, in (0, 1). Smaller: fewer false alarms, later detection.
    window_size : int, default 100
        Length of the sliding window. Larger: a longer memory of the old distribution,
        more work per value.
    stat_size : int, default 30
        Number of newest values tested, and of old values drawn (>= 1, at most half of
        ``window_size``). Larger: more power for small changes, slower reaction.
    seed : int or None, default None
        Seed of the subsampling generator (numpy PCG64), re-applied after each alarm as river
        does. ``None`` draws fresh entropy.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm. After an alarm the window restarts empty.

    Notes
    -----
    Differences from river's ``KSWIN`` (0.26). River subsamples with Python's ``random``
    module, this class with numpy's PCG64, so the two never draw the same subsamples and
    alarm positions cannot match exactly; rates and delays match (see the Driftline
    benchmarks). River's ``window`` warm-start argument is not offered. River compares the
    floating-point distance with 0.1; here ``k / stat_size > 0.1`` is decided exactly,
    which can differ only when ``stat_size`` is a multiple of 10 and the test is
    significant at exactly ``k = stat_size / 10``.

    Examples
    --------
    At position 500 a series turns bimodal (values near -1 and +1) while its mean and
    standard deviation stay at 0 and 1, a change that mean detectors cannot see:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> before = rng.normal(0.0, 1.0, 500)
    >>> after = rng.choice([-1.0, 1.0], 500) + rng.normal(0.0, 0.1, 500)
    >>> x = np.concatenate([before, after])
    >>> detector = KSWIN(alpha=0.001, seed=42)
    >>> detector.update_many(x)
    array([531])

    One value at a time gives the same alarm; the test behind it stays readable until the
    next value:

    >>> detector = KSWIN(alpha=0.001, seed=42)
    >>> [i for i, v in enumerate(x[:532]) if (detector.update(v), detector.drift_detected)[1]]
    [531]
    >>> detector.statistic, f"{detector.p_value:.1e}"
    (0.5, '9.0e-04')

    References
    ----------
    .. [1] C. Raab, M. Heusinger and F.-M. Schleif, "Reactive soft prototype computing for
       concept drift streams", Neurocomputing 416, pp. 340-351, 2020.
    .. [2] B. V. Gnedenko and V. S. Korolyuk, "On the maximum discrepancy between two
       empirical distributions", Doklady Akademii Nauk SSSR 80, pp. 525-528, 1951.
    """

    alpha: float
    window_size: int
    stat_size: int
    seed: int | None
    _k_alarm: int

    def __init__(self, alpha: float = 0.005, window_size: int = 100, stat_size: int = 30, seed: int | None = None) -> None:
        check_real("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("window_size", window_size, 2)
        check_int("stat_size", stat_size, 1)
        if 2 * stat_size > window_size:
            raise ValueError(f"stat_size must be at most window_size / 2 = {window_size / 2:g}; got {stat_size!r}")
        if seed is not None:
            check_int("seed", seed, 0)
        self.alpha = alpha
        self.window_size = window_size
        self.stat_size = stat_size
        self.seed = seed
        self._k_alarm = _alarm_count(int(stat_size), float(alpha))
        super().__init__()

    def _reset(self) -> None:
        self.window = np.empty(0)  # the last window_size values since the last alarm, oldest first
        self._rng = np.random.default_rng(self.seed)
        self._k = -1  # distance of the last test, in units of 1 / stat_size (-1: no test yet)

    @property
    def p_value(self) -> float:
        """Exact p-value of the last test (1.0 before the window first fills)."""
        return _p_value(self.stat_size, self._k) if self._k >= 0 else 1.0

    @property
    def statistic(self) -> float:
        """KS distance of the last test (0.0 before the window first fills)."""
        return max(self._k, 0) / self.stat_size

    def update(self, x: float) -> None:
        """Append ``x`` to the window and test once it is full."""
        self.window = np.append(self.window[-self.window_size + 1 :], finite_value(x))
        self.drift_detected = False
        if self.window.size == self.window_size:
            k = self._distances(self.window, 1)
            self._k = int(k[0])
            if self._k >= self._k_alarm:
                self.drift_detected = True
                self._reset()
                self._k = int(k[0])  # p_value and statistic still describe the alarming test

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Consume ``xs`` in order; return the positions that raised an alarm."""
        values = finite_array(xs)
        alarms: list[int] = []
        pos, batch = 0, _FIRST_TESTS
        while pos < values.size:
            held = self.window.size
            # Tests start once the window is full; test t (0-based) ends at values[pos + lead + t].
            lead = self.window_size - 1 - held if held < self.window_size else 0
            n_tests = min(values.size - pos - lead, batch)
            if n_tests <= 0:
                self.window = np.concatenate((self.window, values[pos:]))
                pos = values.size
                break
            end = pos + lead + n_tests
            buffer = np.concatenate((self.window, values[pos:end]))
            k = self._distances(buffer, n_tests)
            hits = np.flatnonzero(k >= self._k_alarm)
            if hits.size:
                alarm = pos + lead + int(hits[0])
                alarms.append(alarm)
                self._reset()
                self._k = int(k[hits[0]])
                pos, batch = alarm + 1, _FIRST_TESTS
            else:
                self._k = int(k[-1])
                self.window = buffer[-self.window_size :]
                pos, batch = end, min(2 * batch, _MAX_TESTS_PER_CHUNK)
        if values.size:
            self.drift_detected = bool(alarms) and alarms[-1] == values.size - 1
        return np.asarray(alarms, dtype=np.int64)

    # -- internals ---------------------------------------------------------------------------------
    def _distances(self, buffer: npt.NDArray[np.float64], n_tests: int) -> npt.NDArray[np.int64]:
        """KS distances (times ``stat_size``) of the ``n_tests`` windows ending at the end of ``buffer``.

        Test t uses the window ``buffer[start_t : start_t + window_size]`` with
        ``start_t = buffer.size - n_tests - window_size + 1 + t``; its subsample takes the
        ``stat_size`` positions with the smallest of ``window_size - stat_size`` fresh uniform
        draws, so one draw of shape ``(n_tests, ...)`` consumes the generator exactly as
        ``n_tests`` single tests would.
        """
        w, s = self.window_size, self.stat_size
        # Dense ranks (equal values share one) times 2, plus 1 for the newest values: sorting
        # these integer keys orders both samples at once and remembers which is which.
        key = (np.unique(buffer, return_inverse=True)[1] * 2).astype(np.int32)
        starts = np.arange(buffer.size - n_tests - w + 1, buffer.size - w + 1)[:, None]
        picks = np.argpartition(self._rng.random((n_tests, w - s)), s - 1, axis=1)[:, :s]
        keys = np.empty((n_tests, 2 * s), np.int32)
        keys[:, :s] = key[starts + picks]
        keys[:, s:] = key[starts + np.arange(w - s, w)] + 1
        keys.sort(axis=1)
        # +1 for an old value, -1 for a new one: the running sum is n * (F_old - F_new). Each
        # row sums to 0, so one cumulative sum over the flattened rows restarts at every row
        # (numpy's cumsum along a short axis is several times slower).
        steps = 1 - 2 * (keys & 1)
        gap = np.abs(np.cumsum(steps.ravel()).reshape(n_tests, 2 * s))
        # Read the gap only at the end of each run of tied values, where both ECDFs have jumped.
        keys >>= 1
        gap[:, :-1] *= keys[:, :-1] != keys[:, 1:]
        distances: npt.NDArray[np.int64] = gap.max(axis=1).astype(np.int64)
        return distances

    def _running_state(self) -> dict[str, Any]:
        state = super()._running_state()
        state["_rng"] = self._rng.bit_generator.state  # a plain dict; the Generator is rebuilt
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector that continues exactly where the saved one stopped."""
        running = dict(state["state"])
        rng_state = running.pop("_rng")
        detector = super().from_state({**state, "state": running})
        detector._rng.bit_generator.state = rng_state
        return detector


@functools.lru_cache(maxsize=4096)
def _p_value(n: int, k: int) -> float:
    """Exact ``P(D >= k / n)`` for two samples of size ``n`` (Gnedenko-Korolyuk)."""
    if k <= 0:
        return 1.0
    total = math.comb(2 * n, n)
    outside = sum((1 if j % 2 else -1) * math.comb(2 * n, n - j * k) for j in range(1, n // k + 1))
    return min(1.0, 2 * outside / total)


@functools.lru_cache(maxsize=256)
def _alarm_count(n: int, alpha: float) -> int:
    """Smallest ``k`` with ``p(k) <= alpha`` and ``k / n > MIN_DISTANCE``; ``n + 1`` if none."""
    lo, hi = 1, n + 1  # p decreases with k: bisect for the first k where it is at most alpha
    while lo < hi:
        mid = (lo + hi) // 2
        if _p_value(n, mid) <= alpha:
            hi = mid
        else:
            lo = mid + 1
    return max(lo, math.floor(Fraction(str(MIN_DISTANCE)) * n) + 1)  # exact, unlike n * 0.1
