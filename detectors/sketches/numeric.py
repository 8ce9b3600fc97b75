"""Mergeable summaries of a numerical column: a frozen reference and a window.

A :class:`NumericReference` is built once from a training sample: quantile bin
edges, the reference's counts in those bins, and a bounded exact sample for
tests that need raw values (KS). A :class:`NumericWindow` accumulates live data
against those edges. Windows are *mergeable*: ``a.merge(b)`` equals the window of
the union of their inputs (bins, count, moments, min/max exactly; the reservoir
is a uniform sample of the union because it keeps the ``capacity`` smallest of
independent uniform keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["NumericReference", "NumericWindow", "bin_counts"]

FloatArray = npt.NDArray[np.float64]

#: Up to this many edges, one broadcast comparison beats binary search.
_BROADCAST_EDGES = 64


def bin_counts(edges: FloatArray, values: FloatArray) -> npt.NDArray[np.int64]:
    """Counts of ``values`` in the bins cut by sorted ``edges`` (``len(edges) + 1`` bins).

    A value equal to an edge falls in the bin to its right, as
    ``np.searchsorted(edges, values, side="right")`` places it.

    Examples
    --------
    >>> import numpy as np
    >>> bin_counts(np.array([0.0, 1.0]), np.array([-5.0, 0.0, 0.5, 1.0, 7.0])).tolist()
    [1, 2, 2]
    """
    if edges.size <= _BROADCAST_EDGES:
        # Binary search on random values mispredicts branches; counting the edges
        # at or below each value in one vectorised comparison is faster for a few dozen edges.
        index = (edges[:, None] <= values[None, :]).sum(axis=0)
    else:
        index = np.searchsorted(edges, values, side="right")
    return np.bincount(index, minlength=edges.size + 1).astype(np.int64, copy=False)


@dataclass(frozen=True, slots=True)
class NumericReference:
    """Reference profile of one numerical feature.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = NumericReference.from_values(rng.normal(size=10_000), n_bins=10, sample_size=500)
    >>> len(ref.edges), int(ref.counts.sum()), ref.sample.size
    (9, 10000, 500)
    """

    edges: FloatArray
    counts: npt.NDArray[np.int64]
    sample: FloatArray
    n: int
    nulls: int
    mean: float
    std: float

    @staticmethod
    def from_values(values: npt.ArrayLike, *, n_bins: int = 20, sample_size: int = 5000, seed: int = 0) -> NumericReference:
        """Profile ``values`` (NaN = null) with ``n_bins`` quantile bins and a bounded sample.

        Larger ``n_bins`` resolves finer shape changes but makes PSI noisier on
        small windows; 10-20 is the usual range.
        """
        if n_bins < 2:
            raise ValueError(f"n_bins must be >= 2, got {n_bins}")
        if sample_size < 1:
            raise ValueError(f"sample_size must be >= 1, got {sample_size}")
        x = np.asarray(values, dtype=np.float64)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            raise ValueError("values must contain at least one finite number")
        # Interior cut points at the reference quantiles. Heavy ties collapse
        # duplicate edges; a bin can still be empty (e.g. most values equal to the
        # minimum), which PSI's epsilon smoothing absorbs.
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]))
        counts = bin_counts(edges, finite)
        rng = np.random.default_rng(seed)
        sample = finite if finite.size <= sample_size else rng.choice(finite, sample_size, replace=False)
        return NumericReference(
            edges=edges,
            counts=counts.astype(np.int64),
            sample=np.sort(sample),
            n=int(finite.size),
            nulls=int(x.size - finite.size),
            mean=float(finite.mean()),
            std=float(finite.std()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "sample": self.sample.tolist(),
            "n": self.n,
            "nulls": self.nulls,
            "mean": self.mean,
            "std": self.std,
        }

    @staticmethod
    def from_dict(state: dict[str, Any]) -> NumericReference:
        return NumericReference(
            edges=np.asarray(state["edges"], dtype=np.float64),
            counts=np.asarray(state["counts"], dtype=np.int64),
            sample=np.asarray(state["sample"], dtype=np.float64),
            n=int(state["n"]),
            nulls=int(state["nulls"]),
            mean=float(state["mean"]),
            std=float(state["std"]),
        )


@dataclass(slots=True)
class NumericWindow:
    """Mergeable running state of one numerical feature over one window.

    Examples
    --------
    >>> import numpy as np
    >>> w = NumericWindow(edges=np.array([0.0]), capacity=4, seed=1)
    >>> w.update(np.array([-1.0, 2.0, np.nan, 3.0]))
    >>> w.n, w.nulls, w.bins.tolist(), round(w.mean, 3)
    (3, 1, [1, 2], 1.333)
    """

    edges: FloatArray | None
    capacity: int = 2048
    seed: int | None = None
    n: int = 0
    nulls: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = np.inf
    maximum: float = -np.inf
    bins: npt.NDArray[np.int64] | None = None
    sample: FloatArray = field(default_factory=lambda: np.empty(0))
    keys: FloatArray = field(default_factory=lambda: np.empty(0))
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")
        self._rng = np.random.default_rng(self.seed)
        if self.edges is not None and self.bins is None:
            self.bins = np.zeros(self.edges.size + 1, dtype=np.int64)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0

    def update(self, values: FloatArray) -> None:
        """Add a column of values (NaN = null)."""
        x = values[~np.isnan(values)]
        self.nulls += int(values.size - x.size)
        if x.size == 0:
            return
        self._merge_moments(int(x.size), float(x.mean()), float(((x - x.mean()) ** 2).sum()))
        self.minimum = min(self.minimum, float(x.min()))
        self.maximum = max(self.maximum, float(x.max()))
        if self.bins is not None and self.edges is not None:
            self.bins += bin_counts(self.edges, x)
        self._keep(x, self._rng.random(x.size))

    def merge(self, other: NumericWindow) -> None:
        """Fold ``other`` (a window over the same edges) into this one."""
        self.nulls += other.nulls
        if other.n:
            self._merge_moments(other.n, other.mean, other.m2)
            self.minimum = min(self.minimum, other.minimum)
            self.maximum = max(self.maximum, other.maximum)
        if self.bins is not None and other.bins is not None:
            self.bins += other.bins
        self._keep(other.sample, other.keys)

    def _merge_moments(self, n: int, mean: float, m2: float) -> None:
        # Chan et al.'s pairwise update: exact and order-independent.
        total = self.n + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    def _keep(self, values: FloatArray, keys: FloatArray) -> None:
        if self.sample.size >= self.capacity:
            # Full: only keys below the current largest kept key can enter.
            candidates = keys < self.keys.max()
            if not candidates.any():
                return
            values, keys = values[candidates], keys[candidates]
        sample = np.concatenate([self.sample, values])
        keys = np.concatenate([self.keys, keys])
        if sample.size > self.capacity:
            keep = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            sample, keys = sample[keep], keys[keep]
        self.sample, self.keys = sample, keys

    def state_dict(self) -> dict[str, Any]:
        """State for checkpoints; arrays are shared with the live window, so serialise before updating."""
        return {
            "edges": self.edges,
            "capacity": self.capacity,
            "n": self.n,
            "nulls": self.nulls,
            "mean": self.mean,
            "m2": self.m2,
            "minimum": self.minimum if self.n else None,
            "maximum": self.maximum if self.n else None,
            "bins": self.bins,
            "sample": self.sample,
            "keys": self.keys,
            "rng": self._rng.bit_generator.state,
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> NumericWindow:
        window = NumericWindow(
            edges=None if state["edges"] is None else np.asarray(state["edges"], dtype=np.float64),
            capacity=int(state["capacity"]),
            n=int(state["n"]),
            nulls=int(state["nulls"]),
            mean=float(state["mean"]),
            m2=float(state["m2"]),
            minimum=np.inf if state["minimum"] is None else float(state["minimum"]),
            maximum=-np.inf if state["maximum"] is None else float(state["maximum"]),
            bins=None if state["bins"] is None else np.asarray(state["bins"], dtype=np.int64),
            sample=np.asarray(state["sample"], dtype=np.float64),
            keys=np.asarray(state["keys"], dtype=np.float64),
        )
        window._rng.bit_generator.state = state["rng"]
        return window
