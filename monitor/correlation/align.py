"""A common time grid for model-side and KPI series, with gaps kept as NaN.

Every series is brought onto one grid of ``step`` seconds before any statistic is computed.
A grid cell holds the mean of the values that fall into it (weighted by how many raw points
each value summarises, for rolled-up buckets), or NaN when nothing fell into it. Nothing is
interpolated or carried forward: a gap stays a gap, and every statistic downstream uses only
the cells where both series of a pair have values (pairwise complete observations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Grid", "make_grid", "overlap", "spread_intervals", "to_grid"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells ``[start + i * step, start + (i + 1) * step)`` for ``i`` in ``range(size)``."""

    start: float
    step: float
    size: int

    @property
    def times(self) -> Floats:
        """Start time of every cell."""
        return self.start + self.step * np.arange(self.size, dtype=np.float64)

    @property
    def end(self) -> float:
        return self.start + self.step * self.size


def make_grid(start: float, end: float, step: float = 60.0) -> Grid:
    """The grid of ``step``-second cells covering ``[start, end)``, aligned to multiples of ``step``.

    Examples
    --------
    >>> make_grid(125.0, 400.0, 60.0)
    Grid(start=120.0, step=60.0, size=5)
    """
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"step must be a positive number of seconds; got {step!r}")
    if not end > start:
        raise ValueError(f"end {end!r} must be after start {start!r}")
    first = math.floor(start / step) * step
    return Grid(first, float(step), max(1, math.ceil((end - first) / step)))


def to_grid(grid: Grid, times: npt.ArrayLike, values: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> Floats:
    """Weighted mean of ``values`` per grid cell; NaN where no finite value fell.

    Values outside the grid, and non-finite ones, are ignored.

    Examples
    --------
    >>> grid = make_grid(0.0, 240.0, 60.0)
    >>> to_grid(grid, [0, 30, 130, 150], [1.0, 3.0, 5.0, np.nan]).tolist()
    [2.0, nan, 5.0, nan]
    >>> to_grid(grid, [0, 30], [1.0, 4.0], weights=[3, 1]).tolist()[:1]
    [1.75]
    """
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    cell = np.floor((t - grid.start) / grid.step)
    keep = (cell >= 0) & (cell < grid.size) & np.isfinite(v) & (w > 0)
    index = cell[keep].astype(np.int64)
    total = np.bincount(index, weights=v[keep] * w[keep], minlength=grid.size)
    weight = np.bincount(index, weights=w[keep], minlength=grid.size)
    out = np.full(grid.size, np.nan)
    filled = weight > 0
    out[filled] = total[filled] / weight[filled]
    return out


def spread_intervals(grid: Grid, starts: npt.ArrayLike, ends: npt.ArrayLike, values: npt.ArrayLike) -> Floats:
    """Each interval's value over the cells whose start lies in ``[start, end)``; NaN elsewhere.

    For statistics that describe a whole interval (a drift test on a window), not a point in
    time. Where intervals overlap, the cell holds their mean.

    Examples
    --------
    >>> grid = make_grid(0.0, 360.0, 60.0)
    >>> spread_intervals(grid, [0, 180], [120, 300], [0.1, 0.5]).tolist()
    [0.1, 0.1, nan, 0.5, 0.5, nan]
    """
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    first = np.clip(np.ceil((s - grid.start) / grid.step), 0, grid.size).astype(np.int64)
    stop = np.clip(np.ceil((e - grid.start) / grid.step), 0, grid.size).astype(np.int64)
    keep = (stop > first) & np.isfinite(v)
    first, lengths, v = first[keep], (stop - first)[keep], v[keep]
    # Every (interval, cell) pair, without a Python loop: interval i repeated over its cells.
    owner = np.repeat(np.arange(v.size), lengths)
    offsets = np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cells = first[owner] + offsets
    total = np.bincount(cells, weights=v[owner], minlength=grid.size)
    count = np.bincount(cells, minlength=grid.size)
    out = np.full(grid.size, np.nan)
    covered = count > 0
    out[covered] = total[covered] / count[covered]
    return out


def overlap(a: Floats, b: Floats, lag: int = 0) -> int:
    """Cells where ``a[t]`` and ``b[t + lag]`` are both present (pairwise complete observations).

    Examples
    --------
    >>> a = np.array([1.0, np.nan, 3.0, 4.0]); b = np.array([1.0, 2.0, np.nan, 4.0])
    >>> overlap(a, b), overlap(a, b, lag=1)
    (2, 2)
    """
    if lag < 0:
        return overlap(b, a, -lag)
    n = a.size - lag
    if n <= 0:
        return 0
    return int(np.count_nonzero(np.isfinite(a[:n]) & np.isfinite(b[lag : lag + n])))
