"""DDM: the drift detection method of Gama et al. for error-rate streams."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import binary_value, check_int, check_real
from detectors.streaming._chunked import ChunkedDetector

__all__ = ["DDM"]


class DDM(ChunkedDetector):
    r"""Drift Detection Method (DDM) on a stream of error indicators (1 = error, 0 = correct).

    With :math:`p_i` the error rate since the last alarm and :math:`s_i = \sqrt{p_i (1 - p_i) / i}`
    its binomial standard deviation, DDM remembers :math:`p_{min}, s_{min}` at the point where
    :math:`p_i + s_i` was lowest and alarms when :math:`p_i + s_i > p_{min} + d \, s_{min}`
    (a warning at ``warning_threshold`` instead of ``d``) [1]_. It watches increases only.

    DDM is the simplest and cheapest of the error-rate detectors and reacts well to abrupt rises
    of the error rate early in a stream. Because :math:`p_i` averages everything since the last
    alarm, it grows slow to react after long stable periods and to gradual drifts: prefer EDDM
    for gradual drifts, HDDM_A for a bound that holds without the normal approximation, and
    HDDM_W when recent errors should weigh more.

    Parameters and their defaults are river's ``binary.DDM``; alarms fall where river's do,
    except for the one case explained in Notes.

    Parameters
    ----------
    warm_start : int, default 30
        No minimum is recorded and no alarm is raised before this many values since the start
        or the last alarm (>= 0). Larger: fewer false alarms from a noisy early error rate and
        a tighter reference (a minimum recorded early, while :math:`s_i` is still large, makes
        later rises slow to detect); no detection right after a restart.
    warning_threshold : float, default 2.0
        Warning level, in :math:`s_{min}` units (> 0, <= ``drift_threshold``). Larger: fewer,
        later warnings.
    drift_threshold : float, default 3.0
        Alarm level, in :math:`s_{min}` units (> 0). Larger: slower to alarm, fewer false
        alarms. The default is a 99% one-sided normal bound.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.
    warning_detected : bool
        Whether the last value was in the warning zone (never together with an alarm).

    Notes
    -----
    Deviation from river and from the paper: a point with :math:`s_i = 0` (no error yet, or
    nothing but errors) never becomes the minimum. In river, a low-error stream (say 2% errors)
    often has no error in its first ``warm_start`` values; then :math:`s_{min} = 0`, and the
    first error — one of the expected 2% — raises an alarm, again after each restart. Here the
    reference starts at the first point where the normal approximation means something.

    The error rate is the error count divided by the count (river updates it incrementally);
    that differs by rounding only.

    Examples
    --------
    The error rate rises from 20% to 45% at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> errors = np.concatenate([rng.random(1000) < 0.20, rng.random(1000) < 0.45])
    >>> detector = DDM()
    >>> detector.update_many(errors)
    array([1085])
    >>> round(detector.error_rate, 3)  # since the alarm
    0.485

    One value at a time (booleans are fine):

    >>> detector = DDM()
    >>> for i, e in enumerate(errors[:1200]):
    ...     detector.update(e)
    ...     if detector.drift_detected:
    ...         print("alarm at", i)
    alarm at 1085

    References
    ----------
    .. [1] J. Gama, P. Medas, G. Castillo and P. Rodrigues, "Learning with drift detection",
       SBIA 2004, LNCS 3171, pp. 286-295.
    """

    binary_input = True

    def __init__(self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0) -> None:
        check_int("warm_start", warm_start, 0)
        check_real("drift_threshold", drift_threshold, low=0.0, low_open=True)
        check_real("warning_threshold", warning_threshold, low=0.0, high=float(drift_threshold), low_open=True)
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        super().__init__()

    def _reset(self) -> None:
        self.warning_detected = False
        self._n = 0
        self._errors = 0.0
        self._p_min = math.inf
        self._s_min = math.inf
        self._ps_min = math.inf  # p_min + s_min; inf until a minimum is recorded

    @property
    def error_rate(self) -> float:
        """Error rate since the last alarm (0 before any value)."""
        return self._errors / self._n if self._n else 0.0

    def update(self, x: float) -> None:
        """Consume one error indicator and set :attr:`drift_detected` / :attr:`warning_detected`."""
        self._errors += binary_value(x)
        self._n += 1
        p = self._errors / self._n
        s = math.sqrt(p * (1.0 - p) / self._n)
        self.drift_detected = self.warning_detected = False
        if self._n <= self.warm_start:
            return
        if s > 0.0 and p + s <= self._ps_min:
            self._p_min, self._s_min, self._ps_min = p, s, p + s
        if self._ps_min == math.inf:
            return
        if p + s > self._p_min + self.drift_threshold * self._s_min:
            self.drift_detected = True
            self._reset()
        else:
            self.warning_detected = p + s > self._p_min + self.warning_threshold * self._s_min

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        errors = chunk.copy()
        errors[0] += self._errors
        np.cumsum(errors, out=errors)
        n = np.arange(self._n + 1, self._n + chunk.size + 1, dtype=np.float64)
        p = errors / n
        s = np.sqrt(p * (1.0 - p) / n)
        ps = p + s
        active = n > self.warm_start
        # The minimum in force at each step: the latest point so far whose p + s was <= every
        # earlier one (ties go to the later point, as with river's <=).
        candidate = np.where(active & (s > 0.0), ps, math.inf)
        before = np.minimum.accumulate(np.concatenate(([self._ps_min], candidate[:-1])))
        is_min = (candidate <= before) & (candidate < math.inf)
        last_min = np.maximum.accumulate(np.where(is_min, np.arange(chunk.size), -1))
        found = last_min >= 0
        p_min = np.where(found, p[last_min], self._p_min)
        s_min = np.where(found, s[last_min], self._s_min)
        armed = active & (found | (self._ps_min < math.inf))
        hits = np.flatnonzero(armed & (ps > p_min + self.drift_threshold * s_min))
        if hits.size:
            self._reset()
            return int(hits[0])
        self._n += chunk.size
        self._errors = float(errors[-1])
        if found[-1]:
            self._p_min, self._s_min = float(p_min[-1]), float(s_min[-1])
            self._ps_min = self._p_min + self._s_min
        self.warning_detected = bool(armed[-1] and ps[-1] > p_min[-1] + self.warning_threshold * s_min[-1])
        return -1
