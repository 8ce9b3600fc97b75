"""Pure numerical detection code: no I/O, no web, no database.

- :mod:`detectors.distribution` — two-sample drift tests, test selection, family-wise control.
- :mod:`detectors.sketches` — mergeable reference profiles and window state.
- :mod:`detectors.streaming` — streaming change detectors on scalar series.

The distribution tests are re-exported here for convenience.
"""

from detectors.distribution import (
    DriftTestResult,
    anderson_darling,
    chi_square,
    control_family,
    cramer_von_mises,
    energy_test,
    hellinger,
    jensen_shannon,
    ks_binned,
    ks_test,
    mmd_test,
    psi,
    select_test,
    wasserstein_normed,
    wasserstein_normed_binned,
    z_test,
)

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
