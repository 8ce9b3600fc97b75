"""Multiple-testing control across the per-feature tests of one check."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from detectors.distribution._result import DriftTestResult
from detectors.distribution._validation import check_fraction

__all__ = ["control_family"]

_METHODS = ("bonferroni", "bh", "none")


def _bh_cutoff(p_values: Sequence[float], alpha: float) -> float:
    """Benjamini-Hochberg step-up: the per-test cut-off ``k * alpha / m``.

    ``k`` is the largest rank with ``p_(k) < k * alpha / m``; then exactly
    the p-values below ``k * alpha / m`` are rejected. With no such rank the
    first step's cut-off ``alpha / m`` is returned, which no p-value beats.
    """
    m = len(p_values)
    k = 0
    for rank, p in enumerate(sorted(p_values), start=1):
        if p < rank * alpha / m:
            k = rank
    return max(k, 1) * alpha / m


def control_family(
    results: Sequence[DriftTestResult],
    *,
    method: Literal["bonferroni", "bh", "none"] = "bh",
    alpha: float = 0.05,
) -> list[DriftTestResult]:
    """Re-decide the p-value tests of a family of results at a joint level.

    Checking 50 features at ``alpha=0.05`` each raises, on stationary data,
    about 2.5 false alarms per check. Use this on all results of one check
    (one model, one window) before alerting. Bonferroni bounds the chance of
    *any* false alarm (family-wise error) and suits paging on few features;
    Benjamini-Hochberg bounds the expected *share* of false alarms among the
    alarms (false discovery rate) and keeps far more power with many
    features. ``"none"`` applies ``alpha`` per test unadjusted.

    Only p-value tests (``p_value`` not ``None``) are re-decided; ``m`` is
    their number. Each keeps its effect floor: drift means ``p_value`` below
    the family cut-off **and** ``effect_size >= min_effect``. The floor is
    applied after the adjustment, so BH's ranking uses every p-value.
    Distance tests are returned unchanged. Comparisons are strict
    (``p < cut-off``), as in the single tests.

    Parameters
    ----------
    results : sequence of DriftTestResult
        One result per feature; order is kept.
    method : {"bh", "bonferroni", "none"}, default "bh"
        ``"bonferroni"``: cut-off ``alpha / m``. ``"bh"``: step-up cut-off
        ``k * alpha / m`` (see Notes). ``"none"``: cut-off ``alpha``.
    alpha : float, default 0.05
        Family level, in (0, 1): the FWER bound (Bonferroni) or FDR bound
        (BH). Smaller: fewer false alarms, less power.

    Returns
    -------
    list of DriftTestResult
        New results (via :func:`dataclasses.replace`); for p-value tests
        ``threshold`` is the effective per-test cut-off and
        ``drift_detected`` the adjusted verdict.

    Raises
    ------
    ValueError
        If ``method`` is unknown or ``alpha`` is not in (0, 1).

    Notes
    -----
    BH sorts the ``m`` p-values, finds the largest rank ``k`` with
    ``p_(k) < k * alpha / m`` and rejects ranks ``1..k``, i.e. every
    ``p < k * alpha / m``, even those that failed their own rank's step.
    It controls the FDR under independence or positive dependence [2]_.

    Examples
    --------
    Six features, the last two shifted. Unadjusted, one stationary feature
    raises a false alarm; BH drops it and keeps both shifts; Bonferroni is
    stricter still and keeps only the larger shift.

    >>> import numpy as np
    >>> from detectors.distribution import ks_test
    >>> rng = np.random.default_rng(33)
    >>> shifts = [0.0, 0.0, 0.0, 0.0, 0.25, 0.4]
    >>> family = [ks_test(rng.normal(0, 1, 300), rng.normal(s, 1, 300))
    ...           for s in shifts]
    >>> [r.drift_detected for r in control_family(family, method="none")]
    [False, False, False, True, True, True]
    >>> [r.drift_detected for r in control_family(family, method="bh")]
    [False, False, False, False, True, True]
    >>> [r.drift_detected for r in control_family(family, method="bonferroni")]
    [False, False, False, False, False, True]

    References
    ----------
    .. [1] Dunn, O. J. (1961). Multiple comparisons among means. JASA,
       56(293), 52-64.
    .. [2] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false
       discovery rate: a practical and powerful approach to multiple
       testing. JRSS B, 57(1), 289-300.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}")
    check_fraction("alpha", alpha)

    p_values = [r.p_value for r in results if r.p_value is not None]
    m = len(p_values)
    if m == 0:
        return list(results)
    if method == "bonferroni":
        cutoff = alpha / m
    elif method == "bh":
        cutoff = _bh_cutoff(p_values, alpha)
    else:
        cutoff = alpha

    adjusted: list[DriftTestResult] = []
    for r in results:
        if r.p_value is None:
            adjusted.append(r)
            continue
        drift = r.p_value < cutoff and r.effect_size >= r.min_effect
        adjusted.append(dataclasses.replace(r, threshold=cutoff, drift_detected=drift))
    return adjusted
