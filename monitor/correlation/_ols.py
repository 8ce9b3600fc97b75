"""Least squares through the normal equations: the designs here are tall and narrow (k <= ~40).

LAPACK's SVD-based ``lstsq`` costs far more than solving the k x k system for such shapes;
columns are scaled to unit norm first so the Gram matrix stays well conditioned, and a
rank-deficient design falls back to the pseudo-inverse.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def ols(design: Floats, target: Floats) -> tuple[Floats, float]:
    """Coefficients and residual sum of squares of ``target ~ design``."""
    gram = design.T @ design
    scale = np.sqrt(np.diag(gram)).copy()
    scale[scale == 0] = 1.0
    scaled, cross = gram / np.outer(scale, scale), (design.T @ target) / scale
    try:
        coef = np.linalg.solve(scaled, cross) / scale
    except np.linalg.LinAlgError:
        coef = np.linalg.pinv(scaled) @ cross / scale
    residual = target - design @ coef
    return coef, float(residual @ residual)


def gram_inverse(design: Floats) -> Floats:
    """``(X'X)^-1`` (pseudo-inverse when singular), computed on unit-norm columns."""
    scale = np.sqrt((design * design).sum(axis=0))
    scale[scale == 0] = 1.0
    d = design / scale
    inverse: Floats = np.linalg.pinv(d.T @ d) / np.outer(scale, scale)
    return inverse
