"""Run the per-feature drift tests of a closed window against its reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from detectors.distribution import (
    DriftTestResult,
    chi_square,
    control_family,
    jensen_shannon,
    ks_binned,
    ks_test,
    select_test,
    z_test,
)
from detectors.sketches import CategoricalReference, CategoricalWindow, NumericReference, NumericWindow
from detectors.sketches.numeric import bin_counts
from monitor.references import Profile
from monitor.windows import WindowSet

__all__ = ["FeatureDrift", "evaluate_window"]


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's drift verdict for one window."""

    feature: str
    result: DriftTestResult
    window_start: float
    window_end: float

    def to_dict(self) -> dict[str, object]:
        r = self.result
        return {
            "feature": self.feature,
            "test": r.test,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "effect_size": r.effect_size,
            "threshold": r.threshold,
            "drift_detected": r.drift_detected,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "n": r.n_current,
        }


def _test_feature(profile: Profile, window: NumericWindow | CategoricalWindow) -> DriftTestResult | None:
    if isinstance(profile, NumericReference) and isinstance(window, NumericWindow):
        if window.n == 0:
            return None
        if select_test("numeric", window.n) == "ks":
            # The reservoir holds every value while n <= its capacity: an exact test.
            return ks_test(profile.sample, window.sample)
        if window.bins is not None and window.bins.size == profile.counts.size:
            counts = window.bins
        else:  # reference arrived after the window opened: bin the uniform sample instead
            counts = bin_counts(profile.edges, window.sample)
        return ks_binned(profile.counts, counts)  # select_test's other numeric choice
    if isinstance(profile, CategoricalReference) and isinstance(window, CategoricalWindow):
        if window.n == 0:
            return None
        current = profile.align(window.counts)
        n_unique = int(np.count_nonzero((profile.counts > 0) | (current > 0)))
        test = select_test("categorical", window.n, n_unique=n_unique, n_reference=max(profile.n, 1))
        if test == "z":
            return z_test(profile.counts, current)
        if test == "chi2":
            return chi_square(profile.counts, current)
        return jensen_shannon(profile.counts, current)
    return None  # the column changed kind against its reference: nothing comparable


def evaluate_window(
    window: WindowSet,
    reference: dict[str, Profile],
    *,
    alpha: float = 0.05,
    method: Literal["bh", "bonferroni", "none"] = "bh",
) -> list[FeatureDrift]:
    """Test every referenced feature of ``window``; verdicts are family-wise controlled."""
    names: list[str] = []
    results: list[DriftTestResult] = []
    for name in sorted(reference):
        feature_window = window.features.get(name)
        if feature_window is None:
            continue
        result = _test_feature(reference[name], feature_window)
        if result is not None:
            names.append(name)
            results.append(result)
    if results:
        results = control_family(results, method=method, alpha=alpha)
    return [FeatureDrift(name, result, window.start, window.end) for name, result in zip(names, results, strict=True)]
