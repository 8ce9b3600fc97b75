"""The latest value of every GPU metric, as the pipeline sees GPU telemetry arrive.

Samples come from :func:`collectors.gpu.from_otlp_metrics` (and later DCGM
scrapes and the NVML agent), already in one schema. One value per (host, GPU or
MIG slice, UUID, model name, metric) is kept — the newest by its own timestamp —
and exposed as ``driftline_gpu_*`` while it is fresher than ``stale_after``
seconds, so a GPU that stops reporting disappears from ``/metrics`` instead of
showing its last value forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from collectors.gpu import GpuMetric, GpuSample

__all__ = ["GpuLatest", "GpuReading"]

#: Metrics that only ever grow: exposed as Prometheus counters.
COUNTERS = frozenset(
    {GpuMetric.ENERGY_JOULES, GpuMetric.ERRORS_TOTAL, GpuMetric.CORRECTED_ERRORS_TOTAL, GpuMetric.UNCORRECTED_ERRORS_TOTAL}
)


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One exposed value: its labels, metric and value."""

    host: str
    gpu: str
    uuid: str
    model_name: str
    metric: GpuMetric
    timestamp: float
    value: float


class GpuLatest:
    """Newest value per GPU metric; owned by the pipeline thread, snapshots for readers.

    Examples
    --------
    >>> from collectors.gpu import GpuMetric, GpuSample
    >>> latest = GpuLatest()
    >>> latest.add([GpuSample(10.0, "h1", "0", "GPU-a", "H100", GpuMetric.UTILIZATION_RATIO, 0.5),
    ...             GpuSample(5.0, "h1", "0", "GPU-a", "H100", GpuMetric.UTILIZATION_RATIO, 0.9)])
    >>> [(r.metric.value, r.value) for r in latest.readings(now=20.0, stale_after=60.0)]
    [('utilization_ratio', 0.5)]
    >>> list(latest.readings(now=100.0, stale_after=60.0))
    []
    """

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str, str, str, str], tuple[float, float]] = {}

    def add(self, samples: Iterable[GpuSample]) -> None:
        for sample in samples:
            # A MIG slice arrives with gpu "<index>/mig<instance>" (see monitor.scrape).
            # A GpuMetric is a str: as a key it equals (and hashes like) its value, without the lookup.
            key = (sample.host, sample.gpu, sample.uuid, sample.model_name, sample.metric)
            previous = self._latest.get(key)
            if previous is None or sample.timestamp >= previous[0]:
                self._latest[key] = (sample.timestamp, sample.value)

    def readings(self, *, now: float, stale_after: float) -> Iterator[GpuReading]:
        for (host, gpu, uuid, model_name, metric), (timestamp, value) in sorted(self._latest.items()):
            if now - timestamp <= stale_after:
                yield GpuReading(host, gpu, uuid, model_name, GpuMetric(metric), timestamp, value)

    def state_dict(self) -> list[list[Any]]:
        return [[*key, timestamp, value] for key, (timestamp, value) in self._latest.items()]

    @staticmethod
    def from_state(state: list[list[Any]]) -> GpuLatest:
        latest = GpuLatest()
        for host, gpu, uuid, model_name, metric, timestamp, value in state:
            latest._latest[(host, gpu, uuid, model_name, metric)] = (float(timestamp), float(value))
        return latest
