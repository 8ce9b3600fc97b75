"""EDDM: the early drift detection method, on distances between errors."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import binary_value, check_int, check_real
from detectors.streaming._chunked import ChunkedDetector

__all__ = ["EDDM"]


class EDDM(ChunkedDetector):
    r"""Early Drift Detection Method (EDDM) on a stream of error indicators (1 = error).

    EDDM watches the distance (in values) between consecutive errors rather than the error rate.
    With :math:`p'_i` and :math:`s'_i` the mean and standard deviation of those distances since
    the last alarm, it remembers the largest :math:`p'_i + 2 s'_i` and, at each error, alarms
    when :math:`(p'_i + 2 s'_i) / \max (p' + 2 s') < \beta` (a warning below ``alpha``) [1]_.

    Prefer EDDM over DDM for gradual drifts: errors bunching together shows before the overall
    error rate moves much. It is noisier than DDM on abrupt changes and on low error rates (few
    distances), and its defaults raise false alarms often; prefer HDDM_A or HDDM_W when false
    alarms are costly. It watches increases of the error rate only.

    Parameters and their defaults are river's ``binary.EDDM``; alarms fall where river's do.

    Parameters
    ----------
    warm_start : int, default 30
        The maximum is tracked only after this many values and alarms need more than this many
        errors, since the start or the last alarm (>= 0). Larger: fewer false alarms from a few
        early distances; later first detection.
    alpha : float, default 0.95
        Warning level of the ratio, in (0, 1], >= ``beta``. Smaller: fewer, later warnings.
    beta : float, default 0.9
        Alarm level of the ratio, in (0, 1]. Smaller: slower to alarm, fewer false alarms.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.
    warning_detected : bool
        Whether the ratio at the last error was in the warning zone; it holds until the next
        error, since the statistic changes only at errors.

    Notes
    -----
    Distance sums are kept as exact integer-valued floats and the variance is computed from
    them, where river updates mean and variance incrementally (Welford); the two differ by
    rounding only. river leaves ``warning_detected`` as it was when a new maximum is reached;
    here the ratio is then 1, so the warning clears.

    Examples
    --------
    The error rate rises from 10% to 30% at position 2000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> errors = np.concatenate([rng.random(2000) < 0.10, rng.random(1000) < 0.30])
    >>> EDDM(alpha=0.8, beta=0.7).update_many(errors)
    array([2341])

    With river's defaults the same stream raises an alarm every 300 values or so:

    >>> EDDM().update_many(errors)[:6]
    array([ 289,  674, 1011, 1273, 1503, 1815])

    References
    ----------
    .. [1] M. Baena-García, J. del Campo-Ávila, R. Fidalgo, A. Bifet, R. Gavaldà and
       R. Morales-Bueno, "Early drift detection method", Fourth International Workshop on
       Knowledge Discovery from Data Streams, 2006.
    """

    binary_input = True

    def __init__(self, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9) -> None:
        check_int("warm_start", warm_start, 0)
        check_real("alpha", alpha, low=0.0, high=1.0, low_open=True)
        check_real("beta", beta, low=0.0, high=float(alpha), low_open=True)
        self.warm_start = warm_start
        self.alpha = alpha
        self.beta = beta
        super().__init__()

    def _reset(self) -> None:
        self.warning_detected = False
        self._n = 0
        self._last_error = 0  # position (count) of the last error
        self._n_errors = 0
        self._sum = 0.0  # sum of distances between errors
        self._sum_sq = 0.0  # sum of their squares
        self._p2s_max = -math.inf

    def update(self, x: float) -> None:
        """Consume one error indicator and set :attr:`drift_detected` / :attr:`warning_detected`."""
        error = binary_value(x)
        self._n += 1
        self.drift_detected = False
        if not error:
            return
        self._n_errors += 1
        d = float(self._n - self._last_error)
        self._sum += d
        self._sum_sq += d * d
        self._last_error = self._n
        if self._n <= self.warm_start:
            return
        k = self._n_errors
        mean = self._sum / k
        var = max(0.0, (self._sum_sq - self._sum * mean) / (k - 1)) if k > 1 else 0.0
        p2s = mean + 2.0 * math.sqrt(var)
        if p2s > self._p2s_max:
            self._p2s_max = p2s
            self.warning_detected = False
        elif k > self.warm_start:
            level = p2s / self._p2s_max
            if level < self.beta:
                self.drift_detected = True
                self._reset()
            else:
                self.warning_detected = level < self.alpha

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1.

        Only errors change the statistic, so the work is over the errors of the chunk.
        """
        where = np.flatnonzero(chunk)
        if not where.size:
            self._n += chunk.size
            return -1
        at = (self._n + 1 + where).astype(np.float64)  # counts at which the errors arrive
        d = np.diff(at, prepend=float(self._last_error))
        total = d.copy()
        total[0] += self._sum
        np.cumsum(total, out=total)
        total_sq = d * d
        total_sq[0] += self._sum_sq
        np.cumsum(total_sq, out=total_sq)
        k = np.arange(self._n_errors + 1, self._n_errors + where.size + 1, dtype=np.float64)
        mean = total / k
        var = np.where(k > 1.0, np.maximum(0.0, (total_sq - total * mean) / np.maximum(k - 1.0, 1.0)), 0.0)
        p2s = mean + 2.0 * np.sqrt(var)
        active = at > self.warm_start
        candidate = np.where(active, p2s, -math.inf)
        before = np.maximum.accumulate(np.concatenate(([self._p2s_max], candidate[:-1])))
        new_max = active & (p2s > before)
        checked = active & ~new_max & (k > self.warm_start)
        level = np.divide(p2s, before, out=np.ones_like(p2s), where=checked)
        hits = np.flatnonzero(checked & (level < self.beta))
        if hits.size:
            self._reset()
            return int(where[hits[0]])
        self._n += chunk.size
        self._n_errors += where.size
        self._last_error = int(at[-1])
        self._sum, self._sum_sq = float(total[-1]), float(total_sq[-1])
        self._p2s_max = max(float(before[-1]), float(candidate[-1]))
        decided = np.flatnonzero(new_max | checked)
        if decided.size:
            self.warning_detected = bool(level[decided[-1]] < self.alpha)
        return -1
