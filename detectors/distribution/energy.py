"""Energy distance with a permutation test (multivariate, no tuning parameter)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.distribution._permutation import (
    as_generator,
    permutation_p_value,
    permutation_test,
    pool_and_standardise,
    squared_distances,
)
from detectors.distribution._result import DriftTestResult
from detectors.distribution._validation import as_rows, check_fraction, check_min_int, check_non_negative

__all__ = ["energy_test"]


def energy_test(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.002,
    n_permutations: int = 500,
    max_samples: int = 1000,
    rng: np.random.Generator | int | None = None,
) -> DriftTestResult:
    """Test whether two multivariate samples differ, by energy distance.

    ``E = 2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (Euclidean norms) is zero only
    for identical distributions, so like :func:`mmd_test` it sees changes in
    the joint distribution that per-feature tests miss.

    Why a second multivariate test, and why this one. :func:`mmd_test`
    needs a kernel bandwidth; the median heuristic fixes one length scale,
    and changes at other scales (a few far outliers, structure much finer
    than the typical distance between rows) lose power. Energy distance is
    the same kind of statistic with the kernel ``-|x - y|``, which has no
    scale at all: nothing to tune, and its effect size, the coefficient
    ``H = E / (2 E|X - Y|)`` in ``[0, 1]``, is invariant to rescaling the
    data. It is also exactly valid (a permutation test) and as fast as MMD
    here, sharing its vectorised permutation engine. A domain classifier
    was the other candidate: it scales linearly in rows and names the
    drifting features, but a linear one is blind to a correlation flip with
    unchanged marginals unless pairwise products are added, and the p-value
    of a cross-validated AUC is only approximate.

    Procedure as in :func:`mmd_test`: drop rows with NaN, subsample each
    side to ``max_samples`` rows, scale every feature by the reference's
    mean and standard deviation, then compare the unbiased (U-statistic)
    estimate of ``E`` with its value under random relabellings.

    Parameters
    ----------
    reference, current : array_like
        2-D arrays, rows by features (a 1-D array is one feature), the same
        number of columns, each with at least 2 complete rows.
    alpha : float, default 0.05
        Significance level, in (0, 1). Smaller: fewer false alarms.
    min_effect : float, default 0.002
        Floor on the energy coefficient ``H`` (clipped at 0), >= 0. ``H``
        grows like the square of a shift: about ``0.2 t^2`` to ``0.25 t^2`` for ``t``
        standard deviations in every feature, so 0.002 means about 0.1 std
        in every feature, as for :func:`mmd_test`; sampling noise alone
        gives at most about 0.002 at 2 x 1000 rows (99.9th percentile, two
        or more features). A correlation flip of two features gives 0.009
        among 5 features, 0.001 among 20. Larger: only bigger shifts alarm.
    n_permutations : int, default 500
        Random relabellings, >= 1; the p-value is at least
        ``1 / (n_permutations + 1)``. Larger: finer p-values, slower.
    max_samples : int, default 1000
        Rows kept per side, >= 2. Larger: more power, quadratic cost.
    rng : numpy.random.Generator or int, optional
        Random source (or seed) for subsampling and permutations.

    Returns
    -------
    DriftTestResult
        ``test="energy"``; ``statistic`` is the U-statistic estimate of
        ``E`` (in reference-standard-deviation units), ``effect_size`` is
        ``H``; ``n_reference``/``n_current`` count the rows used. Drift is
        flagged when ``p_value < alpha`` and ``H >= min_effect``.

    Raises
    ------
    ValueError
        If an input is not 1-D or 2-D, has fewer than 2 complete rows or an
        infinite value, the feature counts differ, or a parameter is out of
        range.

    Examples
    --------
    The correlation of two standard normal features flips sign:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> up = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 1000)
    >>> down = rng.multivariate_normal([0, 0], [[1, -0.8], [-0.8, 1]], 1000)
    >>> r = energy_test(up, down, rng=1)
    >>> round(r.effect_size, 4), round(r.p_value, 4), r.drift_detected
    (0.0506, 0.002, True)
    >>> energy_test(up, rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 1000), rng=1).drift_detected
    False

    References
    ----------
    .. [1] Székely, G. J. and Rizzo, M. L. (2004). Testing for equal
       distributions in high dimension. InterStat 5.
    .. [2] Székely, G. J. and Rizzo, M. L. (2013). Energy statistics: a
       class of statistics based on distances. J. Statist. Plann. Inference
       143(8), 1249-1272.
    .. [3] Sejdinovic, D., Sriperumbudur, B., Gretton, A. and Fukumizu, K.
       (2013). Equivalence of distance-based and RKHS-based statistics in
       hypothesis testing. Ann. Statist. 41(5), 2263-2291.
    """
    ref = as_rows("reference", reference)
    cur = as_rows("current", current)
    if ref.shape[1] != cur.shape[1]:
        raise ValueError(f"current must have as many features as reference ({ref.shape[1]}); got {cur.shape[1]}")
    check_fraction("alpha", alpha)
    check_non_negative("min_effect", min_effect)
    check_min_int("n_permutations", n_permutations, 1)
    check_min_int("max_samples", max_samples, 2)

    generator = as_generator(rng)
    pooled, n = pool_and_standardise(ref, cur, max_samples, generator)
    distances = squared_distances(pooled)
    np.sqrt(distances, out=distances)
    # The engine's statistic with K = |x - y| is mean_XX + mean_YY - 2 mean_XY = -E.
    negated, permuted, mean_xy = permutation_test(distances, n, n_permutations, generator)
    energy = -negated
    p_value = permutation_p_value(energy, -permuted)
    coefficient = max(energy, 0.0) / (2.0 * mean_xy) if mean_xy > 0.0 else 0.0
    return DriftTestResult(
        test="energy",
        statistic=energy,
        p_value=p_value,
        effect_size=min(coefficient, 1.0),
        threshold=alpha,
        drift_detected=bool(p_value < alpha and coefficient >= min_effect),
        n_reference=n,
        n_current=int(pooled.shape[0] - n),
        min_effect=min_effect,
    )
