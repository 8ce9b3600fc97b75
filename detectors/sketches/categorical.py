"""Mergeable summaries of a categorical column: a frozen reference and a window."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["OTHER", "CategoricalReference", "CategoricalWindow"]

#: Bucket for categories outside the reference's top categories.
OTHER = "__other__"


@dataclass(frozen=True, slots=True)
class CategoricalReference:
    """Category frequencies of one categorical feature, rare ones pooled into ``OTHER``.

    Examples
    --------
    >>> ref = CategoricalReference.from_values(["a", "b", "a", None, "c"], max_categories=2)
    >>> ref.categories, ref.counts.tolist(), ref.nulls
    (('a', 'b'), [2, 1, 1], 1)
    """

    categories: tuple[str, ...]
    counts: npt.NDArray[np.int64]  # one per category, then OTHER
    n: int
    nulls: int

    @staticmethod
    def from_values(values: Any, *, max_categories: int = 50) -> CategoricalReference:
        """Keep the ``max_categories`` most frequent categories (ties broken by name)."""
        if max_categories < 1:
            raise ValueError(f"max_categories must be >= 1, got {max_categories}")
        values = list(values)  # read twice below: a generator would leave no nulls to count
        counter = Counter(v for v in values if v is not None)
        nulls = sum(1 for v in values if v is None)
        if not counter:
            raise ValueError("values must contain at least one non-null category")
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        top = ranked[:max_categories]
        other = sum(count for _, count in ranked[max_categories:])
        return CategoricalReference(
            categories=tuple(name for name, _ in top),
            counts=np.asarray([count for _, count in top] + [other], dtype=np.int64),
            n=int(sum(counter.values())),
            nulls=nulls,
        )

    def align(self, counts: dict[str, int]) -> npt.NDArray[np.int64]:
        """Current ``counts`` laid out on this reference's categories (+ OTHER last)."""
        index = {name: i for i, name in enumerate(self.categories)}
        out = np.zeros(len(self.categories) + 1, dtype=np.int64)
        for name, count in counts.items():
            out[index.get(name, len(self.categories))] += count
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "categories": list(self.categories),
            "counts": self.counts.tolist(),
            "n": self.n,
            "nulls": self.nulls,
        }

    @staticmethod
    def from_dict(state: dict[str, Any]) -> CategoricalReference:
        return CategoricalReference(
            categories=tuple(state["categories"]),
            counts=np.asarray(state["counts"], dtype=np.int64),
            n=int(state["n"]),
            nulls=int(state["nulls"]),
        )


@dataclass(slots=True)
class CategoricalWindow:
    """Mergeable category counts over one window, bounded in distinct values.

    Past ``max_distinct`` distinct categories, new ones are counted under
    ``OTHER`` so a high-cardinality column cannot grow state without bound.

    Examples
    --------
    >>> import numpy as np
    >>> w = CategoricalWindow(max_distinct=2)
    >>> w.update(np.array(["a", "b", "c", None, "a"], dtype=object))
    >>> sorted(w.counts.items()), w.n, w.nulls
    ([('__other__', 1), ('a', 2), ('b', 1)], 4, 1)
    """

    max_distinct: int = 1000
    counts: dict[str, int] = field(default_factory=dict)
    n: int = 0
    nulls: int = 0

    def update(self, values: npt.NDArray[np.object_]) -> None:
        """Add a column of categories (None = null)."""
        present = [v for v in values.tolist() if v is not None]
        self.nulls += int(values.size - len(present))
        self.n += len(present)
        self._add(Counter(present))

    def merge(self, other: CategoricalWindow) -> None:
        self.n += other.n
        self.nulls += other.nulls
        self._add(other.counts)

    def _add(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            if name in self.counts:
                self.counts[name] += count
            elif len(self.counts) < self.max_distinct:
                self.counts[name] = count
            else:
                self.counts[OTHER] = self.counts.get(OTHER, 0) + count

    def state_dict(self) -> dict[str, Any]:
        return {"max_distinct": self.max_distinct, "counts": dict(self.counts), "n": self.n, "nulls": self.nulls}

    @staticmethod
    def from_state(state: dict[str, Any]) -> CategoricalWindow:
        return CategoricalWindow(
            max_distinct=int(state["max_distinct"]), counts=dict(state["counts"]), n=int(state["n"]), nulls=int(state["nulls"])
        )
