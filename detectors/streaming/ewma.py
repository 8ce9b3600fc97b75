"""EWMA control chart with exact (time-varying) control limits."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_real, finite_value
from detectors.streaming._kernels import FadeState, Fading, fading, geometric_table
from detectors.streaming._reference import ReferenceChart

__all__ = ["EWMA"]


@functools.lru_cache(maxsize=64)
def _limits(lam: float, width: float) -> npt.NDArray[np.float64]:
    """Control limit after ``t`` monitored values, entry ``min(t, len - 1)``.

    Var(z_t) = lam / (2 - lam) * (1 - (1 - lam)**(2t)) in units of the reference variance; the
    limits start narrow, which lets the chart catch a shift present from the first values [2]_.
    """
    variance = geometric_table(lam / (2.0 - lam), 0.0, (1.0 - lam) ** 2)
    limits = width * np.sqrt(variance)
    limits.flags.writeable = False
    return limits


class EWMA(ReferenceChart):
    r"""Exponentially weighted moving average (EWMA) chart for a shift in the mean.

    Values are standardised against a reference, :math:`u = (x - \mu_0) / \sigma_0`, smoothed as
    :math:`z_t = \lambda u_t + (1 - \lambda) z_{t-1}` from :math:`z_0 = 0`, and an alarm is raised
    when :math:`|z_t| > L \sqrt{\lambda / (2 - \lambda) \, (1 - (1 - \lambda)^{2t})}` [1]_.

    Prefer it over CUSUM for small, gradual or oscillating shifts and for noisy, somewhat
    non-normal data (the average smooths outliers away); prefer CUSUM for clean steps of a known
    size. For error indicators use DDM or HDDM_W (an EWMA with a distribution-free bound).

    As for CUSUM, the reference is given or estimated from the first ``warm_up`` values and then
    frozen (a reference that kept learning would follow a drift and never alarm); after an alarm
    the average restarts at 0 and an estimated reference is learnt afresh from the new regime.

    Parameters
    ----------
    lam : float, default 0.1
        Smoothing weight of the newest value, in (0, 1]; 1 is a Shewhart chart. Smaller: longer
        memory, more sensitive to small sustained shifts, slower on large ones.
    L : float, default 4.0
        Width of the control limits in standard deviations of :math:`z` (> 0). Larger: slower
        to alarm, fewer false alarms. With ``lam = 0.1`` and a known reference, ``L = 4`` gives
        an in-control average run length of about 27,000 values (``L = 3.5``: 4,000; ``L =
        2.7``, a textbook choice: about 500; simulated with these exact limits) and a mean
        delay of about 19 values for a one-standard-deviation shift.
    mean : float or None, default None
        Reference mean; ``None`` estimates it from the warm-up.
    std : float or None, default None
        Reference standard deviation (> 0); ``None`` estimates it from the warm-up.
    warm_up : int, default 100
        Values used to estimate the reference when ``mean`` or ``std`` is ``None`` (>= 2);
        ignored when both are given. Larger: a better reference, fewer false alarms from
        estimation error; no alarm during the warm-up after the start and after each alarm.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.

    Examples
    --------
    The mean creeps up by half a standard deviation at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(4)
    >>> x = np.concatenate([rng.normal(10.0, 1.0, 1000), rng.normal(10.5, 1.0, 1000)])
    >>> detector = EWMA()
    >>> detector.update_many(x)
    array([1072])
    >>> tuple(round(v, 2) for v in detector.reference)  # learnt afresh after the alarm
    (10.51, 1.13)

    A given reference is kept, so the chart keeps alarming while the mean stays off it; values
    can also go in one at a time:

    >>> detector = EWMA(mean=10.0, std=1.0)
    >>> [i for i, v in enumerate(x) if (detector.update(v), detector.drift_detected)[1]][:3]
    [1072, 1138, 1252]
    >>> round(detector.average, 3)
    0.434

    References
    ----------
    .. [1] S. W. Roberts, "Control chart tests based on geometric moving averages",
       Technometrics 1(3), pp. 239-250, 1959.
    .. [2] J. M. Lucas and M. S. Saccucci, "Exponentially weighted moving average control
       schemes: properties and enhancements", Technometrics 32(1), pp. 1-12, 1990.
    """

    def __init__(
        self,
        lam: float = 0.1,
        L: float = 4.0,  # the chart's standard name for the limit width
        mean: float | None = None,
        std: float | None = None,
        warm_up: int = 100,
    ) -> None:
        check_real("lam", lam, low=0.0, high=1.0, low_open=True)
        check_real("L", L, low=0.0, low_open=True)
        self._check_reference(mean, std, warm_up)
        self.lam = lam
        self.L = L
        self.mean = mean
        self.std = std
        self.warm_up = warm_up
        super().__init__()

    def _reset(self) -> None:
        self._reset_reference()
        self._t = 0  # values monitored since the reference was fixed
        self._z: FadeState = Fading.start()

    @property
    def average(self) -> float:
        """Current smoothed value :math:`z_t`, in reference standard deviations."""
        return self._z[2]

    def update(self, x: float) -> None:
        """Consume one value and set :attr:`drift_detected`."""
        value = finite_value(x)
        self.drift_detected = False
        if not self._ready:
            self._collect([value])
            return
        lam = float(self.lam)
        self._z = fading(1.0 - lam).step(self._z, lam * ((value - self._mu) / self._sigma))
        self._t += 1
        limits = _limits(lam, float(self.L))
        if abs(self._z[2]) > float(limits[min(self._t, limits.size - 1)]):
            self.drift_detected = True
            self._reset()

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        start = self._take_warm_up(chunk)
        if start == chunk.size:
            return -1
        lam = float(self.lam)
        limits = _limits(lam, float(self.L))
        with np.errstate(over="ignore", invalid="ignore"):
            z, state = fading(1.0 - lam).run(self._z, lam * ((chunk[start:] - self._mu) / self._sigma))
            t = np.arange(self._t + 1, self._t + z.size + 1)
            hits = np.flatnonzero(np.abs(z) > limits[np.minimum(t, limits.size - 1)])
        if hits.size:
            self._reset()
            return start + int(hits[0])
        self._z, self._t = state, self._t + z.size
        return -1
