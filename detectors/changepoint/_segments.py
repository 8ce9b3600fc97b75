"""Vectorised segment models for Bayesian online change-point detection (private).

Every hypothesis "the current segment started at s and follows model m" carries a conjugate
posterior, and all of them are advanced at once as numpy arrays of the same shape.

The model of a segment is a local linear trend with an unknown noise variance :math:`\\sigma^2`:

.. math::

    x_t = \\ell_t + \\varepsilon_t, \\qquad \\ell_{t+1} = \\ell_t + b_t, \\qquad
    b_{t+1} = b_t + \\eta_t, \\qquad \\varepsilon_t \\sim N(0, \\sigma^2), \\quad
    \\eta_t \\sim N(0, q \\sigma^2),

with a Normal prior on (level, slope) whose covariance is a multiple of :math:`\\sigma^2` and an
inverse-gamma prior on :math:`\\sigma^2`. Because every covariance is proportional to
:math:`\\sigma^2`, the Kalman filter runs on the unscaled covariance ``V`` and the posterior
stays Normal-inverse-gamma: the one-step predictive is a Student-t with ``2 * shape`` degrees of
freedom, location ``level + slope`` and squared scale ``rate / shape * (1 + V_11)`` (West &
Harrison, 1997, section 4.6). A level-only segment is the same model with slope and ``q`` zero.

Values that a hypothesis finds surprising can be explained as outliers: its predictive is a
mixture of the Student-t above and, with a small probability, the same Student-t ten times wider;
the value is then learnt only with the posterior probability that it was regular (a tempered
update, :func:`observe`), so one spike neither ends a segment nor corrupts its estimates.

The updates use the prediction-error form (``rate += e^2 / (2 (1 + V_11))``) rather than sums of
squares, which would cancel catastrophically on series such as populations (values near 1e8,
noise near 1e4).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

__all__ = ["OUTLIER_WIDTH", "observe", "predict", "predictive_logpdf", "robust_logpdf", "robust_scale", "student_t_logpdf"]

Array = npt.NDArray[np.float64]

_MAD_TO_SD = 1.4826  # the median absolute deviation of a normal sample is 0.6745 sd
#: How much wider than a hypothesis' predictive the outlier component is (10: a 5-sd surprise
#: under the predictive is a half-sd one under the outlier component).
OUTLIER_WIDTH = 10.0
_TINY_WEIGHT = 1e-300


def student_t_logpdf(x: float, loc: Array, scale2: Array, df: Array) -> Array:
    """Log density of a Student-t with location ``loc``, squared scale ``scale2``, ``df`` dof."""
    return _t_kernel(x, loc, scale2, df, _t_constant(df))


def _t_constant(df: Array) -> Array:
    half = 0.5 * (df + 1.0)
    return gammaln(half) - gammaln(0.5 * df) - 0.5 * np.log(np.pi * df)


def _t_kernel(x: float, loc: Array, scale2: Array, df: Array, constant: Array) -> Array:
    return constant - 0.5 * np.log(scale2) - 0.5 * (df + 1.0) * np.log1p((x - loc) ** 2 / (df * scale2))


def _median(values: Array) -> float:
    """Median of a short 1-D array (np.median's overhead dominates at this size)."""
    ordered = np.sort(values)
    return 0.5 * float(ordered[(ordered.size - 1) // 2] + ordered[ordered.size // 2])


def robust_scale(values: Array) -> float:
    """Noise standard deviation of a short stretch of a series, robust to steps and outliers.

    The scale of the first differences around their median, divided by sqrt(2): differencing
    removes a level and a trend, the median ignores the occasional step or spike inside the
    stretch. Falls back to the plain spread of the differences when most of them are equal
    (a quantised or mostly flat series); 0 when the stretch has no spread at all (or fewer
    than two finite values), which the caller must handle.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = 50.0 + 0.5 * np.arange(200) + rng.normal(0, 2.0, 200)  # a trend: sd 2 around it
    >>> x[100:] += 40.0  # and a step, which the differences see as a single outlier
    >>> round(robust_scale(x), 2)
    1.97
    >>> robust_scale(np.array([3.0, 3.0, np.nan, 3.0]))
    0.0
    """
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return 0.0
    diffs = np.diff(finite)
    scale = _MAD_TO_SD * _median(np.abs(diffs - _median(diffs))) / math.sqrt(2.0)
    if scale <= 0.0:
        scale = float(np.std(diffs)) / math.sqrt(2.0)
    return float(scale)


def predict(level: Array, slope: Array, cov: Array, slope_drift: Array) -> tuple[Array, Array]:
    """Advance every hypothesis one step in time; returns the new level and covariance.

    ``cov`` holds ``(V_11, V_12, V_22)`` on its last axis; ``slope_drift`` broadcasts against
    ``level`` (one value per model).
    """
    v11, v12, v22 = cov[..., 0], cov[..., 1], cov[..., 2]
    new = np.stack([v11 + 2.0 * v12 + v22, v12 + v22, v22 + slope_drift], axis=-1)
    return level + slope, new


def predictive_logpdf(x: float, level: Array, cov: Array, shape: Array, rate: Array) -> Array:
    """Log one-step predictive density of ``x`` under every hypothesis (after :func:`predict`)."""
    return student_t_logpdf(x, level, rate / shape * (1.0 + cov[..., 0]), 2.0 * shape)


def robust_logpdf(x: float, level: Array, cov: Array, shape: Array, rate: Array, outlier_prob: float) -> tuple[Array, Array]:
    """Log predictive density of ``x`` allowing for outliers, and the weight to learn ``x`` with.

    The predictive is ``(1 - p) * t + p * t_wide``, with ``t_wide`` the same Student-t
    :data:`OUTLIER_WIDTH` times wider; the weight is the posterior probability of ``t``.
    """
    scale2, df = rate / shape * (1.0 + cov[..., 0]), 2.0 * shape
    constant = _t_constant(df)
    regular = math.log1p(-outlier_prob) + _t_kernel(x, level, scale2, df, constant)
    if outlier_prob == 0.0:
        return regular, np.ones_like(regular)
    wide = math.log(outlier_prob) + _t_kernel(x, level, OUTLIER_WIDTH**2 * scale2, df, constant)
    total = np.logaddexp(regular, wide)
    # A weight of exactly 0 would divide by zero in observe(); the floor learns nothing either.
    return total, np.maximum(np.exp(regular - total), _TINY_WEIGHT)


def observe(
    x: float, level: Array, slope: Array, cov: Array, shape: Array, rate: Array, weight: Array
) -> tuple[Array, Array, Array, Array, Array]:
    """Condition every hypothesis on ``x`` learnt with ``weight`` in (0, 1] (Kalman update).

    A weight below 1 tempers the likelihood (raises it to that power): the value counts as
    ``weight`` of an observation, through a noise variance divided by ``weight`` and half a
    degree of freedom times ``weight``. Weight 1 is the exact conjugate update.
    """
    v11, v12, v22 = cov[..., 0], cov[..., 1], cov[..., 2]
    denominator = 1.0 / weight + v11
    error = x - level
    gain_level, gain_slope = v11 / denominator, v12 / denominator
    new_cov = np.stack([v11 - v11 * gain_level, v12 - v12 * gain_level, v22 - v12 * gain_slope], axis=-1)
    return (
        level + gain_level * error,
        slope + gain_slope * error,
        new_cov,
        shape + 0.5 * weight,
        rate + 0.5 * error * error / denominator,
    )
