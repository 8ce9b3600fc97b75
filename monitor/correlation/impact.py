"""How much the KPI moves per unit of the model metric, and what a drift incident cost.

The effect is the slope of an ordinary least-squares regression of the KPI at ``t + lag`` on
the model metric at ``t`` (with intercept, linear trend and seasonal terms). Both series are
autocorrelated, so the usual standard error is too small; the Newey-West (HAC) estimator with
Bartlett weights gives one that stays valid under autocorrelation and heteroscedasticity [1]_.

References
----------
.. [1] W. K. Newey, K. D. West, "A simple, positive semi-definite, heteroskedasticity and
   autocorrelation consistent covariance matrix", Econometrica 55(3), 1987.
.. [2] E. Lazarus, D. J. Lewis, J. H. Stock, M. W. Watson, "HAR inference: recommendations for
   practice", Journal of Business & Economic Statistics 36(4), 2018.
.. [3] N. M. Kiefer, T. J. Vogelsang, "A new asymptotic theory for heteroskedasticity-
   autocorrelation robust tests", Econometric Theory 21(6), 2005.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from monitor.correlation._ols import gram_inverse, ols
from monitor.correlation.lagged import deterministic_terms

__all__ = [
    "Effect",
    "Incident",
    "IncidentImpact",
    "KpiUnit",
    "format_duration",
    "incident_impact",
    "incidents",
    "lagged_effect",
    "worth",
]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Effect:
    """KPI change per unit of the model metric at ``lag`` steps, with a ``level`` confidence interval."""

    slope: float
    low: float
    high: float
    se: float
    n: int
    lag: int
    level: float


def _hac_covariance(design: Floats, residuals: Floats, present: npt.NDArray[np.bool_], bandwidth: int) -> Floats:
    """Newey-West sandwich; rows absent from the sample contribute zero scores (time spacing is kept)."""
    scores = np.where(present[:, None], design * residuals[:, None], 0.0)
    meat = scores.T @ scores
    for lag in range(1, bandwidth + 1):
        weight = 1.0 - lag / (bandwidth + 1.0)
        gamma = scores[lag:].T @ scores[:-lag]
        meat += weight * (gamma + gamma.T)
    bread = gram_inverse(design[present])
    covariance: Floats = bread @ meat @ bread
    return covariance


def _fixed_b_factor(b: float) -> float:
    """How much wider than the normal one the fixed-b critical value is (Bartlett kernel, 95% two-sided)."""
    return (1.9600 + 2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3) / 1.9600


def lagged_effect(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    lag: int,
    *,
    level: float = 0.95,
    bandwidth: int | None = None,
    trend: bool = True,
    periods: Sequence[float] = (),
) -> Effect:
    """Slope of ``y[t + lag]`` on ``x[t]`` with a Newey-West confidence interval.

    Parameters
    ----------
    x, y : array of float
        Model metric and KPI on one grid (NaN for gaps; pairwise complete rows are used).
    lag : int
        Steps by which ``x`` leads ``y`` (>= 0).
    level : float, default 0.95
        Confidence level of the interval. Larger: wider.
    bandwidth : int, optional
        HAC truncation lag; default ``ceil(1.3 sqrt(n))``, the choice Lazarus, Lewis, Stock and
        Watson recommend [2]_ (Newey and West's classic ``4 (n / 100) ** (2 / 9)`` gives intervals
        that cover too rarely when both series are persistent). Larger: more robust to long
        memory, noisier standard error. The critical value is widened for the bandwidth with
        Kiefer and Vogelsang's fixed-b approximation for the Bartlett kernel [3]_.
    trend : bool, default True
        Include a linear trend, so a shared trend is not read as an effect.
    periods : sequence of float, default ()
        Seasons in cells, controlled for with Fourier terms (see
        :func:`~monitor.correlation.lagged.deterministic_terms`).

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> x = rng.normal(size=1000); noise = rng.normal(size=1000)
    >>> y = 2.0 + np.r_[np.zeros(4), -1.5 * x[:-4]] + noise
    >>> e = lagged_effect(x, y, 4)
    >>> round(e.slope, 2), e.low < -1.5 < e.high, e.n
    (-1.55, True, 996)
    """
    xv = np.asarray(x, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    if lag < 0 or lag >= xv.size:
        raise ValueError(f"lag must be in [0, {xv.size - 1}]; got {lag}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    lead = xv[: xv.size - lag]
    target = yv[lag:]
    terms = deterministic_terms(lead.size, trend=trend, periods=periods)
    design = np.column_stack([terms[:, :1], lead, terms[:, 1:]])
    present = np.isfinite(target) & np.isfinite(lead)
    n, k = int(present.sum()), design.shape[1]
    if n <= k + 2 or float(np.nanstd(lead[present])) == 0:
        nan = float("nan")
        return Effect(nan, nan, nan, nan, n, lag, level)
    design = np.where(present[:, None], design, 0.0)
    coef = ols(design[present], target[present])[0]
    residuals = np.where(present, np.nan_to_num(target) - design @ coef, 0.0)
    band = math.ceil(1.3 * math.sqrt(n)) if bandwidth is None else bandwidth
    se = math.sqrt(max(float(_hac_covariance(design, residuals, present, band)[1, 1]), 0.0))
    half = float(stats.t.ppf(0.5 + level / 2, n - k)) * _fixed_b_factor(band / n) * se
    slope = float(coef[1])
    return Effect(slope, slope - half, slope + half, se, n, lag, level)


@dataclass(frozen=True, slots=True)
class KpiUnit:
    """How a KPI is spoken of: ``unit`` of its value, and optionally what one unit is worth per minute.

    ``value_per_unit_minute`` converts a sustained KPI change into a count: e.g. for a conversion
    rate in points at 23 orders a minute, one point for one minute is 0.23 orders.
    """

    unit: str = ""
    value_per_unit_minute: float | None = None
    value_name: str = ""


@dataclass(frozen=True, slots=True)
class Incident:
    """Grid cells ``[start, stop)`` during which a model-side problem was flagged."""

    start: int
    stop: int


def incidents(flags: npt.ArrayLike) -> list[Incident]:
    """Runs of consecutive true cells.

    Examples
    --------
    >>> incidents([False, True, True, False, True])
    [Incident(start=1, stop=3), Incident(start=4, stop=5)]
    """
    f = np.asarray(flags, dtype=bool).astype(np.int8)
    edges = np.diff(np.r_[0, f, 0])
    return [Incident(int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)]


@dataclass(frozen=True, slots=True)
class IncidentImpact:
    """Estimated KPI change over an incident (``low``/``high`` from the effect's interval) and its worth."""

    start: int
    stop: int
    kpi_change: float
    low: float
    high: float
    minutes: float
    value: float | None
    value_low: float | None
    value_high: float | None


def incident_impact(effect: Effect, x: npt.ArrayLike, incident: Incident, step_seconds: float, unit: KpiUnit) -> IncidentImpact:
    """KPI change = effect x (mean metric during the incident - mean metric outside it).

    The worth is the KPI change times the incident's minutes times ``unit.value_per_unit_minute``
    (None when the KPI has no such value).

    Examples
    --------
    >>> effect = Effect(-0.9, -1.1, -0.7, 0.1, 500, 2, 0.95)
    >>> x = np.r_[np.zeros(100), np.full(200, 2.0)]
    >>> hit = incident_impact(effect, x, Incident(100, 300), 60.0, KpiUnit("points", 1.144, "orders"))
    >>> round(hit.kpi_change, 2), hit.minutes, round(hit.value, 1), (round(hit.value_low, 1), round(hit.value_high, 1))
    (-1.8, 200.0, -411.8, (-503.4, -320.3))
    """
    xv = np.asarray(x, dtype=np.float64)
    inside = np.zeros(xv.size, dtype=bool)
    inside[incident.start : incident.stop] = True
    during, outside = xv[inside & np.isfinite(xv)], xv[~inside & np.isfinite(xv)]
    shift = float(during.mean() - outside.mean()) if during.size and outside.size else float("nan")
    low, high = sorted((effect.low * shift, effect.high * shift))
    change = effect.slope * shift
    minutes = (incident.stop - incident.start) * step_seconds / 60.0
    return IncidentImpact(incident.start, incident.stop, change, low, high, minutes, *worth(change, low, high, minutes, unit))


def worth(change: float, low: float, high: float, minutes: float, unit: KpiUnit) -> tuple[float | None, ...]:
    """A KPI change sustained for ``minutes``, and its interval, counted in ``unit.value_name``.

    ``(value, low, high)``, or three Nones when the KPI has no value per unit-minute.

    >>> worth(-1.8, -2.2, -1.4, 200.0, KpiUnit("points", 1.144, "orders"))
    (-411.84, -503.36, -320.32)
    >>> worth(-1.8, -2.2, -1.4, 200.0, KpiUnit("points"))
    (None, None, None)
    """
    rate = unit.value_per_unit_minute
    if rate is None:
        return None, None, None
    a, b = sorted((low * minutes * rate, high * minutes * rate))
    return change * minutes * rate, a, b


def format_duration(seconds: float) -> str:
    """``3 h 20 min``, ``45 min``, ``2 d 1 h``.

    Examples
    --------
    >>> format_duration(12000), format_duration(2700), format_duration(176400)
    ('3 h 20 min', '45 min', '2 d 1 h')
    """
    minutes = round(seconds / 60.0)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"
