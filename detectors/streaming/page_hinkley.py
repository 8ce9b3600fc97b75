"""Page-Hinkley test for a change in the mean, with river's parameters and semantics."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_choice, check_int, check_real, finite_value
from detectors.streaming._chunked import ChunkedDetector
from detectors.streaming._kernels import FadeState, Fading, fading

__all__ = ["PageHinkley"]

_MODES = ("up", "down", "both")


class PageHinkley(ChunkedDetector):
    r"""Page-Hinkley test: cumulative deviations from the running mean, with a forgetting factor.

    With :math:`\bar x_t` the mean of the values since the last alarm, two fading sums collect
    the deviations [1]_ [2]_:

    .. math::
        U_t = \alpha U_{t-1} + (x_t - \bar x_t - \delta), \qquad
        D_t = \alpha D_{t-1} + (x_t - \bar x_t + \delta)

    and an increase is flagged when :math:`U_t - \min_{s \le t} U_s` exceeds ``threshold``, a
    decrease when :math:`\max_{s \le t} D_s - D_t` does. Prefer it over CUSUM when there is no
    trustworthy reference (it compares against the running mean, so it needs no warm-up), and
    over ADWIN when the noise level is known well enough to set ``threshold`` in data units.
    ``threshold`` and ``delta`` are in the units of the data, so rescale them with the series.

    Parameters and their defaults are river's ``PageHinkley``, and alarms fall where river's do
    (see Notes).

    Parameters
    ----------
    min_instances : int, default 30
        No alarm before this many values since the start or the last alarm (>= 1). Larger: no
        alarms on a fresh, still noisy mean; later detection right after a restart.
    delta : float, default 0.005
        Magnitude of change tolerated, in data units (>= 0). Larger: drifts the sums away from
        alarming, so fewer false alarms and blindness to shifts smaller than ``delta``.
    threshold : float, default 50.0
        Alarm threshold (lambda), in data units (> 0). Larger: slower to alarm, fewer false
        alarms. The defaults suit series whose noise is well below 1; on unit-variance noise
        they give a false alarm every 1,500 values or so (raise ``threshold`` or ``delta``).
    alpha : float, default 0.9999
        Forgetting factor of the sums, in (0, 1]; 1 forgets nothing. Smaller: old deviations
        fade faster, so fewer false alarms from a long-past wobble but weaker evidence for a
        slow drift.
    mode : {"both", "up", "down"}, default "both"
        Watch increases, decreases, or both.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.

    Notes
    -----
    The running mean is the running sum divided by the count, and the fading sums are
    evaluated in blocks (see :mod:`detectors.streaming._kernels`) so that :meth:`update_many`
    is vectorised; river updates the mean incrementally. The two differ by rounding only, and
    the alarm positions agree with river's on the tested streams. river starts the running
    maximum of :math:`D` at -1 instead of :math:`-\infty`; its first :math:`D` is ``delta >
    -1``, so that changes nothing.

    Examples
    --------
    The mean of a series with noise 0.3 rises by 3 at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(12345)
    >>> x = np.concatenate([rng.normal(0.0, 0.3, 1000), rng.normal(3.0, 0.3, 1000)])
    >>> detector = PageHinkley()
    >>> detector.update_many(x)
    array([1015])
    >>> [round(s, 1) for s in detector.statistics]  # (increase, decrease) since the alarm
    [1.8, 19.6]

    Watching decreases only, the rise goes unnoticed:

    >>> PageHinkley(mode="down").update_many(x)
    array([], dtype=int64)

    References
    ----------
    .. [1] E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2), pp. 100-115, 1954.
    .. [2] R. Sebastião and J. M. Fernandes, "Supporting the Page-Hinkley test with empirical
       mode decomposition for change detection", ISMIS 2017, pp. 492-498.
    """

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        check_int("min_instances", min_instances, 1)
        check_real("delta", delta, low=0.0)
        check_real("threshold", threshold, low=0.0, low_open=True)
        check_real("alpha", alpha, low=0.0, high=1.0, low_open=True)
        check_choice("mode", mode, _MODES)
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        super().__init__()

    def _reset(self) -> None:
        self._n = 0
        self._total = 0.0  # sum of the values since the last alarm
        self._up: FadeState = Fading.start()
        self._down: FadeState = Fading.start()
        self._up_min = math.inf
        self._down_max = -math.inf

    @property
    def statistics(self) -> tuple[float, float]:
        """Current ``(increase, decrease)`` statistics; an alarm needs one above ``threshold``."""
        if not self._n:
            return (0.0, 0.0)
        return (self._up[2] - self._up_min, self._down_max - self._down[2])

    def update(self, x: float) -> None:
        """Consume one value and set :attr:`drift_detected`."""
        value = finite_value(x)
        fade = fading(float(self.alpha))
        self._n += 1
        self._total += value
        dev = value - self._total / self._n
        self._up = fade.step(self._up, dev - self.delta)
        self._down = fade.step(self._down, dev + self.delta)
        self._up_min = min(self._up_min, self._up[2])
        self._down_max = max(self._down_max, self._down[2])
        self.drift_detected = False
        if self._n >= self.min_instances:
            rise, fall = self._up[2] - self._up_min, self._down_max - self._down[2]
            if (self.mode != "down" and rise > self.threshold) or (self.mode != "up" and fall > self.threshold):
                self.drift_detected = True
                self._reset()

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        fade = fading(float(self.alpha))
        with np.errstate(over="ignore", invalid="ignore"):
            totals = chunk.copy()
            totals[0] += self._total
            np.cumsum(totals, out=totals)
            counts = np.arange(self._n + 1, self._n + chunk.size + 1, dtype=np.float64)
            dev = chunk - totals / counts
            up, up_state = fade.run(self._up, dev - self.delta)
            down, down_state = fade.run(self._down, dev + self.delta)
            up_min = np.minimum(np.minimum.accumulate(up), self._up_min)
            down_max = np.maximum(np.maximum.accumulate(down), self._down_max)
            alarm = np.zeros(chunk.size, dtype=bool)
            if self.mode != "down":
                alarm |= up - up_min > self.threshold
            if self.mode != "up":
                alarm |= down_max - down > self.threshold
            alarm &= counts >= self.min_instances
        hits = np.flatnonzero(alarm)
        if hits.size:
            self._reset()
            return int(hits[0])
        self._n += chunk.size
        self._total = float(totals[-1])
        self._up, self._down = up_state, down_state
        self._up_min, self._down_max = float(up_min[-1]), float(down_max[-1])
        return -1
