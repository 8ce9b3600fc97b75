"""Canary against stable over the same period: recent rows per version and nonparametric tests.

Like automated canary analysis (Kayenta), the gate does not only test each
version against its reference; it compares the canary's prediction scores,
predictions and latency with the stable version's *over the same stretch of
event time*, so a shift both versions share (a holiday, an upstream change)
does not fail the canary.

:class:`CanarySamples` keeps the newest rows of each (model, version) as it
passes through the pipeline; :func:`compare` runs, on whatever both sides have
enough of:

* ``score`` and numeric ``prediction`` — two-sample Kolmogorov-Smirnov, effect
  the KS distance D;
* categorical ``prediction`` — chi-square on the 2 x k table of class counts,
  effect Cramér's V;
* ``latency`` — one-sided Mann-Whitney U (is the canary slower?), effect
  Cliff's delta (P(canary slower) - P(canary faster)).

A comparison fails only when its p-value is below ``alpha`` divided by the
number of comparisons run (Bonferroni) *and* its effect reaches ``min_effect``:
with thousands of rows a trivial difference is significant, and a canary should
not be rolled back for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from collectors.records import FloatArray, InferenceBatch, ObjectArray

__all__ = ["CanarySamples", "Check", "Rows", "compare"]

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Check:
    """One piece of gate evidence and its verdict."""

    name: str
    status: Status
    detail: str
    p_value: float | None = None
    effect: float | None = None


@dataclass(frozen=True, slots=True)
class Rows:
    """Columns of recent rows of one version, oldest first."""

    t: FloatArray
    score: FloatArray
    latency: FloatArray
    prediction: FloatArray  # NaN where the prediction is a class
    label: ObjectArray  # the class as a string, None where the prediction is a number

    @property
    def n(self) -> int:
        return int(self.t.size)

    def between(self, start: float, end: float) -> Rows:
        keep = (self.t >= start) & (self.t <= end)
        return Rows(self.t[keep], self.score[keep], self.latency[keep], self.prediction[keep], self.label[keep])

    def concat(self, other: Rows) -> Rows:
        return Rows(
            np.concatenate([self.t, other.t]),
            np.concatenate([self.score, other.score]),
            np.concatenate([self.latency, other.latency]),
            np.concatenate([self.prediction, other.prediction]),
            np.concatenate([self.label, other.label]),
        )

    def newest(self, k: int) -> Rows:
        if self.n <= k:
            return self
        return Rows(self.t[-k:], self.score[-k:], self.latency[-k:], self.prediction[-k:], self.label[-k:])

    @staticmethod
    def empty() -> Rows:
        nothing = np.empty(0, dtype=np.float64)
        return Rows(nothing, nothing, nothing, nothing, np.empty(0, dtype=object))


class CanarySamples:
    """The newest ``capacity`` rows of the ``max_versions`` most recently fed (model, version) pairs.

    Thread-safe: the pipeline thread adds, request threads read.

    >>> def rows(n):
    ...     return Rows(np.arange(float(n)), np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, None))
    >>> samples = CanarySamples(capacity=3, max_versions=2)
    >>> samples.add_rows("m", "v1", rows(5))
    >>> samples.rows("m", "v1").t.tolist(), samples.versions("m")
    ([2.0, 3.0, 4.0], {'v1': 3})
    >>> samples.add_rows("m", "v2", rows(1)); samples.add_rows("m", "v3", rows(1))
    >>> sorted(samples.versions("m"))  # v1 was fed least recently
    ['v2', 'v3']
    """

    def __init__(self, capacity: int, max_versions: int = 256) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_versions < 1:
            raise ValueError(f"max_versions must be at least 1, got {max_versions}")
        self.capacity = capacity
        self.max_versions = max_versions
        self._rows: dict[tuple[str, str], Rows] = {}  # least recently fed first
        self._lock = threading.Lock()

    def add(self, batch: InferenceBatch) -> None:
        """Keep ``batch``'s rows (the pipeline calls this for every inference batch it applies)."""
        if batch.predictions.kind == "numeric":
            prediction = np.asarray(batch.predictions.values, dtype=np.float64)
            label = np.full(len(batch), None, dtype=object)
        else:
            prediction = np.full(len(batch), np.nan)
            label = np.asarray(batch.predictions.values, dtype=object)
        self.add_rows(batch.model, batch.version, Rows(batch.timestamps, batch.scores, batch.latencies, prediction, label))

    def add_rows(self, model: str, version: str, rows: Rows) -> None:
        with self._lock:
            old = self._rows.pop((model, version), None)
            if old is not None:
                rows = old.concat(rows)
            self._rows[(model, version)] = rows.newest(self.capacity)
            while len(self._rows) > self.max_versions:  # forget the versions fed least recently
                del self._rows[next(iter(self._rows))]

    def rows(self, model: str, version: str) -> Rows:
        with self._lock:
            return self._rows.get((model, version)) or Rows.empty()

    def versions(self, model: str) -> dict[str, int]:
        """Versions of ``model`` with rows kept, and how many."""
        with self._lock:
            return {v: rows.n for (m, v), rows in self._rows.items() if m == model}


