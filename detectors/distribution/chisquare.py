"""Chi-square goodness of fit of current category counts to the reference."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped, unused-ignore]

from detectors.distribution._result import DriftTestResult
from detectors.distribution._validation import (
    as_counts,
    check_fraction,
    check_non_negative,
)

__all__ = ["chi_square"]

# Jeffreys pseudo-count added to every reference category before taking
# proportions. A category unseen in the reference would otherwise have zero
# expected count, and one current observation of it an infinite statistic.
_PSEUDO_COUNT = 0.5


def chi_square(
    reference_counts: npt.ArrayLike,
    current_counts: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.1,
) -> DriftTestResult:
    """Test whether current category counts fit the reference proportions.

    Pearson's goodness of fit: expected counts are the current total times
    the reference proportions; ``k - 1`` degrees of freedom. Prefer it for
    categorical features in small windows (about 1000 rows or fewer), where
    a p-value says whether the change exceeds sampling noise. In large
    windows every change becomes significant; use :func:`jensen_shannon`.
    The chi-square approximation wants expected counts of about 5 or more;
    merge rare categories into an "other" bucket first.

    Smoothing: categories empty in *both* windows are dropped (they carry no
    evidence and would only add degrees of freedom). Every remaining
    reference count gets a pseudo-count of 0.5 before proportions are taken,
    so a category new in the current window has a small, non-zero expected
    count and yields a large but finite statistic.

    Parameters
    ----------
    reference_counts, current_counts : array_like
        1-D non-negative counts over the same categories, in the same order,
        each with a positive total.
    alpha : float, default 0.05
        Significance level, in (0, 1). Smaller: fewer false alarms.
    min_effect : float, default 0.1
        Floor on the effect size ``w = sqrt(chi2 / (n * (k - 1)))`` (Cohen's
        w scaled like Cramér's V; ``n`` is the current total), >= 0. Cohen's
        conventions: 0.1 small, 0.3 medium, 0.5 large. Larger: only bigger
        shifts alarm. ``w`` can exceed 1 when current mass lands in
        categories that were rare in the reference.

    Returns
    -------
    DriftTestResult
        ``test="chi2"``; ``statistic`` is the chi-square value. Drift is
        flagged when ``p_value < alpha`` and ``w >= min_effect``. If fewer
        than two categories hold any count the statistic is 0 and the
        p-value 1.

    Raises
    ------
    ValueError
        If counts are not 1-D, are empty, negative, non-finite, all zero or
        of unequal length, or a parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(11)
    >>> probs = [0.5, 0.3, 0.2]
    >>> ref = np.bincount(rng.choice(3, 800, p=probs), minlength=3)
    >>> same = np.bincount(rng.choice(3, 500, p=probs), minlength=3)
    >>> chi_square(ref, same).drift_detected
    False
    >>> moved = np.bincount(rng.choice(3, 500, p=[0.3, 0.3, 0.4]), minlength=3)
    >>> r = chi_square(ref, moved)
    >>> round(r.effect_size, 3), r.drift_detected
    (0.417, True)

    References
    ----------
    .. [1] Cohen, J. (1988). Statistical Power Analysis for the Behavioral
       Sciences (2nd ed.), ch. 7. Lawrence Erlbaum.
    .. [2] SciPy, ``scipy.stats.chisquare``.
    """
    ref, cur = as_counts(reference_counts, current_counts)
    check_fraction("alpha", alpha)
    check_non_negative("min_effect", min_effect)

    seen = (ref > 0) | (cur > 0)
    ref, cur = ref[seen], cur[seen]
    k = int(ref.size)
    n = float(cur.sum())
    if k < 2:
        chi2, p, w = 0.0, 1.0, 0.0
    else:
        smoothed = ref + _PSEUDO_COUNT
        expected = n * smoothed / smoothed.sum()
        res = stats.chisquare(cur, expected)
        chi2, p = float(res.statistic), float(res.pvalue)
        w = math.sqrt(chi2 / (n * (k - 1)))
    return DriftTestResult(
        test="chi2",
        statistic=chi2,
        p_value=p,
        effect_size=w,
        threshold=alpha,
        drift_detected=bool(p < alpha and w >= min_effect),
        n_reference=round(float(np.sum(ref))),
        n_current=round(n),
        min_effect=min_effect,
    )
