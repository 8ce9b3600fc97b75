"""Choose a default drift test from a feature's kind, cardinality and sample sizes.

The rule
--------
First the cardinality: a numeric feature with at most 5 distinct values
(``n_unique <= 5``) is treated as categorical with ``k = n_unique``
categories, since KS on a handful of heavily tied values says little while
the category shares say it all. Then, with ``n`` the current window's rows
and ``n_e = n n_ref / (n + n_ref)`` the effective size (``n_e = n`` when
the reference size is not given):

============================  ==================================  ===================
feature                       p-value test, with an effect floor  distance
============================  ==================================  ===================
numeric (> 5 values)          ``"ks"`` (``n <= 1000``),           --
                              ``"ks_binned"`` (``n > 1000``)
binary (``k <= 2``)           ``"z"``                             ``"jensenshannon"``
categorical (``k >= 3``)      ``"chi2"``                          ``"jensenshannon"``
============================  ==================================  ===================

A categorical feature gets the distance when ``n > 1000`` **and**
``n_e >= 160 (k - 1)``, else the p-value test. ``k`` unknown counts as 3.

Why. Small windows need a p-value to separate change from sampling noise;
every p-value test here also has an effect-size floor (``min_effect``), so
in large windows, where everything is "significant", only a change of
practical size alarms. A distance with a fixed threshold is the steadier
alarm only once its own sampling noise is well below the threshold: the
Jensen-Shannon distance between two samples of one distribution is about
``sqrt((k - 1) / (8 ln 2 n_e))``, and ``n_e >= 160 (k - 1)`` keeps that
under a third of its 0.1 threshold. Numeric features keep KS at every
size: exact on the raw values while the window's reservoir holds them all,
then on the window's counts over the reference's quantile bins, which
cover the *whole* window in ``O(bins)`` memory and merge across workers;
:func:`ks_binned` states its error bound (the binned ``D`` never exceeds the
exact one, so binning can hide a change but never invent one). KS's floor
``D >= 0.1`` is the same on both sides of 1000 rows.

Beside Evidently
----------------
Evidently's default (``get_default_stattest``): with at most 1000
*reference* rows, KS for numeric features, chi-square for categorical
ones and a Z-test for binary ones (at most 2 values); above, the normed
Wasserstein distance (threshold 0.1) for numeric features and
Jensen-Shannon (0.1) for categorical ones; numeric columns with at most 5
distinct values are categorical. Where this rule differs, and why:

1. **The size that decides is the current window's** (with the reference's
   through ``n_e``), not the reference's alone. A test's noise follows
   ``n_e``, bounded by the smaller side; in monitoring the reference is
   fixed while windows range from a few rows to millions, and counting
   reference rows would give a 50-row window a distance test.
2. **Large numeric windows keep a p-value test (binned KS) instead of the
   normed Wasserstein distance.** The distance's noise between two samples
   of one normal distribution averages ``1.27 / sqrt(n_e)`` standard
   deviations (simulated): with 1001 rows against 1001, 3.8% of
   same-distribution windows reach 0.1, with 1001 against 5000, 0.65%; over
   50 features that is a false alarm in 85% and 28% of checks. A window's bounded
   reservoir (2048 rows) never gets past ``n_e`` of about 1450, where it is
   still 0.03%. Binned KS uses every row of the window, has a p-value for
   :func:`control_family`, and its floor matches small windows'.
   :func:`wasserstein_normed` remains available (e.g. on large batches).
3. **Jensen-Shannon only once its noise is small** (``n_e >= 160 (k - 1)``).
   With Evidently's rule a 51-category feature (50 kept plus "other") at
   1001 current rows against 5000 reference rows has a same-distribution
   JS distance of 0.104 on average: about two windows in three alarm
   (simulated). Chi-square with its floor ``w >= 0.1`` does not.
4. **Every p-value test has an effect-size floor** (Evidently: none). The
   floors agree: KS and binned KS ``D >= 0.1``, Anderson-Darling ``0.17``
   and Cramér-von Mises ``0.075`` are each the value at a normal location
   shift of 0.25 standard deviations; chi-square's ``w`` and the Z-test's
   Cohen's ``h`` share 0.1 (equal for small changes of a binary feature).

Earlier Driftline used PSI above 1000 numeric rows. Its rule-of-thumb
threshold 0.2 depends on the number of bins and amounts to a normal
location shift of about 0.45 standard deviations; it stays available.

Not chosen by default, to pick when the question asks for it:
:func:`anderson_darling` (tails matter), :func:`cramer_von_mises` (spread
or shape changes), :func:`wasserstein_normed` (a distance in standard
deviations, for large raw samples), :func:`hellinger` (an additive metric
between categorical distributions), :func:`psi`, and for several features
at once :func:`mmd_test` and :func:`energy_test` (joint structure).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["select_test"]

_SMALL_WINDOW = 1000  # rows; at or below, always a p-value test
_FEW_VALUES = 5  # distinct values; at or below, a numeric feature is categorical
_BINARY = 2  # distinct values; at or below, a categorical feature is binary
_UNKNOWN_CATEGORIES = 3  # assumed when n_unique is not given
# Effective rows per degree of freedom before Jensen-Shannon's noise,
# sqrt((k - 1) / (8 ln 2 n_e)), is at most a third of its 0.1 threshold.
_ROWS_PER_DOF = 160


def select_test(
    kind: Literal["numeric", "categorical"],
    n_current: int,
    *,
    n_unique: int | None = None,
    n_reference: int | None = None,
) -> str:
    """Return the default test name for a feature (the rule is in the module docstring).

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        The feature's type.
    n_current : int
        Rows in the current window, >= 0. At most 1000 always selects a
        p-value test.
    n_unique : int, optional
        Distinct values of the feature in reference and current together,
        >= 1. At most 5 makes a numeric feature categorical, at most 2 makes
        a feature binary; more categories need more rows before a
        categorical feature gets the Jensen-Shannon distance. ``None``:
        numeric stays numeric, categorical counts as 3 values.
    n_reference : int, optional
        Rows in the reference, >= 1; with it the effective size
        ``n m / (n + m)`` decides between chi-square and Jensen-Shannon,
        without it ``n_current`` does (a reference much larger than the
        window).

    Returns
    -------
    str
        ``"ks"``, ``"ks_binned"``, ``"z"``, ``"chi2"`` or ``"jensenshannon"``:
        the ``test`` name of :func:`ks_test`, :func:`ks_binned`,
        :func:`z_test`, :func:`chi_square` or :func:`jensen_shannon`.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or a count is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> window = rng.normal(size=400)
    >>> select_test("numeric", window.size, n_unique=np.unique(window).size)
    'ks'
    >>> select_test("numeric", 50_000)
    'ks_binned'
    >>> select_test("numeric", 400, n_unique=3)
    'chi2'
    >>> select_test("categorical", 400, n_unique=2)
    'z'
    >>> select_test("categorical", 50_000)
    'jensenshannon'

    Fifty-one categories: 5000 rows are not yet enough for a steady
    distance against a 5000-row reference (``n_e = 2500 < 160 * 50``).

    >>> select_test("categorical", 5000, n_unique=51, n_reference=5000)
    'chi2'
    >>> select_test("categorical", 50_000, n_unique=51, n_reference=50_000)
    'jensenshannon'

    References
    ----------
    .. [1] Evidently AI, "Data drift: default detection logic",
       https://docs.evidentlyai.com/ (``get_default_stattest``).
    """
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"kind must be 'numeric' or 'categorical'; got {kind!r}")
    if n_current < 0:
        raise ValueError(f"n_current must be >= 0; got {n_current!r}")
    if n_unique is not None and n_unique < 1:
        raise ValueError(f"n_unique must be >= 1 when given; got {n_unique!r}")
    if n_reference is not None and n_reference < 1:
        raise ValueError(f"n_reference must be >= 1 when given; got {n_reference!r}")

    small = n_current <= _SMALL_WINDOW
    if kind == "numeric" and not (n_unique is not None and n_unique <= _FEW_VALUES):
        return "ks" if small else "ks_binned"
    k = _UNKNOWN_CATEGORIES if n_unique is None else n_unique
    n_effective = n_current if n_reference is None else n_current * n_reference / (n_current + n_reference)
    if not small and n_effective >= _ROWS_PER_DOF * max(k - 1, 1):
        return "jensenshannon"
    return "z" if k <= _BINARY else "chi2"
