"""Choose a default drift test from a feature's kind and the window size.

The rule
--------
=============  ====================  ==================
kind           n_current <= 1000     n_current > 1000
=============  ====================  ==================
numeric        ``"ks"``              ``"psi"``
categorical    ``"chi2"``            ``"jensenshannon"``
=============  ====================  ==================

A numeric feature with at most 5 distinct values (``n_unique <= 5``) is
treated as categorical: KS on a handful of ties says little, while category
proportions say it all.

Beside Evidently
----------------
Evidently's default (``_get_default_stattest``) splits at the same 1000
rows, though it counts *reference* rows where we count current ones (the
current window is what a test's power depends on in streaming use). At or
below 1000 rows it uses KS for numeric and chi-square for categorical
features, a Z-test of proportions for binary ones (we use chi-square, which
for two categories is the same test squared); above 1000 rows, the normed
Wasserstein distance for numeric and Jensen-Shannon for categorical. It also
treats numeric columns with 5 or fewer unique values as categorical.

Why small windows get p-value tests and large ones distances: with a few
hundred rows a p-value separates real change from sampling noise; with tens
of thousands every negligible change is "significant", so a distance with a
fixed threshold is the steadier alarm.

Why PSI rather than Wasserstein for large numeric windows: Wasserstein needs
the raw samples (or a fine quantile sketch) of both windows. PSI on
reference-quantile bins needs only per-bin counts, which are *mergeable*:
counts from many batches, workers or time buckets simply add, so a window of
any length is kept in ``O(bins)`` memory and never re-read.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["select_test"]

_SMALL_WINDOW = 1000  # rows; at or below, use a p-value test
_FEW_VALUES = 5  # distinct values; at or below, a numeric feature is categorical


def select_test(
    kind: Literal["numeric", "categorical"],
    n_current: int,
    *,
    n_unique: int | None = None,
) -> str:
    """Return the default test name for a feature.

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        The feature's type.
    n_current : int
        Rows in the current window, >= 0. At most 1000 selects a p-value
        test (``"ks"``/``"chi2"``), more a distance (``"psi"``/
        ``"jensenshannon"``).
    n_unique : int, optional
        Distinct values seen in the feature, >= 1. When given and at most 5,
        a numeric feature is tested as categorical. Ignored for categorical
        features.

    Returns
    -------
    str
        ``"ks"``, ``"psi"``, ``"chi2"`` or ``"jensenshannon"``.

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
    'psi'
    >>> select_test("numeric", 400, n_unique=3)
    'chi2'
    >>> select_test("categorical", 50_000)
    'jensenshannon'

    References
    ----------
    .. [1] Evidently AI, "Data drift: default detection logic",
       https://docs.evidentlyai.com/
    """
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"kind must be 'numeric' or 'categorical'; got {kind!r}")
    if n_current < 0:
        raise ValueError(f"n_current must be >= 0; got {n_current!r}")
    if n_unique is not None and n_unique < 1:
        raise ValueError(f"n_unique must be >= 1 when given; got {n_unique!r}")

    small = n_current <= _SMALL_WINDOW
    if kind == "numeric" and not (n_unique is not None and n_unique <= _FEW_VALUES):
        return "ks" if small else "psi"
    return "chi2" if small else "jensenshannon"
