"""Granger-style predictive evidence: does the model series improve the KPI's forecast?

The question is narrower than "does X cause Y": it is whether past values of ``x`` reduce the
error of a linear forecast of ``y`` that already uses ``y``'s own past [1]_. Asked both ways it
separates "model moves first" from "KPI moves first" (a reverse-causality warning: the KPI, or
something behind it, may be driving the model series, e.g. traffic mix changing both).

References
----------
.. [1] C. W. J. Granger, "Investigating causal relations by econometric models and
   cross-spectral methods", Econometrica 37(3), 1969.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from monitor.correlation._ols import ols
from monitor.correlation.lagged import deterministic_terms

__all__ = ["GrangerResult", "granger_test"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GrangerResult:
    """F statistic and p-value of adding ``x``'s lags to ``y``'s own autoregression."""

    f: float
    p_value: float
    df_num: int
    df_den: int
    n: int


def _shift(x: Floats, lag: int) -> Floats:
    out = np.full(x.size, np.nan)
    if lag < x.size:
        out[lag:] = x[: x.size - lag]
    return out


def granger_test(
    y: npt.ArrayLike,
    x: npt.ArrayLike,
    own_lags: Sequence[int],
    cross_lags: Sequence[int],
    *,
    trend: bool = False,
    periods: Sequence[float] = (),
) -> GrangerResult:
    """F-test of ``y_t ~ 1 + y_{t-l} (l in own_lags)`` against the same plus ``x_{t-l} (l in cross_lags)``.

    Both regressions use the same rows: those where ``y_t`` and every lag are present (so gaps
    are skipped, never filled). With ``own_lags = cross_lags = 1..p`` and no trend this is
    statsmodels' ``grangercausalitytests(..., maxlag=p)`` ``ssr_ftest``. Choose ``cross_lags``
    around a lag found by cross-correlation to test a specific delay.

    Parameters
    ----------
    y, x : array of float
        Series on one grid (NaN for gaps).
    own_lags : sequence of int
        Lags (>= 1) of ``y`` in both models. More: a stricter test (``y``'s own memory explained first).
    cross_lags : sequence of int
        Lags (>= 1) of ``x`` added in the unrestricted model (at least one).
    trend : bool, default False
        Add a linear trend to both models (guards against trends read as prediction).
    periods : sequence of float, default ()
        Seasons in cells, as Fourier terms in both models (a shared season is not prediction).

    Examples
    --------
    ``y`` follows ``x`` two steps later; ``x`` does not follow ``y``:

    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=400); y = 0.6 * np.r_[0.0, 0.0, x[:-2]] + rng.normal(size=400)
    >>> forward = granger_test(y, x, [1, 2], [1, 2]); reverse = granger_test(x, y, [1, 2], [1, 2])
    >>> forward.p_value < 1e-10, reverse.p_value > 0.05, (forward.df_num, forward.df_den)
    (True, True, (2, 393))
    """
    yv = np.asarray(y, dtype=np.float64)
    xv = np.asarray(x, dtype=np.float64)
    if yv.shape != xv.shape or yv.ndim != 1:
        raise ValueError(f"y and x must be 1-D of equal length; got shapes {yv.shape} and {xv.shape}")
    if not cross_lags or min(cross_lags) < 1 or (own_lags and min(own_lags) < 1):
        raise ValueError(f"lags must be >= 1 and cross_lags non-empty; got own {list(own_lags)}, cross {list(cross_lags)}")
    base = deterministic_terms(yv.size, trend=trend, periods=periods)
    restricted = np.column_stack([base] + [_shift(yv, lag) for lag in own_lags])
    full = np.column_stack([restricted] + [_shift(xv, lag) for lag in cross_lags])
    rows = np.isfinite(yv) & np.isfinite(full).all(axis=1)
    n, k = int(rows.sum()), full.shape[1]
    q = len(cross_lags)
    if n <= k + 1:
        return GrangerResult(float("nan"), float("nan"), q, max(n - k, 0), n)
    target = yv[rows]
    rss_r = ols(restricted[rows], target)[1]
    rss_u = ols(full[rows], target)[1]
    df_den = n - k
    if rss_u <= 0:
        return GrangerResult(float("inf"), 0.0, q, df_den, n)
    f = max(rss_r - rss_u, 0.0) / q / (rss_u / df_den)
    return GrangerResult(f, float(stats.f.sf(f, q, df_den)), q, df_den, n)
