"""Vectorised permutation tests for kernel two-sample statistics (private).

Both multivariate tests (MMD, energy distance) are the same U-statistic of a
symmetric pairwise matrix ``K`` over the pooled sample: with rows split into
a group ``X`` of ``n`` and ``Y`` of ``m``,

    T = mean_{i != j in X} K_ij + mean_{i != j in Y} K_ij - 2 mean_{X x Y} K_ij.

With ``K``'s diagonal zeroed and ``a`` the 0/1 indicator of ``X``, every
block sum follows from two numbers, ``s = a' K a`` and ``t = a' K 1``:
``sum_XX = s``, ``sum_XY = t - s``, ``sum_YY = 1' K 1 - 2 t + s``. So a
batch of ``B`` random relabellings is one matrix product ``A K`` (``B x N``
by ``N x N``) and a row-wise dot, instead of ``B`` Python-level re-sums.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["as_generator", "permutation_p_value", "permutation_test", "pool_and_standardise", "squared_distances"]

FloatArray = npt.NDArray[np.float64]

_BATCH = 128  # relabellings per matrix product: bounds memory at 8 * _BATCH * N bytes


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a Generator from a Generator, a seed or ``None``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def pool_and_standardise(
    reference: FloatArray, current: FloatArray, max_samples: int, rng: np.random.Generator
) -> tuple[FloatArray, int]:
    """Subsample each side to ``max_samples`` rows, scale by the reference, stack reference first.

    Every feature is centred on the reference mean and divided by the
    reference standard deviation (1 where that is 0), so that no feature
    dominates the distances by its units alone.
    """
    if reference.shape[0] > max_samples:
        reference = reference[rng.choice(reference.shape[0], max_samples, replace=False)]
    if current.shape[0] > max_samples:
        current = current[rng.choice(current.shape[0], max_samples, replace=False)]
    centre = reference.mean(axis=0)
    scale = reference.std(axis=0)
    scale = np.where(scale > 0.0, scale, 1.0)
    pooled = (np.concatenate([reference, current]) - centre) / scale
    return pooled, int(reference.shape[0])


def squared_distances(points: FloatArray) -> FloatArray:
    """All pairwise squared Euclidean distances (``N x N``), exact zeros on the diagonal."""
    norms = np.einsum("ij,ij->i", points, points)
    d2 = points @ points.T
    d2 *= -2.0
    d2 += norms[:, None]
    d2 += norms[None, :]
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def permutation_test(
    pairwise: FloatArray, n: int, n_permutations: int, rng: np.random.Generator
) -> tuple[float, FloatArray, float]:
    """Return ``T`` for the split "first ``n`` rows vs the rest", ``T`` for random splits, and the X-Y mean.

    ``pairwise`` is modified: its diagonal is set to zero.
    """
    size = pairwise.shape[0]
    m = size - n
    np.fill_diagonal(pairwise, 0.0)
    row_sums = pairwise.sum(axis=1)
    total = float(row_sums.sum())

    def statistic(s: FloatArray, t: FloatArray) -> FloatArray:
        s_xy, s_yy = t - s, total - 2.0 * t + s
        out: FloatArray = s / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
        return out

    s_obs = float(pairwise[:n, :n].sum())
    t_obs = float(row_sums[:n].sum())
    observed = float(statistic(np.array([s_obs]), np.array([t_obs]))[0])
    mean_xy = (t_obs - s_obs) / (n * m)

    permuted = np.empty(n_permutations)
    base = np.zeros(size)
    base[:n] = 1.0
    for start in range(0, n_permutations, _BATCH):
        stop = min(start + _BATCH, n_permutations)
        labels = rng.permuted(np.broadcast_to(base, (stop - start, size)), axis=1)
        s = np.einsum("bi,bi->b", labels @ pairwise, labels)
        permuted[start:stop] = statistic(s, labels @ row_sums)
    return observed, permuted, mean_xy


def permutation_p_value(observed: float, permuted: FloatArray) -> float:
    """``(1 + #{T_perm >= T_obs}) / (1 + B)``: exact level for any ``B`` (the observed split counts as one).

    The observed value is summed by blocks and the permuted ones by matrix
    products, so equal statistics may differ in the last bits; values within
    a relative 1e-9 of the observed one count as ties (the conservative side).
    """
    scale = max(abs(observed), float(np.max(np.abs(permuted), initial=0.0)))
    return float((1 + np.count_nonzero(permuted >= observed - 1e-9 * scale)) / (1 + permuted.size))
