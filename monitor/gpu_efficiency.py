"""A model's GPU efficiency over a time range, from the rolled-up join series (see docs/gpu.md).

Given the buckets of ``driftline.model.gpu.seconds``, ``.idle_seconds`` and
``.memory.headroom`` (:mod:`monitor.gpu_models`) that overlap the range, and the number of
predictions from ``driftline.model.predictions`` (:mod:`monitor.model_series`):

* GPU-seconds ``S`` = sum of the ``gpu.seconds`` buckets' sums; idle seconds ``I`` likewise;
* GPU-seconds per 1,000 predictions = ``1000 S / N`` (undefined when ``N = 0``);
* idle ratio = ``I / S`` (undefined when ``S = 0``);
* memory headroom min = the smallest bucket minimum; mean = sum of sums / sum of counts
  (the mean over every headroom sample).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.series import Bucket

__all__ = ["Efficiency", "efficiency"]


@dataclass(frozen=True, slots=True)
class Efficiency:
    """GPU time and memory headroom of one model (or one of its GPUs) over a range."""

    gpu_seconds: float
    idle_seconds: float
    idle_ratio: float | None
    memory_headroom_min_bytes: float | None
    memory_headroom_mean_bytes: float | None

    def per_1k_predictions(self, predictions: int) -> float | None:
        """GPU-seconds per 1,000 predictions; ``None`` without predictions."""
        return 1000.0 * self.gpu_seconds / predictions if predictions > 0 else None


def efficiency(seconds: Iterable[Bucket], idle: Iterable[Bucket], headroom: Iterable[Bucket]) -> Efficiency:
    """Sum the join series' buckets into the efficiency figures.

    Examples
    --------
    >>> def b(name, count, total, low):
    ...     return Bucket(name, "{}", 60, 0.0, count, total, low, low, low, 0.0)
    >>> e = efficiency([b("s", 6, 60.0, 10.0)], [b("i", 6, 20.0, 0.0)], [b("h", 2, 30e9, 10e9), b("h", 1, 20e9, 20e9)])
    >>> (e.gpu_seconds, e.idle_seconds, round(e.idle_ratio, 3), e.memory_headroom_min_bytes, e.memory_headroom_mean_bytes)
    (60.0, 20.0, 0.333, 10000000000.0, 16666666666.666666)
    >>> e.per_1k_predictions(3000)
    20.0
    """
    gpu_seconds = sum(b.sum for b in seconds)
    idle_seconds = sum(b.sum for b in idle)
    rows = list(headroom)
    count = sum(b.count for b in rows)
    return Efficiency(
        gpu_seconds=gpu_seconds,
        idle_seconds=idle_seconds,
        idle_ratio=idle_seconds / gpu_seconds if gpu_seconds > 0 else None,
        memory_headroom_min_bytes=min(b.min for b in rows) if rows else None,
        memory_headroom_mean_bytes=sum(b.sum for b in rows) / count if count else None,
    )
