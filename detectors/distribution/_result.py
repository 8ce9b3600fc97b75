"""The typed result shared by every two-sample distribution test."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["DriftTestResult"]


@dataclass(frozen=True, slots=True)
class DriftTestResult:
    """Outcome of comparing a current window against a reference window.

    Tests come in two kinds. *p-value tests* (``"ks"``, ``"chi2"``) flag
    drift when ``p_value < threshold`` **and** ``effect_size >= min_effect``;
    ``threshold`` is the significance level, possibly adjusted for multiple
    testing by :func:`control_family`. *Distance tests* (``"psi"``,
    ``"jensenshannon"``) have ``p_value=None`` and flag drift when
    ``statistic >= threshold``.

    Attributes
    ----------
    test : str
        ``"ks"``, ``"psi"``, ``"chi2"`` or ``"jensenshannon"``.
    statistic : float
        The test statistic (KS ``D``, PSI, chi-square, JS distance).
    p_value : float or None
        ``None`` for distance tests.
    effect_size : float
        A sample-size-free measure of how far apart the windows are:
        KS ``D``; the PSI value; Cramér's-V-style ``w`` for chi-square;
        the base-2 Jensen-Shannon distance.
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

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a plain ``dict`` (JSON-serialisable).

        Examples
        --------
        >>> r = DriftTestResult("ks", 0.3, 0.001, 0.3, 0.05, True, 200, 200, 0.1)
        >>> sorted(r.to_dict())[:3]
        ['drift_detected', 'effect_size', 'min_effect']
        """
        return dataclasses.asdict(self)
