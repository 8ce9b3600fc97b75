"""Two-sample distribution tests for feature drift.

Each test compares a current window against a reference window and returns
a :class:`DriftTestResult`: on raw samples (``ks_test``, ``anderson_darling``,
``cramer_von_mises``, ``wasserstein_normed``), on counts over shared bins or
categories (``ks_binned``, ``wasserstein_normed_binned``, ``psi``,
``chi_square``, ``z_test``, ``jensen_shannon``, ``hellinger``), or on rows of
several features at once (``mmd_test``, ``energy_test``). :func:`select_test`
picks a default test for a feature; :func:`control_family` adjusts the
verdicts of many p-value tests run together. Pure numpy/scipy, no I/O.
"""

from detectors.distribution._result import DriftTestResult
from detectors.distribution.anderson import anderson_darling
from detectors.distribution.chisquare import chi_square
from detectors.distribution.cramervonmises import cramer_von_mises
from detectors.distribution.energy import energy_test
from detectors.distribution.family import control_family
from detectors.distribution.hellinger import hellinger
from detectors.distribution.jensenshannon import jensen_shannon
from detectors.distribution.ks import ks_test
from detectors.distribution.ks_binned import ks_binned
from detectors.distribution.mmd import mmd_test
from detectors.distribution.psi import psi
from detectors.distribution.selection import select_test
from detectors.distribution.wasserstein import wasserstein_normed, wasserstein_normed_binned
from detectors.distribution.ztest import z_test

__all__ = [
    "DriftTestResult",
    "anderson_darling",
    "chi_square",
    "control_family",
    "cramer_von_mises",
    "energy_test",
    "hellinger",
    "jensen_shannon",
    "ks_binned",
    "ks_test",
    "mmd_test",
    "psi",
    "select_test",
    "wasserstein_normed",
    "wasserstein_normed_binned",
    "z_test",
]
