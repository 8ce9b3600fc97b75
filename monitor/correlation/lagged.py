"""Lagged cross-correlation of every model-side series with every KPI, corrected for autocorrelation.

Two independent series that both trend, or both follow a daily season, are strongly correlated
at every lag: the ordinary test of a correlation assumes independent observations and calls
that "significant" almost always. The classical remedy, used here, is *pre-whitening* [1]_:
each series is replaced by the residuals of its own autoregressive fit (with intercept, linear
trend and Fourier terms for known seasons such as the day; order chosen by BIC; in first
differences when a unit-root test cannot reject a random walk). The residuals of independent
series are close to independent white noise, so their cross-correlation at any lag is
approximately normal with variance ``1 / n`` under the null of no link [2]_, and Fisher's z
gives honest p-values; what autocorrelation the fit leaves is charged to the variance with
Bartlett's formula. A real link survives pre-whitening: the model series' innovations show up
in the KPI's innovations at the link's lag.

The normal approximation also needs the products ``a[t] b[t + lag]`` to share the sum, and
whitened series are often far from that: a step series (a drift score per 30-minute window
spread over 1-minute cells) keeps its innovations in the few cells where a window starts, an
anomaly flag in the few cells where it fires, and a KPI that shifts once in the one cell of
the shift. Two such series meet at some lag by chance, and one product then makes ``r`` large.
The test is therefore self-normalised [3]_: the sample size is replaced by the effective one
``n_eff = S_aa S_bb / sum (e_t - mean e)^2`` with ``e_t`` the centred products (at most ``n``),
which is ``n`` when the products are alike and the number of windows, or about one, when a few
of them carry the sum.

References
----------
.. [1] G. E. P. Box, G. M. Jenkins, *Time Series Analysis: Forecasting and Control*, ch. 11.
.. [2] L. D. Haugh, "Checking the independence of two covariance-stationary time series: a
   univariate residual cross-correlation approach", JASA 71(354), 1976.
.. [3] V. Dalla, L. Giraitis, P. C. B. Phillips, "Robust tests for white noise and
   cross-correlation", Econometric Theory 38(5), 2022.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "CrossCorrelation",
    "Whitened",
    "autocorrelations",
    "bartlett_inflation",
    "cross_correlate",
    "deterministic_terms",
    "effective_sizes",
    "fisher_p_values",
    "looks_integrated",
    "prewhiten",
    "winsorize",
]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Whitened:
    """Standardised residuals of an AR(``order``) fit (NaN where undefined); of the first
    differences when the series looked integrated (``differenced``)."""

    residuals: Floats
    order: int
    differenced: bool = False


# Dickey-Fuller t critical value at 5% with constant and trend (MacKinnon 2010, asymptotic).
_DF_CRITICAL = -3.41


def looks_integrated(x: npt.ArrayLike, order: int = 4, *, periods: Sequence[float] = ()) -> bool:
    """Augmented Dickey-Fuller test (constant, trend, seasons): True when a unit root is not rejected at 5%.

    A random walk fitted in levels leaves a slowly wandering remainder in its residuals (the AR
    coefficient is biased below one), and two such remainders correlate spuriously; such series
    are whitened in first differences instead.

    Examples
    --------
    >>> rng = np.random.default_rng(6)
    >>> looks_integrated(np.cumsum(rng.normal(size=500))), looks_integrated(rng.normal(size=500))
    (True, False)
    """
    y = np.asarray(x, dtype=np.float64)
    return _unit_root(_normal_equations(y, deterministic_terms(y.size, periods=periods), order + 1), order + 1)


@dataclass(frozen=True, slots=True)
class _Normal:
    """Normal equations of ``y_t`` on ``[terms, y_{t-1}, ..., y_{t-order}]`` over the complete rows."""

    design: Floats
    base: int
    gram: Floats
    cross: Floats
    total: float
    n: int


def _normal_equations(y: Floats, terms: Floats, order: int) -> _Normal:
    design = np.column_stack([terms, _lag_matrix(y, order)])
    usable = np.isfinite(y) & np.isfinite(design).all(axis=1)
    if usable[order:].all():  # no gaps: a view, no copy of a month of rows
        d, target = design[order:], y[order:]
    else:
        d, target = design[usable], y[usable]
    return _Normal(design, terms.shape[1], d.T @ d, d.T @ target, float(target @ target), int(target.size))


def _solve(normal: _Normal, k: int) -> tuple[Floats, Floats, float]:
    """Coefficients, ``(X'X)^-1`` and residual sum of squares of the first ``k`` regressors."""
    gram = normal.gram[:k, :k]
    scale = np.sqrt(np.diag(gram)).copy()
    scale[scale == 0] = 1.0
    inverse = np.linalg.pinv(gram / np.outer(scale, scale)) / np.outer(scale, scale)  # scaled for conditioning
    coef = inverse @ normal.cross[:k]
    return coef, inverse, max(normal.total - float(coef @ normal.cross[:k]), 0.0)


def _unit_root(levels: _Normal, lags: int) -> bool:
    """ADF from a levels AR(``lags``): the t statistic of (sum of AR coefficients - 1) is ADF's.

    ``dy_t = c + (rho - 1) y_{t-1} + sum_i psi_i dy_{t-i}`` is a reparametrisation of the levels
    regression on ``y_{t-1..t-lags}`` with ``rho`` the sum of its coefficients, so one set of
    normal equations serves both the unit-root test and the order selection.
    """
    k = levels.base + lags
    if levels.n <= k + 10:
        return False
    coef, inverse, rss = _solve(levels, k)
    pick = np.zeros(k)
    pick[levels.base :] = 1.0
    variance = rss / (levels.n - k) * float(pick @ inverse @ pick)
    if not variance > 0:
        return False
    return bool((float(coef[levels.base :].sum()) - 1.0) / np.sqrt(variance) > _DF_CRITICAL)


def _lag_matrix(x: Floats, order: int) -> Floats:
    """``out[t, i] = x[t - i - 1]`` (NaN before the start)."""
    out = np.full((x.size, order), np.nan)
    for i in range(order):
        out[i + 1 :, i] = x[: x.size - i - 1]
    return out


def deterministic_terms(size: int, *, trend: bool = True, periods: Sequence[float] = (), harmonics: int = 3) -> Floats:
    """Intercept, optional linear trend, and sine/cosine pairs for each season: shape (size, k).

    A period (in cells) is used only when the series spans at least two of them, with
    ``harmonics`` harmonics (fewer when the period is too short to carry them).

    Examples
    --------
    >>> [deterministic_terms(n, periods=[100]).shape for n in (10, 150, 300)]
    [(10, 2), (150, 2), (300, 8)]
    """
    return _terms(size, trend, tuple(float(p) for p in periods), harmonics)


@functools.lru_cache(maxsize=16)
def _terms(size: int, trend: bool, periods: tuple[float, ...], harmonics: int) -> Floats:
    """Cached: every series of a run shares one grid, and sines of a month of minutes are not free."""
    t = np.arange(size, dtype=np.float64)
    columns = [np.ones(size)] + ([np.linspace(-1.0, 1.0, size)] if trend else [])
    for period in periods:
        if size < 2 * period:
            continue
        for h in range(1, min(harmonics, int(period // 2)) + 1):
            angle = 2 * np.pi * h * t / period
            columns.extend([np.sin(angle), np.cos(angle)])
    terms = np.column_stack(columns)
    terms.flags.writeable = False  # shared between callers
    return terms


def prewhiten(
    x: npt.ArrayLike,
    max_order: int = 10,
    *,
    trend: bool = True,
    periods: Sequence[float] = (),
    harmonics: int = 3,
    difference: bool | None = None,
) -> Whitened:
    """Residuals of the best autoregression of order ``0..max_order`` (by BIC), standardised.

    Rows where the value or any of its lags is missing get NaN residuals. The order is chosen,
    and fitted, on the rows complete up to ``max_order`` lags; the same normal equations give
    the unit-root test that decides on differencing.

    Parameters
    ----------
    x : array of float
        One series on a grid, NaN for gaps.
    max_order : int, default 10
        Highest order tried (>= 0). Larger: removes longer memory, costs a few observations.
    trend : bool, default True
        Include a linear trend regressor (so a trend is not read as a unit root).
    periods : sequence of float, default ()
        Seasons in cells (e.g. a day: 1440 on a 1-minute grid), removed with Fourier terms.
        Two independent series sharing a season are correlated after an AR fit alone.
    harmonics : int, default 3
        Sine/cosine pairs per season. More: follows sharper daily shapes, costs parameters.
    difference : bool, optional
        Whiten the first differences. Default: when :func:`looks_integrated` says so. A linear
        link ``y[t] = b x[t - d]`` holds between the differences too, at the same lag.

    Examples
    --------
    An AR(1) with coefficient 0.8 leaves white residuals:

    >>> rng = np.random.default_rng(0)
    >>> e = rng.normal(size=2000); x = np.zeros(2000)
    >>> for t in range(1, 2000): x[t] = 0.8 * x[t - 1] + e[t]
    >>> w = prewhiten(x, 5)
    >>> w.order, round(float(np.corrcoef(w.residuals[2:], w.residuals[1:-1])[0, 1]), 2)
    (1, -0.01)
    """
    y = np.asarray(x, dtype=np.float64)
    if max_order < 0:
        raise ValueError(f"max_order must be >= 0; got {max_order}")
    terms = deterministic_terms(y.size, trend=trend, periods=periods, harmonics=harmonics)
    adf_lags = 5  # ADF with 4 lagged differences
    fit = _normal_equations(y, terms, max(max_order, adf_lags))
    differenced = _unit_root(fit, adf_lags) if difference is None else difference
    if differenced:
        y = np.r_[np.nan, np.diff(y)]
        fit = _normal_equations(y, terms, max_order)
    base = fit.base
    if fit.n < base + max_order + 10:
        return Whitened(np.full(y.size, np.nan), 0, differenced)
    best, best_bic, best_coef = 0, np.inf, np.zeros(0)
    for order in range(max_order + 1):
        k = base + order
        coef, _, rss = _solve(fit, k)
        bic = fit.n * np.log(max(rss, 1e-300) / fit.n) + k * np.log(fit.n)
        if bic < best_bic:
            best, best_bic, best_coef = order, bic, coef
    columns = fit.design[:, : base + best]
    rows = np.isfinite(y) & np.isfinite(columns).all(axis=1)
    residuals = np.full(y.size, np.nan)
    residuals[rows] = y[rows] - columns[rows] @ best_coef
    spread, scale = float(np.nanstd(residuals)), float(np.std(y[rows]))
    if not (scale > 0 and spread > 1e-9 * scale):  # constant or perfectly predictable: no information
        return Whitened(np.full(y.size, np.nan), best, differenced)
    return Whitened((residuals - np.nanmean(residuals)) / spread, best, differenced)


def winsorize(x: npt.ArrayLike, limit: float = 4.0) -> Floats:
    """Values clipped to ``median ± limit`` robust standard deviations, then standardised.

    The robust standard deviation is ``1.4826 * MAD`` (the plain one when more than half the
    values are equal). Meant for whitened series before they are correlated: a single huge
    innovation (a level shift, a spike) no longer outweighs the rest, so a link carried by the
    bulk of the cells is still seen and one coincidence of two spikes is not. Clipping each series
    on its own keeps independent series independent, so no test loses its level. NaN stays NaN.

    Examples
    --------
    >>> winsorize([0.0, 1.0, -1.0, 0.5, -0.5, 40.0]).round(2).tolist()
    [-0.42, 0.12, -0.96, -0.15, -0.69, 2.1]
    """
    v = np.asarray(x, dtype=np.float64)
    present = v[np.isfinite(v)]
    if present.size == 0:
        return v.copy()
    centre = float(np.median(present))
    scale = 1.4826 * float(np.median(np.abs(present - centre)))
    if not scale > 0:
        scale = float(np.std(present))
    clipped = np.clip(v, centre - limit * scale, centre + limit * scale)
    spread = float(np.nanstd(clipped))
    if not spread > 0:
        return np.full(v.shape, np.nan)
    return (clipped - np.nanmean(clipped)) / spread


@dataclass(frozen=True, slots=True)
class CrossCorrelation:
    """Correlation of ``a[:, i]`` at ``t`` with ``b[:, j]`` at ``t + lag``: arrays of shape (M, K, lags).

    ``n`` counts the pairwise complete cells, ``effective`` the independent observations they
    amount to (see :func:`cross_correlate`).
    """

    lags: npt.NDArray[np.int64]
    r: Floats
    n: npt.NDArray[np.int64]
    p_value: Floats
    effective: Floats


def autocorrelations(x: npt.ArrayLike, max_lag: int) -> Floats:
    """Lag-1..``max_lag`` autocorrelation of every column (0 where undefined).

    Each column is centred on its overall mean; a lag uses the pairs where both cells are
    present. Meant for variance corrections, where this standard estimator's small bias for
    short series does not matter.

    Examples
    --------
    >>> x = np.c_[np.tile([1.0, -1.0], 50), np.arange(100.0)]
    >>> autocorrelations(x, 2).round(2).tolist()
    [[-1.0, 1.0], [1.0, 1.0]]
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    present = np.isfinite(v)
    filled = np.where(present, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / present.sum(axis=0)
    z = np.where(present, filled - mean, 0.0)
    squares, mask = z * z, present.astype(np.float64)
    out = np.zeros((v.shape[1], max_lag))
    for lag in range(1, min(max_lag, v.shape[0] - 2) + 1):
        products = np.einsum("ij,ij->j", z[:-lag], z[lag:])  # absent cells are 0: only complete pairs add
        head = np.einsum("ij,ij->j", squares[:-lag], mask[lag:])
        tail = np.einsum("ij,ij->j", mask[:-lag], squares[lag:])
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = products / np.sqrt(head * tail)
        out[:, lag - 1] = np.where(np.isfinite(rho), rho, 0.0)
    return out


def cross_correlate(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    max_lag: int,
    *,
    min_overlap: int = 30,
    bartlett_lags: int = 10,
    acf_a: Floats | None = None,
    acf_b: Floats | None = None,
    robust: bool = True,
) -> CrossCorrelation:
    """Pearson correlation of every column of ``a`` with every column of ``b`` at lags ``-max_lag..max_lag``.

    A positive lag means ``a`` leads ``b``. Missing values (NaN) are handled pairwise: each
    correlation uses the cells where both values exist, and pairs with fewer than
    ``min_overlap`` such cells get NaN. The p-value (Fisher's z, two-sided) is meant for
    pre-whitened inputs (see :func:`prewhiten`); on raw autocorrelated series it would be far
    too small. The sample size in Fisher's z is the effective one, ``effective``: the
    self-normalised count ``S_aa S_bb / sum (e_t - mean e)^2`` of the centred products
    ``e_t = (a_t - mean a)(b_{t+lag} - mean b)``, capped at ``n`` [3]_. It is about ``n`` for
    series whose products are alike, and falls to the number of products that carry the sum
    when a few do (step series whose innovations sit at window starts, flags, a KPI's one level
    shift), so that one chance coincidence is not a link. Whatever autocorrelation the whitening
    left is still accounted for: the variance of ``r`` is inflated by Bartlett's factor
    ``1 + 2 sum_j rho_a(j) rho_b(j)`` over ``j = 1..bartlett_lags`` (never below 1) [2]_
    (``acf_a`` / ``acf_b``: the columns' :func:`autocorrelations`, when already known). All
    pairs are computed at once: a few matrix products per lag. With ``robust=False`` the
    effective size is the cell count (one product per lag fewer); :func:`effective_sizes` then
    gives it for the few pair-lags where it matters.

    Examples
    --------
    ``b`` repeats ``a`` three steps later:

    >>> rng = np.random.default_rng(1)
    >>> a = rng.normal(size=(500, 1)); b = np.roll(a, 3, axis=0) + 0.5 * rng.normal(size=(500, 1))
    >>> cc = cross_correlate(a, b, max_lag=5)
    >>> int(cc.lags[np.argmax(cc.r[0, 0])]), round(float(cc.r[0, 0].max()), 2), bool(cc.p_value[0, 0, 8] < 1e-6)
    (3, 0.86, True)

    Two series that are quiet but for one spike each, meeting at lag 2 by chance: a strong
    correlation, but hardly more than one effective observation, so no evidence:

    >>> a, b = 0.1 * rng.normal(size=(500, 1)), 0.1 * rng.normal(size=(500, 1))
    >>> a[100], b[102] = 5.0, 5.0
    >>> cc = cross_correlate(a, b, max_lag=5)
    >>> round(float(cc.r[0, 0, 7]), 2), round(float(cc.effective[0, 0, 7]), 1), bool(cc.p_value[0, 0, 7] > 0.05)
    (0.82, 1.5, True)
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"a and b must be 2-D with the same number of rows; got shapes {x.shape} and {y.shape}")
    if max_lag < 0 or max_lag >= x.shape[0]:
        raise ValueError(f"max_lag must be in [0, {x.shape[0] - 1}]; got {max_lag}")
    mx, my = np.isfinite(x), np.isfinite(y)
    x, y = _centred(x), _centred(y)  # r is unchanged; the products centre near 0
    xz, yz = np.where(mx, x, 0.0), np.where(my, y, 0.0)
    fx, fy = mx.astype(np.float64), my.astype(np.float64)
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    shape = (x.shape[1], y.shape[1], lags.size)
    r = np.full(shape, np.nan)
    n = np.zeros(shape, dtype=np.int64)
    effective = np.full(shape, np.nan)
    rows = x.shape[0]
    # Pre-whitened series miss only their first few cells (the AR lags); past the last gap of
    # any column every pair is complete, and one product per lag is enough (no mask products).
    gaps = np.flatnonzero(~(mx.all(axis=1) & my.all(axis=1)))
    complete_from = int(gaps[-1]) + 1 if gaps.size else 0
    dense = complete_from + max_lag < rows // 2
    if dense:  # running sums: any slice's sum and sum of squares in O(1) per column
        head = complete_from
        cum = {
            name: np.vstack([np.zeros((1, v.shape[1])), np.cumsum(v[head:], axis=0)])
            for name, v in (("x", x), ("xx", x * x), ("y", y), ("yy", y * y))
        }
    for i, lag in enumerate(lags.tolist()):
        if dense:
            sa = slice(head, rows - lag) if lag >= 0 else slice(head - lag, rows)
            sb = slice(head + lag, rows) if lag >= 0 else slice(head, rows + lag)
            xa, yb = x[sa], y[sb]
            a0, a1, b0, b1 = sa.start - head, sa.stop - head, sb.start - head, sb.stop - head
            count = np.full((x.shape[1], y.shape[1]), float(a1 - a0))
            sum_a, sq_a = (cum["x"][a1] - cum["x"][a0])[:, None], (cum["xx"][a1] - cum["xx"][a0])[:, None]
            sum_b, sq_b = (cum["y"][b1] - cum["y"][b0])[None, :], (cum["yy"][b1] - cum["yy"][b0])[None, :]
        else:
            sa = slice(0, rows - lag) if lag >= 0 else slice(-lag, rows)
            sb = slice(lag, rows) if lag >= 0 else slice(0, rows + lag)
            xa, ma, yb, mb = xz[sa], fx[sa], yz[sb], fy[sb]
            count = ma.T @ mb
            sum_a, sum_b = xa.T @ mb, ma.T @ yb
            sq_a, sq_b = (xa * xa).T @ mb, ma.T @ (yb * yb)
        fourth = xz[sa].T ** 2 @ yz[sb] ** 2 if robust else None
        corr, neff = _pearson(count, sum_a, sum_b, sq_a, sq_b, xa.T @ yb, fourth, min_overlap)
        r[:, :, i] = corr
        n[:, :, i] = np.rint(count).astype(np.int64)
        effective[:, :, i] = neff
    rho_a = autocorrelations(x, bartlett_lags) if acf_a is None else acf_a
    rho_b = autocorrelations(y, bartlett_lags) if acf_b is None else acf_b
    p_value = fisher_p_values(r, effective, bartlett_inflation(rho_a, rho_b)[:, :, None])
    return CrossCorrelation(lags, r, n, p_value, effective)


def _pearson(
    count: Floats, sum_a: Floats, sum_b: Floats, sq_a: Floats, sq_b: Floats, cross: Floats, fourth: Floats | None,
    min_overlap: int,
) -> tuple[Floats, Floats]:  # fmt: skip
    """Correlation and effective sample size (NaN without enough cells) from the sums over complete pairs.

    ``fourth`` is the sum of ``a^2 b^2`` (columns centred near 0); without it the effective size
    is the count.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = cross - sum_a * sum_b / count
        var_a = sq_a - sum_a * sum_a / count
        var_b = sq_b - sum_b * sum_b / count
        corr = cov / np.sqrt(var_a * var_b)
        if fourth is None:
            neff = count
        else:
            spread = fourth - cov * cov / count  # sum of squared centred products, about their mean
            neff = np.where(spread > 0, np.minimum(var_a * var_b / spread, count), count)
    enough = (count >= max(min_overlap, 4)) & (var_a > 0) & (var_b > 0)
    return np.where(enough, np.clip(corr, -1.0, 1.0), np.nan), np.where(enough, neff, np.nan)


def bartlett_inflation(acf_a: Floats, acf_b: Floats) -> Floats:
    """Bartlett's variance factor ``1 + 2 sum_j rho_a(j) rho_b(j)`` (at least 1) for every pair of columns.

    Examples
    --------
    >>> bartlett_inflation(np.array([[0.5, 0.25]]), np.array([[0.5, 0.25], [0.0, 0.0]])).tolist()
    [[1.625, 1.0]]
    """
    return np.maximum(1.0 + 2.0 * acf_a @ acf_b.T, 1.0)


def fisher_p_values(r: npt.ArrayLike, effective: npt.ArrayLike, inflation: npt.ArrayLike = 1.0) -> Floats:
    """Two-sided p-values of correlations by Fisher's z on ``effective - 3`` observations (none under 4).

    Examples
    --------
    >>> fisher_p_values([0.3, 0.3, 0.3], [100.0, 20.0, 3.0]).round(4).tolist()
    [0.0023, 0.2019, 1.0]
    """
    rv, nv = np.asarray(r, dtype=np.float64), np.asarray(effective, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.arctanh(np.clip(rv, -0.999999, 0.999999)) * np.sqrt(np.maximum(nv - 3, 0) / np.asarray(inflation))
    return np.asarray(2.0 * stats.norm.sf(np.abs(z)), dtype=np.float64)


def effective_sizes(
    a: npt.ArrayLike, b: npt.ArrayLike, columns_a: npt.ArrayLike, columns_b: npt.ArrayLike, lags: npt.ArrayLike,
    *, min_overlap: int = 30,
) -> Floats:  # fmt: skip
    """:func:`cross_correlate`'s effective sample size for chosen (column of ``a``, column of ``b``, lag) triples.

    The same number the full computation gives, at a cost proportional to the triples asked for:
    for when only a few pair-lags can still matter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 1))
    >>> full = cross_correlate(a, b, 3)
    >>> few = effective_sizes(a, b, [1, 0], [0, 0], [2, -3])
    >>> bool(np.allclose(few, [full.effective[1, 0, 5], full.effective[0, 0, 0]]))
    True
    """
    x, y = _centred(a), _centred(b)
    mx, my = np.isfinite(x), np.isfinite(y)
    xz, yz = np.where(mx, x, 0.0), np.where(my, y, 0.0)
    ia, ib, lv = (np.atleast_1d(np.asarray(v, dtype=np.int64)) for v in (columns_a, columns_b, lags))
    out = np.full(ia.shape, np.nan)
    rows = x.shape[0]
    for lag in np.unique(lv).tolist():
        pick = np.flatnonzero(lv == lag)
        sa = slice(0, rows - lag) if lag >= 0 else slice(-lag, rows)
        sb = slice(lag, rows) if lag >= 0 else slice(0, rows + lag)
        both = mx[sa][:, ia[pick]] & my[sb][:, ib[pick]]
        xa, yb = np.where(both, xz[sa][:, ia[pick]], 0.0), np.where(both, yz[sb][:, ib[pick]], 0.0)
        count, sum_a, sum_b = both.sum(axis=0).astype(np.float64), xa.sum(axis=0), yb.sum(axis=0)
        sq_a, sq_b, cross = (xa * xa).sum(axis=0), (yb * yb).sum(axis=0), (xa * yb).sum(axis=0)
        _, neff = _pearson(count, sum_a, sum_b, sq_a, sq_b, cross, (xa * xa * yb * yb).sum(axis=0), min_overlap)
        out[pick] = neff
    return out


def _centred(v: npt.ArrayLike) -> Floats:
    """Columns minus their mean over present cells (an all-gap column stays all NaN)."""
    x = np.asarray(v, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(x - np.nanmean(x, axis=0), dtype=np.float64)
