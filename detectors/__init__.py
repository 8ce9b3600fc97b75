"""Drift detectors: streaming change detectors and distribution tests."""

from detectors.distribution import (
    DriftTestResult,
    chi_square,
    control_family,
    jensen_shannon,
    ks_test,
    psi,
    select_test,
)

__all__ = [
    "DriftTestResult",
    "chi_square",
    "control_family",
    "jensen_shannon",
    "ks_test",
    "psi",
    "select_test",
]
