"""Two-sided tabular CUSUM on standardised values."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_real, finite_value
from detectors.streaming._reference import ReferenceChart

__all__ = ["CUSUM"]

# The upper statistic is S_t = C_t - min(0, C_1..C_t) with C the running sum of (z - k), which
# is max(0, S_{t-1} + z_t - k) unrolled; numpy evaluates it with cumsum and minimum.accumulate.
# C is rebased to S every _BLOCK steps (at fixed counts, however the values arrive) so it never
# grows large enough to lose precision.
_BLOCK = 4096


class CUSUM(ReferenceChart):
    r"""Two-sided tabular CUSUM chart for a shift in the mean of a series.

    Values are standardised against a reference, :math:`z = (x - \mu_0) / \sigma_0`, and two
    one-sided sums accumulate the evidence of an upward and a downward shift [1]_:

    .. math:: S^+_t = \max(0, S^+_{t-1} + z_t - k), \qquad S^-_t = \max(0, S^-_{t-1} - z_t - k)

    An alarm is raised when either exceeds ``h``. CUSUM is the optimal detector of a step of a
    known size ``2k`` (in standard deviations) from a known reference [2]_: prefer it over
    Page-Hinkley when the in-control mean and spread are known or can be learnt from a clean
    warm-up, and over EWMA when shifts are sustained steps rather than drifts. For error
    indicators use DDM or HDDM; with no reference at all, ADWIN.

    The reference is given (``mean``, ``std``) or estimated from the first ``warm_up`` values,
    and then frozen: a reference that kept learning would absorb a slow drift and never alarm,
    and the run-length theory behind ``h`` assumes a fixed reference. After an alarm the sums
    restart at 0 and an estimated reference is learnt afresh from the new regime (a given one
    is kept).

    Parameters
    ----------
    k : float, default 0.5
        Allowance, in standard deviations (>= 0): half the shift the chart is tuned to detect.
        Larger: insensitive to small shifts, fewer false alarms, quicker on large shifts.
    h : float, default 10.0
        Decision threshold, in standard deviations (> 0). Larger: slower to alarm, fewer false
        alarms. With ``k = 0.5`` and a known reference, ``h = 10`` gives a two-sided in-control
        average run length of about 70,000 values (``h = 5``, the textbook choice, about 470)
        and a delay of about 22 values for a one-standard-deviation shift.
    mean : float or None, default None
        Reference mean; ``None`` estimates it from the warm-up.
    std : float or None, default None
        Reference standard deviation (> 0); ``None`` estimates it from the warm-up.
    warm_up : int, default 100
        Values used to estimate the reference when ``mean`` or ``std`` is ``None`` (>= 2);
        ignored when both are given. Larger: a better reference (fewer false alarms from
        estimation error), but no alarm during the warm-up after the start and each alarm.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.

    Examples
    --------
    The mean steps up by one standard deviation at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> x = np.concatenate([rng.normal(5.0, 2.0, 1000), rng.normal(7.0, 2.0, 500)])
    >>> detector = CUSUM()
    >>> detector.update_many(x)
    array([1005])

    After the alarm the reference was learnt afresh, from the new regime:

    >>> tuple(round(v, 2) for v in detector.reference)
    (7.16, 1.85)

    A given reference is kept, so the chart keeps alarming while the mean stays off it; values
    can also go in one at a time:

    >>> detector = CUSUM(mean=5.0, std=2.0)
    >>> alarms = [i for i, v in enumerate(x) if (detector.update(v), detector.drift_detected)[1]]
    >>> alarms[:4], len(alarms)
    ([1020, 1039, 1058, 1077], 24)

    References
    ----------
    .. [1] E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2), pp. 100-115, 1954.
    .. [2] D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., Wiley,
       2012, section 9.1 (tabular CUSUM, average run lengths).
    """

    def __init__(
        self,
        k: float = 0.5,
        h: float = 10.0,
        mean: float | None = None,
        std: float | None = None,
        warm_up: int = 100,
    ) -> None:
        check_real("k", k, low=0.0)
        check_real("h", h, low=0.0, low_open=True)
        self._check_reference(mean, std, warm_up)
        self.k = k
        self.h = h
        self.mean = mean
        self.std = std
        self.warm_up = warm_up
        super().__init__()

    def _reset(self) -> None:
        self._reset_reference()
        self._pos = 0  # steps into the current rebasing block
        self._up_sum, self._up_min = 0.0, 0.0  # C and min(0, C...) of the upper statistic
        self._low_sum, self._low_min = 0.0, 0.0

    @property
    def upper(self) -> float:
        """Current upward statistic :math:`S^+` (alarm when above ``h``)."""
        return self._up_sum - self._up_min

    @property
    def lower(self) -> float:
        """Current downward statistic :math:`S^-` (alarm when above ``h``)."""
        return self._low_sum - self._low_min

    def update(self, x: float) -> None:
        """Consume one value and set :attr:`drift_detected`."""
        value = finite_value(x)
        self.drift_detected = False
        if not self._ready:
            self._collect([value])
            return
        z = (value - self._mu) / self._sigma
        if self._pos == _BLOCK:
            self._rebase()
        self._pos += 1
        self._up_sum = self._up_sum + (z - self.k)
        self._up_min = min(self._up_min, self._up_sum)
        self._low_sum = self._low_sum + (-z - self.k)
        self._low_min = min(self._low_min, self._low_sum)
        if self._up_sum - self._up_min > self.h or self._low_sum - self._low_min > self.h:
            self.drift_detected = True
            self._reset()

    # -- internals ------------------------------------------------------------------------------
    def _rebase(self) -> None:
        self._up_sum, self._up_min = self._up_sum - self._up_min, 0.0
        self._low_sum, self._low_min = self._low_sum - self._low_min, 0.0
        self._pos = 0

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        start = self._take_warm_up(chunk)
        with np.errstate(over="ignore", invalid="ignore"):
            z = (chunk[start:] - self._mu) / self._sigma
            i = 0
            while i < z.size:
                if self._pos == _BLOCK:
                    self._rebase()
                take = min(z.size - i, _BLOCK - self._pos)
                up = z[i : i + take] - self.k
                up[0] += self._up_sum
                np.cumsum(up, out=up)
                up_min = np.minimum(np.minimum.accumulate(up), self._up_min)
                low = -z[i : i + take] - self.k
                low[0] += self._low_sum
                np.cumsum(low, out=low)
                low_min = np.minimum(np.minimum.accumulate(low), self._low_min)
                hits = np.flatnonzero((up - up_min > self.h) | (low - low_min > self.h))
                if hits.size:
                    self._reset()
                    return start + i + int(hits[0])
                self._up_sum, self._up_min = float(up[-1]), float(up_min[-1])
                self._low_sum, self._low_min = float(low[-1]), float(low_min[-1])
                self._pos += take
                i += take
        return -1
