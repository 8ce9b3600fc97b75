"""Z-test for the difference of two proportions (binary features)."""

from __future__ import annotations

import math

import numpy.typing as npt

from detectors.distribution._result import DriftTestResult
from detectors.distribution._validation import as_counts, check_fraction, check_non_negative

__all__ = ["z_test"]


def z_test(
    reference_counts: npt.ArrayLike,
    current_counts: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.1,
) -> DriftTestResult:
    """Test whether a binary feature's share changed, with the pooled two-proportion Z-test.

    ``z = (q - p) / sqrt(P (1 - P) (1/n_ref + 1/n_cur))`` where ``p`` and
    ``q`` are the shares of the first category in the reference and current
    windows and ``P`` the pooled share; two-sided normal p-value. Prefer it
    for binary features in small windows. Unlike :func:`chi_square`, which
    takes the reference proportions as known, it counts the sampling noise
    of *both* windows, so a small reference does not inflate false alarms
    (``z^2`` is the chi-square statistic of the 2 x 2 homogeneity table).

    Categories empty in both windows are dropped first, so counts aligned on
    a reference's categories (plus an "other" bucket) can be passed as they
    are, as long as at most two categories hold any count.

    Parameters
    ----------
    reference_counts, current_counts : array_like
        1-D non-negative counts over the same categories, in the same order,
        each with a positive total; at most two categories non-empty.
    alpha : float, default 0.05
        Significance level, in (0, 1). Smaller: fewer false alarms.
    min_effect : float, default 0.1
        Floor on Cohen's ``h = |2 asin sqrt(q) - 2 asin sqrt(p)|``, >= 0.
        For small changes ``h`` equals the ``w`` that :func:`chi_square`
        floors at 0.1, so the two tests agree on what a trivial change of a
        binary feature is (e.g. 50% to 52.5% has ``h = 0.05``). Larger:
        only bigger shifts alarm.

    Returns
    -------
    DriftTestResult
        ``test="z"``; ``statistic`` is the signed ``z`` (positive when the
        first category's share grew), ``effect_size`` is ``h``. Drift is
        flagged when ``p_value < alpha`` and ``h >= min_effect``. When the
        pooled share is 0 or 1 (one category only) ``z = 0`` and the p-value
        is 1.

    Raises
    ------
    ValueError
        If counts are invalid or of unequal length, more than two categories
        hold counts, or a parameter is out of range.

    Examples
    --------
    >>> r = z_test([700, 300], [560, 440])
    >>> round(r.statistic, 2), round(r.effect_size, 3), r.drift_detected
    (-6.48, 0.291, True)
    >>> z_test([700, 300], [68, 32]).drift_detected
    False
    >>> z_test([700_000, 300_000], [698_000, 302_000]).drift_detected  # h = 0.004
    False

    References
    ----------
    .. [1] Fleiss, J. L., Levin, B. and Paik, M. C. (2003). Statistical
       Methods for Rates and Proportions, 3rd ed., ch. 3. Wiley.
    .. [2] Cohen, J. (1988). Statistical Power Analysis for the Behavioral
       Sciences, 2nd ed., ch. 6 (the effect size ``h``).
    """
    ref, cur = as_counts(reference_counts, current_counts)
    check_fraction("alpha", alpha)
    check_non_negative("min_effect", min_effect)

    seen = (ref > 0) | (cur > 0)
    if int(seen.sum()) > 2:
        raise ValueError(
            f"current_counts and reference_counts must hold at most 2 non-empty categories for a Z-test; "
            f"got {int(seen.sum())} (use chi_square)"
        )
    ref, cur = ref[seen], cur[seen]
    n_ref, n_cur = float(ref.sum()), float(cur.sum())
    p, q = ref[0] / n_ref, cur[0] / n_cur
    pooled = (ref[0] + cur[0]) / (n_ref + n_cur)
    variance = pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur)
    if variance <= 0.0:
        z, p_value = 0.0, 1.0
    else:
        z = float((q - p) / math.sqrt(variance))
        p_value = math.erfc(abs(z) / math.sqrt(2.0))  # two-sided normal tail, 2 * Phi(-|z|)
    h = abs(2.0 * math.asin(math.sqrt(q)) - 2.0 * math.asin(math.sqrt(p)))
    return DriftTestResult(
        test="z",
        statistic=z,
        p_value=p_value,
        effect_size=float(h),
        threshold=alpha,
        drift_detected=bool(p_value < alpha and h >= min_effect),
        n_reference=round(n_ref),
        n_current=round(n_cur),
        min_effect=min_effect,
    )
