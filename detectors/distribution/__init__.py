"""Two-sample distribution tests for feature drift.

Each test compares a current window against a reference window and returns
a :class:`DriftTestResult`. :func:`select_test` picks a default test for a
feature; :func:`control_family` adjusts the verdicts of many p-value tests
run together. Pure numpy/scipy, no I/O.
"""

from detectors.distribution._result import DriftTestResult
from detectors.distribution.chisquare import chi_square
from detectors.distribution.family import control_family
from detectors.distribution.jensenshannon import jensen_shannon
from detectors.distribution.ks import ks_test
from detectors.distribution.psi import psi
from detectors.distribution.selection import select_test

__all__ = [
    "DriftTestResult",
    "chi_square",
    "control_family",
    "jensen_shannon",
    "ks_test",
    "psi",
    "select_test",
]
