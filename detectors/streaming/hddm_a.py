"""HDDM_A: drift detection with Hoeffding's bound on moving averages."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import binary_value, check_bool, check_real
from detectors.streaming._chunked import ChunkedDetector

__all__ = ["HDDM_A"]

# Per step of a chunk: the cut point's count and error count, the index of the step that set it
# (-1: set before the chunk) and the bounded mean of every step.
_Cut = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float64]]


class HDDM_A(ChunkedDetector):  # the method's published name, as in the paper
    r"""HDDM_A: Hoeffding-bound test between the mean before a cut point and the mean since.

    Of all prefixes of the stream since the last alarm, the cut point is the one whose mean plus
    its Hoeffding bound :math:`\sqrt{\ln(1/\delta) / 2n}` is lowest; an alarm is raised when the
    overall mean exceeds the cut point's mean by more than the Hoeffding bound for the
    difference of two means at confidence ``drift_confidence`` [1]_. With ``two_sided_test``,
    a second cut point (highest mean minus bound) watches decreases the same way.

    Prefer HDDM_A over DDM when false alarms matter: the bound holds for any bounded stream,
    with no normal approximation, so the false-alarm rate follows ``drift_confidence``; it
    suits abrupt changes. For gradual drifts prefer HDDM_W, which weighs recent errors more.
    Inputs are error indicators (1 = error) or, more generally, values in [0, 1] — this
    implementation accepts 0/1 only, like the other error-rate detectors.

    Parameters and their defaults are river's ``binary.HDDMA`` (river renamed the paper's
    HDDM_A); alarms fall where river's do.

    Parameters
    ----------
    drift_confidence : float, default 0.001
        Significance of the alarm test, in (0, 1). Smaller: slower to alarm, fewer false
        alarms.
    warning_confidence : float, default 0.005
        Significance of the warning test, in [``drift_confidence``, 1). Smaller: fewer, later
        warnings.
    two_sided_test : bool, default False
        Also alarm when the error rate falls. True: catches improvements as well (a model
        getting better is also a change), at about twice the false-alarm rate.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.
    warning_detected : bool
        Whether the last value was in the warning zone (never together with an alarm).

    Notes
    -----
    Means are exact counts divided by counts, where river's are incremental; the two differ by
    rounding only. The cut points are the running minimum (maximum) of the bounded means,
    which :meth:`update_many` finds with ``np.minimum.accumulate``.

    With ``two_sided_test``, river can report a warning together with an alarm; here an alarm
    always clears the warning.

    Examples
    --------
    The error rate rises from 20% to 35% at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(1000) < 0.20, rng.random(1000) < 0.35])
    >>> HDDM_A().update_many(errors)
    array([1274])

    A fall of the error rate alarms only with the two-sided test:

    >>> better = np.concatenate([rng.random(1000) < 0.35, rng.random(1000) < 0.15])
    >>> HDDM_A().update_many(better), HDDM_A(two_sided_test=True).update_many(better)
    (array([], dtype=int64), array([1051]))

    References
    ----------
    .. [1] I. Frías-Blanco, J. del Campo-Ávila, G. Ramos-Jiménez, R. Morales-Bueno, A.
       Ortiz-Díaz and Y. Caballero-Mota, "Online and non-parametric drift detection methods
       based on Hoeffding's bounds", IEEE Transactions on Knowledge and Data Engineering
       27(3), pp. 810-823, 2015.
    """

    binary_input = True

    def __init__(self, drift_confidence: float = 0.001, warning_confidence: float = 0.005, two_sided_test: bool = False) -> None:
        check_real("drift_confidence", drift_confidence, low=0.0, high=1.0, low_open=True, high_open=True)
        check_real("warning_confidence", warning_confidence, low=float(drift_confidence), high=1.0, high_open=True)
        check_bool("two_sided_test", two_sided_test)
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.two_sided_test = two_sided_test
        super().__init__()

    def _reset(self) -> None:
        self.warning_detected = False
        self._n = 0
        self._sum = 0.0
        # Cut points (count, error count, mean +/- bound) for increases and decreases.
        self._low = (0, 0.0, math.inf)
        self._high = (0, 0.0, -math.inf)

    def update(self, x: float) -> None:
        """Consume one error indicator and set :attr:`drift_detected` / :attr:`warning_detected`."""
        self._sum += binary_value(x)
        self._n += 1
        n, mean = self._n, self._sum / self._n
        eps = math.sqrt(1.0 / (2.0 * n) * math.log(1.0 / self.drift_confidence))
        if mean + eps <= self._low[2]:
            self._low = (n, self._sum, mean + eps)
        if mean - eps >= self._high[2]:
            self._high = (n, self._sum, mean - eps)
        drift = warning = False
        for (cut_n, cut_sum, _), sign, watched in ((self._low, 1.0, True), (self._high, -1.0, self.two_sided_test)):
            if watched and cut_n < n:
                gap = sign * (mean - cut_sum / cut_n)
                drift = drift or gap >= self._bound(n, cut_n, self.drift_confidence)
                warning = warning or gap >= self._bound(n, cut_n, self.warning_confidence)
        self.drift_detected, self.warning_detected = drift, warning and not drift
        if drift:
            self._reset()

    @staticmethod
    def _bound(n: int, cut_n: int, confidence: float) -> float:
        """Hoeffding bound for the gap between the mean since the cut and the mean up to it."""
        m = (n - cut_n) / cut_n * (1.0 / n)
        return math.sqrt(m / 2.0 * math.log(2.0 / confidence))

    def _tests(
        self, n: npt.NDArray[np.float64], mean: npt.NDArray[np.float64], cuts: list[_Cut]
    ) -> tuple[npt.NDArray[np.bool_], ...]:
        """(drift, warning) at counts ``n`` with means ``mean``, given both cut points; as :meth:`update`."""
        drift = np.zeros(n.size, dtype=bool)
        warning = np.zeros(n.size, dtype=bool)
        for (cut_n, cut_sum, _, _), sign, watched in zip(cuts, (1.0, -1.0), (True, self.two_sided_test), strict=True):
            if not watched:
                continue
            after = cut_n < n
            gap = np.where(after, sign * (mean - cut_sum / cut_n), -math.inf)
            m = (n - cut_n) / cut_n * (1.0 / n)
            drift |= after & (gap >= np.sqrt(m / 2.0 * math.log(2.0 / self.drift_confidence)))
            warning |= after & (gap >= np.sqrt(m / 2.0 * math.log(2.0 / self.warning_confidence)))
        return drift, warning & ~drift

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        sums = chunk.copy()
        sums[0] += self._sum
        np.cumsum(sums, out=sums)
        n = np.arange(self._n + 1, self._n + chunk.size + 1, dtype=np.float64)
        mean = sums / n
        eps = np.sqrt(1.0 / (2.0 * n) * math.log(1.0 / self.drift_confidence))
        index = np.arange(chunk.size)
        cuts: list[_Cut] = []
        for bounded, start, accumulate, sign in (
            (mean + eps, self._low, np.minimum, 1.0),
            (mean - eps, self._high, np.maximum, -1.0),
        ):
            # A cut point moves to the current prefix when its bounded mean is no worse than the
            # one in force (<= for the low one, as river compares).
            before = accumulate.accumulate(np.concatenate(([start[2]], bounded[:-1])))
            moved = sign * bounded <= sign * before
            last = np.maximum.accumulate(np.where(moved, index, -1))
            cuts.append((np.where(last >= 0, n[last], float(start[0])), np.where(last >= 0, sums[last], start[1]), last, bounded))
        drift, warning = self._tests(n, mean, cuts)
        hits = np.flatnonzero(drift)
        if hits.size:
            self._reset()
            return int(hits[0])
        self._n += chunk.size
        self._sum = float(sums[-1])
        for name, (cut_n, cut_sum, last, bounded) in zip(("_low", "_high"), cuts, strict=True):
            if last[-1] >= 0:
                setattr(self, name, (int(cut_n[-1]), float(cut_sum[-1]), float(bounded[last[-1]])))
        self.warning_detected = bool(warning[-1])
        return -1
