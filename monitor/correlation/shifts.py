"""Event test for one incident: did the KPI shift, soon after the incident began, beyond its ordinary noise?

The lagged correlation needs many cells to carry the link; a single incident (a drift episode
that starts once and stays) carries it in one cell, its onset. This module asks a narrower
question that one incident *can* answer: in the ``max_lag`` cells after the onset, did the KPI
make a level shift larger than its noise explains, and larger than any it made before?

The statistic at cell ``c`` is the t-value of a step at ``c`` in a segmented regression of
the KPI over ``[c - w, c + w)`` with its own intercept and linear trend (an interrupted time
series [2]_: the slope absorbs the daily cycle's local rise or fall, so only a break counts).
The incident's statistic is the largest ``|t|`` over lags ``0..max_lag`` after its onset; the
lag is where it peaks. Two checks must both pass, and the p-value is the larger of the two:

- **noise**: the t-value is corrected for the KPI's autocorrelation (an AR(1) coefficient
  estimated before the onset from first differences, which a smooth trend barely touches; the
  exact variance inflation of the step estimate for that coefficient), and its two-sided
  p-value is multiplied by the ``max_lag + 1`` lags searched (Bonferroni);
- **placebo** [1]_: the same statistic at every earlier position whose search range and
  windows end before the onset; ``(1 + #earlier shifts) / (1 + #placebos)``, where an earlier
  shift is a position whose statistic would itself pass the noise check and is at least half
  the incident's. A KPI that made such shifts before, for reasons of its own, does not get a
  finding: the incident's shift must stand out from the KPI's history, not just top it.
  (Neighbouring positions share most of their cells, so a bare rank among them would be far
  too lenient: a KPI with three similar earlier steps would beat all of them a quarter of the
  time.)

What neither check can rule out is a *coincident* cause: an unrelated KPI shift that happens to
fall within ``max_lag`` after the onset is reported (a KPI with ``k`` such shifts over a history
of ``T`` cells meets a given onset by chance about ``k * max_lag / T`` of the time). One
incident is one observation; a repeated pattern is what the lagged correlation is for.

References
----------
.. [1] A. Abadie, A. Diamond, J. Hainmueller, "Comparative politics and the synthetic control
   method", American Journal of Political Science 59(2), 2015 (placebo tests in time).
.. [2] A. K. Wagner, S. B. Soumerai, F. Zhang, D. Ross-Degnan, "Segmented regression analysis of
   interrupted time series studies in medication use research", Journal of Clinical Pharmacy
   and Therapeutics 27(4), 2002.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import t as student_t

__all__ = [
    "PLACEBO_MARGIN",
    "ShiftStatistics",
    "ShiftTest",
    "noise_autocorrelation",
    "shift_statistics",
    "shift_test",
    "variance_inflation",
]

Floats = npt.NDArray[np.float64]

PLACEBO_MARGIN = 0.5  # an earlier shift this fraction of the incident's size counts against it


@dataclass(frozen=True, slots=True)
class ShiftStatistics:
    """Per cell ``c``: the estimated step at ``c`` (``delta``), its standard error, t-value and cells used.

    NaN where either side of the window holds fewer than ``min_side`` values.
    """

    window: int
    delta: Floats
    se: Floats
    t: Floats
    n: npt.NDArray[np.int64]


def shift_statistics(y: npt.ArrayLike, window: int, *, min_side: int | None = None) -> ShiftStatistics:
    """The step statistic at every cell of ``y`` (NaN cells are missing), all cells at once.

    Each cell's window regresses ``y`` on an intercept, a linear trend and a step at the cell;
    the sums of the normal equations are sliding dot products of the mask and the series with
    fixed kernels, so the whole series costs a few ``(cells x 2 window)`` products.

    Examples
    --------
    A step of 2 at cell 60 on a rising line, with a little noise:

    >>> rng = np.random.default_rng(4)
    >>> y = 0.05 * np.arange(120) + 2.0 * (np.arange(120) >= 60) + rng.normal(0, 0.1, 120)
    >>> s = shift_statistics(y, 20)
    >>> int(np.nanargmax(np.abs(s.t))), round(float(s.delta[60]), 1), bool(np.isnan(s.t[:10]).all())
    (60, 2.1, True)
    """
    values = np.asarray(y, dtype=np.float64)
    if window < 3:
        raise ValueError(f"window must be >= 3 cells; got {window}")
    need = max(3, window // 2) if min_side is None else min_side
    present = np.isfinite(values)
    centre = float(np.median(values[present])) if present.any() else 0.0  # keeps the sums of squares small
    mask = np.r_[np.zeros(window), present, np.zeros(window - 1)]
    filled = np.r_[np.zeros(window), np.where(present, values - centre, 0.0), np.zeros(window - 1)]
    m = sliding_window_view(mask, 2 * window)
    v = sliding_window_view(filled, 2 * window)
    offset = (np.arange(2 * window) - window + 0.5) / window  # time within the window, centred
    step = (np.arange(2 * window) >= window).astype(np.float64)
    design = np.stack([np.ones(2 * window), offset, step])  # (3, 2w)
    gram = np.einsum("ik,jk,ck->cij", design, design, m)
    cross = v @ design.T  # (cells, 3): masked values are zero already
    squares = (v * v).sum(axis=1)
    before_n, after_n = m[:, :window].sum(axis=1), m[:, window:].sum(axis=1)
    n = (before_n + after_n).astype(np.int64)
    usable = (before_n >= need) & (after_n >= need)
    gram[~usable] = np.eye(3)
    inverse = np.linalg.pinv(gram)
    coef = np.einsum("cij,cj->ci", inverse, cross)
    rss = np.maximum(squares - np.einsum("ci,ci->c", coef, cross), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = rss / np.maximum(n - 3, 1)
        se = np.sqrt(sigma2 * inverse[:, 2, 2])
        t = coef[:, 2] / se
    nan = np.full(values.size, np.nan)
    return ShiftStatistics(
        window,
        np.where(usable, coef[:, 2], nan),
        np.where(usable, se, nan),
        np.where(usable & np.isfinite(t), t, nan),
        n,
    )


@dataclass(frozen=True, slots=True)
class ShiftTest:
    """The KPI's largest shift within ``max_lag`` cells after an onset, and how unusual it is.

    ``lag`` is in cells after ``onset``; ``delta`` the step (KPI units) with standard error
    ``se`` (corrected for autocorrelation ``rho``); ``strength`` the step's partial correlation
    with the KPI given the trend (``t / sqrt(t**2 + n - 3)``, signed). ``p_value`` is the larger
    of ``p_noise`` and ``p_placebo``; ``exceeded_by`` of the ``placebos`` earlier positions
    showed a shift that passes the noise check and is at least ``PLACEBO_MARGIN`` times as
    large. ``earlier`` is True when the KPI shifted more in the ``max_lag`` cells *before* the
    onset than after it.
    """

    onset: int
    lag: int
    delta: float
    se: float
    n: int
    strength: float
    rho: float
    p_noise: float
    p_placebo: float
    placebos: int
    exceeded_by: int
    earlier: bool

    @property
    def p_value(self) -> float:
        return max(self.p_noise, self.p_placebo)


def noise_autocorrelation(y: npt.ArrayLike) -> float:
    """Lag-1 autocorrelation of the noise around a smooth level, from first differences; in ``[0, 0.98]``.

    For AR(1) noise with coefficient ``rho`` the first differences have lag-1 autocorrelation
    ``-(1 - rho) / 2``; a smooth trend adds almost nothing to differences, so it does not bias
    the estimate the way autocorrelations of the levels would be. Negative values are taken as
    0 (no credit for anti-persistence).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> white = rng.normal(size=5000)
    >>> persistent = np.empty(5000); persistent[0] = 0.0
    >>> for i in range(1, 5000): persistent[i] = 0.8 * persistent[i - 1] + white[i]
    >>> round(noise_autocorrelation(white), 2), round(noise_autocorrelation(persistent + np.linspace(0, 50, 5000)), 2)
    (0.02, 0.82)
    """
    values = np.asarray(y, dtype=np.float64)
    d = np.diff(values)
    pairs = np.isfinite(d[1:]) & np.isfinite(d[:-1])
    if pairs.sum() < 10:
        return 0.0
    a, b = d[1:][pairs], d[:-1][pairs]
    centre = float(np.r_[a, b].mean())
    a, b = a - centre, b - centre
    denominator = float(np.sqrt((a @ a) * (b @ b)))
    r1 = float(a @ b) / denominator if denominator > 0 else -0.5
    return float(np.clip(1.0 + 2.0 * r1, 0.0, 0.98))


def variance_inflation(rho: float, window: int) -> float:
    """How much AR(1) noise with coefficient ``rho`` inflates the step's t-value, for a full window.

    The ratio of the step estimate's true standard deviation to the one ordinary least squares
    reports (whose residual variance is itself biased under autocorrelation), both exact for
    the window's design.

    Examples
    --------
    >>> round(variance_inflation(0.0, 30), 3), round(variance_inflation(0.6, 30), 2), round(variance_inflation(0.9, 30), 2)
    (1.0, 1.85, 2.83)
    """
    k = np.arange(2 * window)
    design = np.column_stack([np.ones(2 * window), (k - window + 0.5) / window, (k >= window).astype(np.float64)])
    inverse = np.linalg.inv(design.T @ design)
    covariance = rho ** np.abs(k[:, None] - k[None, :])
    residual_maker = np.eye(2 * window) - design @ inverse @ design.T
    true = float((inverse @ design.T @ covariance @ design @ inverse)[2, 2])
    reported = float(np.trace(residual_maker @ covariance)) / (2 * window - 3) * float(inverse[2, 2])
    return float(np.sqrt(true / reported))


def _best_ahead(magnitude: Floats, max_lag: int) -> tuple[Floats, npt.NDArray[np.intp]]:
    """Per cell ``c``: the largest ``magnitude`` over ``[c, c + max_lag]`` (NaN if none) and its lag."""
    padded = np.r_[np.where(np.isfinite(magnitude), magnitude, -np.inf), np.full(max_lag, -np.inf)]
    view = sliding_window_view(padded, max_lag + 1)
    lag = view.argmax(axis=1)
    best = view[np.arange(view.shape[0]), lag]
    return np.where(np.isfinite(best), best, np.nan), lag


def shift_test(
    y: npt.ArrayLike, stats: ShiftStatistics, onset: int, max_lag: int, *, min_placebos: int = 60, alpha: float = 0.05
) -> ShiftTest | None:
    """Test the shift of KPI ``y`` (with its ``stats``) after the incident that began at cell ``onset``.

    None when it cannot be tested: the KPI has no usable window within ``max_lag`` after the
    onset, or fewer than ``min_placebos`` earlier positions to compare with. ``alpha`` is the
    level at which an earlier shift would have passed the noise check (and so counts against
    the incident's).

    Examples
    --------
    Eight hours of a noisy KPI on a 1-minute grid that drops by 3 noise units 30 cells after
    an onset at cell 300; an onset at cell 200, where nothing follows, is ordinary:

    >>> rng = np.random.default_rng(6)
    >>> kpi = 100.0 + rng.normal(0.0, 1.0, 480); kpi[330:] -= 3.0
    >>> s = shift_statistics(kpi, 30)
    >>> hit = shift_test(kpi, s, 300, 60)
    >>> hit.lag, round(hit.delta, 1), hit.placebos, hit.exceeded_by, f"{hit.p_noise:.0e}", round(hit.p_value, 4)
    (30, -2.8, 181, 0, '4e-04', 0.0055)
    >>> ordinary = shift_test(kpi, s, 200, 60)
    >>> round(ordinary.p_noise, 2), ordinary.p_value > 0.5
    (0.6, True)
    """
    magnitude = np.abs(stats.t)
    best, lags = _best_ahead(magnitude, max_lag)
    if not 0 <= onset < best.size or not np.isfinite(best[onset]):
        return None
    observed, lag = float(best[onset]), int(lags[onset])
    # A placebo position's windows and search range lie within the series and end before the onset.
    last = onset - max_lag - stats.window
    placebo = best[stats.window : max(last + 1, stats.window)]
    placebo = placebo[np.isfinite(placebo)]
    if placebo.size < min_placebos:
        return None
    at = onset + lag
    t = float(stats.t[at])
    df = max(int(stats.n[at]) - 3, 1)
    rho = noise_autocorrelation(np.asarray(y, dtype=np.float64)[:onset])
    inflation = variance_inflation(rho, stats.window)
    passes = inflation * float(student_t.isf(alpha / (2.0 * (max_lag + 1)), 2 * stats.window - 3))
    exceeded = int((placebo >= max(PLACEBO_MARGIN * observed, passes)).sum())
    z = t / inflation
    before_onset = magnitude[max(onset - max_lag, 0) : onset]
    earlier = bool(before_onset[np.isfinite(before_onset)].max(initial=-np.inf) > observed)
    return ShiftTest(
        onset=onset,
        lag=lag,
        delta=float(stats.delta[at]),
        se=float(stats.se[at]) * inflation,
        n=int(stats.n[at]),
        strength=t / float(np.sqrt(t * t + df)),
        rho=rho,
        p_noise=min(1.0, (max_lag + 1) * 2.0 * float(student_t.sf(abs(z), df))),
        p_placebo=(1 + exceeded) / (1 + placebo.size),
        placebos=int(placebo.size),
        exceeded_by=exceeded,
        earlier=earlier,
    )
