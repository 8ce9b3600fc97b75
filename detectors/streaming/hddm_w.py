"""HDDM_W: drift detection with McDiarmid's bound on exponentially weighted averages."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import binary_value, check_bool, check_real
from detectors.streaming._chunked import ChunkedDetector
from detectors.streaming._kernels import FadeState, Fading, fading, geometric_table

__all__ = ["HDDM_W"]

# One side of the test: (cut value, cut-point EWMA, its bound coefficient, values since the
# cut, pos, acc, value of the EWMA since the cut), flattened so state_dict stays plain.
_Side = tuple[float, float, float, int, int, float, float]


class HDDM_W(ChunkedDetector):  # the method's published name, as in the paper
    r"""HDDM_W: McDiarmid-bound test between weighted averages before and after a cut point.

    An exponentially weighted average (weight ``lambda_val`` on the newest value) runs over the
    whole stream since the last alarm. The cut point is where that average plus its McDiarmid
    bound was lowest; from there a second weighted average starts afresh, and an alarm is
    raised when it exceeds the average frozen at the cut point by more than the McDiarmid bound
    for the two at ``drift_confidence`` [1]_. With ``two_sided_test``, a second cut point
    (highest average minus bound) watches decreases the same way.

    Prefer HDDM_W over HDDM_A for gradual drifts and whenever recent errors should count more
    than old ones; like HDDM_A its bound needs no normal approximation. Prefer HDDM_A for abrupt
    changes, where equal weights use the evidence best, and DDM when simplicity matters most.

    Parameters and their defaults are river's ``binary.HDDMW`` (river renamed the paper's
    HDDM_W); alarms fall where river's do.

    Parameters
    ----------
    drift_confidence : float, default 0.001
        Significance of the alarm test, in (0, 1). Smaller: slower to alarm, fewer false
        alarms.
    warning_confidence : float, default 0.005
        Significance of the warning test, in [``drift_confidence``, 1). Smaller: fewer, later
        warnings.
    lambda_val : float, default 0.05
        Weight of the newest value in the averages, in (0, 1]. Larger: quicker on abrupt
        changes, noisier averages, so wider bounds and weaker on small shifts.
    two_sided_test : bool, default False
        Also alarm when the error rate falls. True: catches improvements too, at about twice
        the false-alarm rate.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm.
    warning_detected : bool
        Whether the last value was in the warning zone (never together with an alarm).

    Notes
    -----
    The weighted averages are evaluated in blocks (see :mod:`detectors.streaming._kernels`),
    and their bound coefficients come from the closed form of their recursion; river applies
    both recursions step by step. The two differ by rounding only. :meth:`update_many` finds
    the cut points with ``np.minimum.accumulate`` and runs the average since each cut point as
    one array operation, so it loops once per cut point rather than once per value.

    With ``two_sided_test``, river can report a warning together with an alarm; here an alarm
    always clears the warning.

    Examples
    --------
    The error rate rises from 20% to 35% at position 1000:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.concatenate([rng.random(1000) < 0.20, rng.random(1000) < 0.35])
    >>> HDDM_W().update_many(errors)
    array([1222])

    A fall of the error rate alarms only with the two-sided test:

    >>> better = np.concatenate([rng.random(1000) < 0.35, rng.random(1000) < 0.15])
    >>> HDDM_W().update_many(better), HDDM_W(two_sided_test=True).update_many(better)
    (array([], dtype=int64), array([1030]))

    References
    ----------
    .. [1] I. Frías-Blanco, J. del Campo-Ávila, G. Ramos-Jiménez, R. Morales-Bueno, A.
       Ortiz-Díaz and Y. Caballero-Mota, "Online and non-parametric drift detection methods
       based on Hoeffding's bounds", IEEE Transactions on Knowledge and Data Engineering
       27(3), pp. 810-823, 2015.
    """

    binary_input = True

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
    ) -> None:
        check_real("drift_confidence", drift_confidence, low=0.0, high=1.0, low_open=True, high_open=True)
        check_real("warning_confidence", warning_confidence, low=float(drift_confidence), high=1.0, high_open=True)
        check_real("lambda_val", lambda_val, low=0.0, high=1.0, low_open=True)
        check_bool("two_sided_test", two_sided_test)
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.lambda_val = lambda_val
        self.two_sided_test = two_sided_test
        super().__init__()

    def _reset(self) -> None:
        self.warning_detected = False
        self._n = 0
        self._total: FadeState = Fading.start()  # the average over everything since the reset
        self._up: _Side = (math.inf, 0.0, 1.0, 0, *Fading.start())
        self._down: _Side = (-math.inf, 0.0, 1.0, 0, *Fading.start())

    def _coefficients(self) -> npt.NDArray[np.float64]:
        """Bound coefficient of an average after j values: c_j = lam^2 + (1 - lam)^2 c_{j-1}, c_0 = 1."""
        lam = float(self.lambda_val)
        return geometric_table(lam / (2.0 - lam), 1.0, (1.0 - lam) ** 2)

    @staticmethod
    def _bound(coefficient: float, confidence: float) -> float:
        """McDiarmid bound for a weighted average (or a difference of two) with this coefficient."""
        return math.sqrt(coefficient * math.log(1.0 / confidence) / 2.0)

    def update(self, x: float) -> None:
        """Consume one error indicator and set :attr:`drift_detected` / :attr:`warning_detected`."""
        value = binary_value(x)
        lam = float(self.lambda_val)
        fade, table = fading(1.0 - lam), self._coefficients()
        self._n += 1
        self._total = fade.step(self._total, value if self._n == 1 else lam * value)
        average, coefficient = self._total[2], float(table[min(self._n, table.size - 1)])
        eps = self._bound(coefficient, self.drift_confidence)
        drift = warning = False
        for name, sign, watched in (("_up", 1.0, True), ("_down", -1.0, self.two_sided_test)):
            if not watched:
                continue
            cut, cut_avg, cut_coef, j, *since = getattr(self, name)
            if sign * (average + sign * eps) < sign * cut:
                side: _Side = (average + sign * eps, average, coefficient, 0, *Fading.start())
            else:
                j += 1
                state = fade.step((since[0], since[1], since[2]), value if j == 1 else lam * value)
                side = (cut, cut_avg, cut_coef, j, *state)
                gap = sign * (state[2] - cut_avg)
                both = cut_coef + float(table[min(j, table.size - 1)])
                drift = drift or gap > self._bound(both, self.drift_confidence)
                warning = warning or gap > self._bound(both, self.warning_confidence)
            setattr(self, name, side)
        self.drift_detected, self.warning_detected = drift, warning and not drift
        if drift:
            self._reset()

    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        lam = float(self.lambda_val)
        fade, table = fading(1.0 - lam), self._coefficients()
        steps = lam * chunk
        if self._n == 0:
            steps[0] = chunk[0]
        average, total = fade.run(self._total, steps)
        n = np.arange(self._n + 1, self._n + chunk.size + 1)
        coefficient = table[np.minimum(n, table.size - 1)]
        eps = np.sqrt(coefficient * math.log(1.0 / self.drift_confidence) / 2.0)
        first, warned = chunk.size, False
        sides: dict[str, _Side] = {}
        for name, sign, watched in (("_up", 1.0, True), ("_down", -1.0, self.two_sided_test)):
            if watched:
                hit, sides[name], warn = self._side(chunk[:first], average, coefficient, eps, getattr(self, name), sign)
                if hit < first:
                    first, warned = hit, False
                else:
                    warned = warned or warn
        if first < chunk.size:
            self._reset()
            return first
        self._n += chunk.size
        self._total = total
        for name, side in sides.items():
            setattr(self, name, side)
        self.warning_detected = warned
        return -1

    def _side(
        self,
        chunk: npt.NDArray[np.float64],
        average: npt.NDArray[np.float64],
        coefficient: npt.NDArray[np.float64],
        eps: npt.NDArray[np.float64],
        side: _Side,
        sign: float,
    ) -> tuple[int, _Side, bool]:
        """One side over ``chunk``: (first alarm offset or len(chunk), final side, last warning).

        Cut points are where the bounded average beats every earlier one (strictly, as river
        compares); between two of them the average since the cut is one fading run.
        """
        lam = float(self.lambda_val)
        fade, table = fading(1.0 - lam), self._coefficients()
        size = chunk.size
        bounded = average[:size] + sign * eps[:size]
        before = np.minimum.accumulate(np.concatenate(([sign * side[0]], sign * bounded[:-1])))
        cuts = np.flatnonzero(sign * bounded < before)
        warn = False
        for start, stop in zip(np.concatenate(([-1], cuts)).tolist(), np.concatenate((cuts, [size])).tolist(), strict=True):
            if start >= 0:
                side = (float(bounded[start]), float(average[start]), float(coefficient[start]), 0, *Fading.start())
            if stop - start <= 1:
                continue
            cut, cut_avg, cut_coef, j, pos, acc, value = side
            xs = chunk[start + 1 : stop]
            steps = lam * xs
            if j == 0:
                steps[0] = xs[0]
            since, state = fade.run((pos, acc, value), steps)
            counts = np.arange(j + 1, j + xs.size + 1)
            both = cut_coef + table[np.minimum(counts, table.size - 1)]
            gap = sign * (since - cut_avg)
            hits = np.flatnonzero(gap > np.sqrt(both * math.log(1.0 / self.drift_confidence) / 2.0))
            if hits.size:
                return start + 1 + int(hits[0]), side, False
            side = (cut, cut_avg, cut_coef, j + xs.size, *state)
            if stop == size:
                warn = bool(gap[-1] > np.sqrt(both[-1] * math.log(1.0 / self.warning_confidence) / 2.0))
        return size, side, warn