def _finite(values: FloatArray) -> FloatArray:
    return values[np.isfinite(values)]


def _present(labels: ObjectArray) -> ObjectArray:
    present: ObjectArray = labels[labels != None]  # noqa: E711 - an elementwise comparison
    return present


def _ks(name: str, a: FloatArray, b: FloatArray, alpha: float, min_effect: float) -> Check:
    result = stats.ks_2samp(a, b)
    d, p = float(result.statistic), float(result.pvalue)
    failed = p < alpha and d >= min_effect
    detail = f"KS D={d:.3f} (p={p:.2g}) canary n={a.size} vs stable n={b.size}"
    return Check(name, "fail" if failed else "pass", detail, p, d)


def _latency(a: FloatArray, b: FloatArray, alpha: float, min_effect: float) -> Check:
    result = stats.mannwhitneyu(a, b, alternative="greater")
    delta = 2.0 * float(result.statistic) / (a.size * b.size) - 1.0  # Cliff's delta from U
    p = float(result.pvalue)
    failed = p < alpha and delta >= min_effect
    detail = (
        f"median {np.median(a) * 1000:.1f} ms vs {np.median(b) * 1000:.1f} ms, Cliff's delta {delta:.3f} (Mann-Whitney p={p:.2g})"
    )
    return Check("canary:latency", "fail" if failed else "pass", detail, p, delta)


def _classes(a: ObjectArray, b: ObjectArray, alpha: float, min_effect: float) -> Check:
    classes, codes = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    table = np.vstack(
        [np.bincount(codes[: a.size], minlength=classes.size), np.bincount(codes[a.size :], minlength=classes.size)]
    )
    if classes.size < 2:
        return Check("canary:prediction", "pass", f"both versions predict only {classes[0]!r}", 1.0, 0.0)
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    v = float(np.sqrt(chi2 / table.sum()))  # Cramér's V of a 2 x k table
    shares = ", ".join(f"{c}: {x / a.size:.0%} vs {y / b.size:.0%}" for c, x, y in zip(classes[:5], *table[:, :5], strict=True))
    failed = float(p) < alpha and v >= min_effect
    return Check("canary:prediction", "fail" if failed else "pass", f"classes {shares}; V={v:.3f} (p={p:.2g})", float(p), v)


def compare(canary: Rows, stable: Rows, *, alpha: float, min_effect: float, min_samples: int) -> list[Check]:
    """Compare the canary's rows with the stable version's (already cut to the same period).

    A comparison runs when both sides have ``min_samples`` values for it, and is
    skipped otherwise. Larger ``alpha`` or smaller ``min_effect``: quicker to fail.

    >>> rng = np.random.default_rng(7)
    >>> def rows(score_mean, latency_s, n=600):
    ...     t = np.arange(n, dtype=float)
    ...     labels = rng.choice(["approve", "deny"], n, p=[0.7, 0.3]).astype(object)
    ...     return Rows(t, rng.normal(score_mean, 0.1, n), rng.gamma(4, latency_s / 4, n), np.full(n, np.nan), labels)
    >>> [(c.name, c.status) for c in compare(rows(0.5, 0.02), rows(0.5, 0.02), alpha=0.01, min_effect=0.1, min_samples=200)]
    [('canary:score', 'pass'), ('canary:prediction', 'pass'), ('canary:latency', 'pass')]
    >>> [(c.name, c.status) for c in compare(rows(0.6, 0.04), rows(0.5, 0.02), alpha=0.01, min_effect=0.1, min_samples=200)]
    [('canary:score', 'fail'), ('canary:prediction', 'pass'), ('canary:latency', 'fail')]
    """
    pending: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = []
    skipped: list[Check] = []

    def consider(name: str, a: np.ndarray, b: np.ndarray) -> None:
        if min(a.size, b.size) >= min_samples:
            pending.append((name, (a, b)))
        elif a.size or b.size:
            skipped.append(Check(name, "skip", f"{a.size} canary and {b.size} stable values; {min_samples} each needed"))

    consider("canary:score", _finite(canary.score), _finite(stable.score))
    numeric_a, numeric_b = _finite(canary.prediction), _finite(stable.prediction)
    if numeric_a.size or numeric_b.size:
        consider("canary:prediction", numeric_a, numeric_b)
    else:  # class predictions
        consider("canary:prediction", _present(canary.label), _present(stable.label))
    consider("canary:latency", _finite(canary.latency), _finite(stable.latency))
    level = alpha / max(len(pending), 1)  # Bonferroni across the comparisons that run
    checks: list[Check] = []
    for name, (a, b) in pending:
        if name == "canary:latency":
            checks.append(_latency(a, b, level, min_effect))
        elif a.dtype == object:
            checks.append(_classes(a, b, level, min_effect))
        else:
            checks.append(_ks(name, a, b, level, min_effect))
    return checks + skipped
