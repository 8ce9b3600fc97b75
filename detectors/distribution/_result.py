"""The typed result shared by every two-sample distribution test."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["DriftTestResult"]


@dataclass(frozen=True, slots=True)
class DriftTestResult:
    """Outcome of comparing a current window against a reference window.

    Tests come in two kinds. *p-value tests* (``"ks"``, ``"ks_binned"``,
    ``"anderson"``, ``"cramervonmises"``, ``"chi2"``, ``"z"``, ``"mmd"``,
    ``"energy"``) flag drift when ``p_value < threshold`` **and**
    ``effect_size >= min_effect``; ``threshold`` is the significance level,
    possibly adjusted for multiple testing by :func:`control_family`.
    *Distance tests* (``"wasserstein"``, ``"wasserstein_binned"``,
    ``"psi"``, ``"jensenshannon"``, ``"hellinger"``) have ``p_value=None``
    and flag drift when ``statistic >= threshold``.

    Attributes
    ----------
    test : str
        The test's name, one of those listed above.
    statistic : float
        The test statistic (KS ``D``, PSI, chi-square, JS distance, ...).
    p_value : float or None
        ``None`` for distance tests.
    effect_size : float
        A sample-size-free measure of how far apart the windows are, e.g.
        KS ``D``, Cohen's ``w`` for chi-square, Cohen's ``h`` for the Z-test,
        the distance itself for distance tests. Each test documents its own.
    threshold : float
        Significance level for p-value tests (the effective per-test
        cut-off after family control); distance threshold otherwise.
    drift_detected : bool
        The verdict.
    n_reference, n_current : int
        Observations (or total counts) in each window.
    min_effect : float
        Effect-size floor applied to p-value tests; ``0.0`` for distance
        tests.
    approximation_error : float
        For tests on binned state, the most by which ``statistic`` can
        differ from the same statistic on the raw values that were binned
        (each such test states the direction); ``0.0`` for exact tests.

    Examples
    --------
    >>> r = DriftTestResult("psi", 0.25, None, 0.25, 0.2, True, 1000, 500)
    >>> r.to_dict()["drift_detected"]
    True
    """

    test: str
    statistic: float
    p_value: float | None
    effect_size: float
    threshold: float
    drift_detected: bool
    n_reference: int
    n_current: int
    min_effect: float = 0.0
    approximation_error: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a plain ``dict`` (JSON-serialisable).

        Examples
        --------
        >>> r = DriftTestResult("ks", 0.3, 0.001, 0.3, 0.05, True, 200, 200, 0.1)
        >>> sorted(r.to_dict())[:3]
        ['approximation_error', 'drift_detected', 'effect_size']
        """
        return dataclasses.asdict(self)
