"""Business KPIs from metric points: gauges as values, sums as rates, histograms as mean and quantiles.

The pipeline hands every metric batch to :meth:`KpiDeriver.derive`. Points of a metric the
configuration names as a KPI (``kpis: [{name, metric, attributes, quantiles}]``) become KPI
values, returned as ``driftline.kpi`` points labelled ``kpi=<name>`` for the time series store:

* **gauge** -- the value itself;
* **sum** -- a rate per second: a delta point's value over its interval; a cumulative
  point's increase since the previous point of the same series over the time between them.
  A reset (a new start time, or a counter that went down) restarts from the new start time;
* **histogram** -- the mean (``sum / count``) of the observations in the interval (a
  cumulative histogram's difference to its previous point), and for each configured
  quantile ``q`` a KPI ``<name>.p<100 q>`` interpolated within the buckets as Prometheus'
  ``histogram_quantile`` does (:func:`histogram_quantiles`).

``driftline.kpi`` points that arrive as such (the Prometheus pull, ``driftline kpi import``,
or any sender) are KPI values already: they only update the newest value per KPI, which
``/metrics`` shows as ``driftline_kpi_value{kpi}`` (for the first :data:`MAX_EXPOSED` KPI names).

Examples
--------
>>> import numpy as np
>>> from collectors.records import MetricBatch, PointKind, Temporality
>>> deriver = KpiDeriver([KpiSpec(name="orders_per_s", metric="shop.orders")])
>>> batch = MetricBatch(
...     names=np.array(["shop.orders"] * 2, dtype=object), timestamps=np.array([60.0, 120.0]),
...     values=np.array([100.0, 400.0]), attributes=np.array(["{}"] * 2, dtype=object),
...     kinds=np.array([PointKind.MONOTONIC_SUM] * 2, dtype=np.uint8),
...     temporalities=np.array([Temporality.CUMULATIVE] * 2, dtype=np.uint8),
...     start_timestamps=np.array([0.0, 0.0]))
>>> kpis = deriver.derive(batch)
>>> kpis.timestamps.tolist(), kpis.values.tolist(), kpis.attributes.tolist()
([120.0], [5.0], ['{"kpi":"orders_per_s"}'])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from collectors.records import MetricBatch, PointKind, Temporality
from monitor.kpi_config import KPI_SERIES, KpiSpec, quantile_suffix

__all__ = ["KPI_SERIES", "KpiDeriver", "histogram_quantiles", "label_text"]

FloatArray = npt.NDArray[np.float64]
_MAX_SOURCES = 10_000  # cumulative series remembered for rates; the least recently seen are forgotten
MAX_EXPOSED = 1000  # KPIs whose newest value /metrics shows; values of further names are still stored
_SUFFIXES = {PointKind.HISTOGRAM_COUNT: ".count", PointKind.HISTOGRAM_SUM: ".sum"}


def label_text(value: object) -> str:
    """How an attribute value compares with a configured one: strings as they are, others as JSON.

    Examples
    --------
    >>> [label_text(v) for v in ("eu", True, 3, 0.5)]
    ['eu', 'true', '3', '0.5']
    """
    return value if isinstance(value, str) else json.dumps(value)


def histogram_quantiles(bounds: npt.ArrayLike, counts: npt.ArrayLike, quantiles: npt.ArrayLike) -> FloatArray:
    """Quantiles of bucketed observations, interpolated linearly within their bucket.

    ``counts[i]`` observations fall in ``(bounds[i - 1], bounds[i]]``; ``counts[0]`` below
    ``bounds[0]`` and ``counts[-1]`` above ``bounds[-1]``. As Prometheus' ``histogram_quantile``:
    the lowest bucket starts at 0 when its bound is positive (else its bound is the answer),
    and a quantile in the overflow bucket is the highest bound. ``NaN`` when nothing was counted.

    Examples
    --------
    >>> histogram_quantiles([1.0, 2.0, 4.0], [0, 10, 10, 0], [0.5, 0.75]).tolist()
    [2.0, 3.0]
    >>> histogram_quantiles([0.1], [3, 1], [0.5, 0.99]).tolist()
    [0.06666666666666667, 0.1]
    """
    edges = np.asarray(bounds, dtype=np.float64)
    weights = np.asarray(counts, dtype=np.float64)
    qs = np.asarray(quantiles, dtype=np.float64)
    total = weights.sum()
    if edges.size == 0 or weights.size != edges.size + 1 or not total > 0:
        return np.full(qs.shape, np.nan)
    cumulative = np.cumsum(weights)
    ranks = qs * total
    index = np.searchsorted(cumulative, ranks, side="left")
    overflow = index >= edges.size
    index = np.minimum(index, edges.size - 1)
    upper = edges[index]
    lower = np.where(index > 0, edges[np.maximum(index - 1, 0)], np.where(upper > 0, 0.0, upper))
    before = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)
    inside = np.maximum(weights[index], np.finfo(np.float64).tiny)
    values = lower + (upper - lower) * np.clip((ranks - before) / inside, 0.0, 1.0)
    return np.asarray(np.where(overflow, edges[-1], values), dtype=np.float64)


@dataclass(slots=True)
class _Last:
    """The previous point of one cumulative series."""

    t: float
    start: float  # NaN when unknown
    value: float  # a sum's value, a histogram's count
    total: float  # a histogram's sum (NaN when absent)
    bounds: FloatArray | None
    counts: FloatArray | None


@dataclass(slots=True)
class _Histogram:
    """The ``.count`` and ``.sum`` points of one histogram data point, joined."""

    t: float
    start: float
    temporality: int
    count: float = math.nan
    total: float = math.nan
    bounds: FloatArray | None = None
    counts: FloatArray | None = None


class KpiDeriver:
    """Turns configured metrics into KPI values; its memory of cumulative series is checkpointed."""

    def __init__(self, specs: Sequence[KpiSpec], *, max_sources: int = _MAX_SOURCES) -> None:
        self.specs = list(specs)
        self.max_sources = max_sources
        self._by_metric: dict[str, list[KpiSpec]] = {}
        for spec in self.specs:
            if spec.metric is not None:
                self._by_metric.setdefault(spec.metric, []).append(spec)
        self._last: dict[tuple[str, str], _Last] = {}
        self.latest: dict[str, tuple[float, float]] = {}  # kpi → (timestamp, value)

    def derive(self, batch: MetricBatch) -> MetricBatch | None:
        """KPI values derived from ``batch`` as ``driftline.kpi`` points, or ``None``."""
        self._note_direct(batch, np.flatnonzero(batch.names == KPI_SERIES))
        if not self._by_metric or not len(batch):
            return None
        names = batch.names.astype(str)
        kinds = np.zeros(len(batch), dtype=np.uint8) if batch.kinds is None else batch.kinds
        base = names.astype(object)  # a histogram's points count under the histogram's own name
        for kind, suffix in _SUFFIXES.items():
            rows = np.flatnonzero((kinds == kind) & np.char.endswith(names, suffix))
            base[rows] = [name[: -len(suffix)] for name in names[rows].tolist()]
        selected = np.flatnonzero(np.isin(base, list(self._by_metric)))
        if not selected.size:
            return None
        selected = selected[np.argsort(batch.timestamps[selected], kind="stable")]
        out: list[tuple[str, float, float]] = []
        histograms: dict[tuple[str, str, float], tuple[list[KpiSpec], _Histogram]] = {}
        parsed: dict[str, dict[str, Any]] = {}
        for i in selected.tolist():
            raw = str(batch.attributes[i])
            attrs = parsed.get(raw)
            if attrs is None:
                attrs = parsed[raw] = json.loads(raw)
            specs = [s for s in self._by_metric[base[i]] if _matches(attrs, s.attributes)]
            if not specs:
                continue
            t, value = float(batch.timestamps[i]), float(batch.values[i])
            start = math.nan if batch.start_timestamps is None else float(batch.start_timestamps[i])
            temporality = Temporality.UNSPECIFIED if batch.temporalities is None else int(batch.temporalities[i])
            kind = PointKind(int(kinds[i]))
            if kind in (PointKind.HISTOGRAM_COUNT, PointKind.HISTOGRAM_SUM):
                _, group = histograms.setdefault((base[i], raw, t), (specs, _Histogram(t, start, temporality)))
                if kind == PointKind.HISTOGRAM_SUM:
                    group.total = value
                else:
                    group.count = value
                    if batch.bounds is not None and batch.bucket_counts is not None:
                        group.bounds, group.counts = batch.bounds[i], batch.bucket_counts[i]
                continue
            if kind != PointKind.GAUGE:
                rate = self._rate((base[i], raw), t, start, value, temporality, kind == PointKind.MONOTONIC_SUM)
                if rate is None:
                    continue
                value = rate
            out.extend((spec.name, t, value) for spec in specs)
        for (name, raw, _), (specs, group) in histograms.items():
            out.extend(self._histogram((name, raw), specs, group))
        self._forget()
        if not out:
            return None
        kpis, stamps, values = zip(*out, strict=True)
        for kpi, t, value in out:
            self._note(kpi, t, value)
        return MetricBatch(
            names=np.full(len(out), KPI_SERIES, dtype=object),
            timestamps=np.asarray(stamps, dtype=np.float64),
            values=np.asarray(values, dtype=np.float64),
            attributes=np.asarray([_kpi_labels(k) for k in kpis], dtype=object),
        )

    # -- derivations ---------------------------------------------------------------------------
    def _rate(
        self, key: tuple[str, str], t: float, start: float, value: float, temporality: int, monotonic: bool
    ) -> float | None:
        if temporality == Temporality.DELTA:
            return value / (t - start) if t > start else None  # NaN start compares False
        previous = self._last.get(key)
        if previous is not None and t <= previous.t:
            return None  # a repeat or an older point: no interval to measure
        self._last[key] = _Last(t, start, value, math.nan, None, None)
        if previous is None:
            return None
        if _restarted(start, previous.start) or (monotonic and value < previous.value):
            return value / (t - start) if t > start else None  # restarted: counted since its new start
        return (value - previous.value) / (t - previous.t)

    def _histogram(self, key: tuple[str, str], specs: list[KpiSpec], group: _Histogram) -> list[tuple[str, float, float]]:
        count, total, counts = group.count, group.total, group.counts
        if math.isnan(count):
            return []  # a lone .sum point: nothing to divide by
        if group.temporality != Temporality.DELTA:
            previous = self._last.get(key)
            if previous is not None and group.t <= previous.t:
                return []
            self._last[key] = _Last(group.t, group.start, count, total, group.bounds, group.counts)
            if previous is None:
                return []
            if not (_restarted(group.start, previous.start) or count < previous.value):
                count, total = count - previous.value, total - previous.total
                same_buckets = (
                    counts is not None
                    and previous.counts is not None
                    and previous.bounds is not None
                    and group.bounds is not None
                    and np.array_equal(previous.bounds, group.bounds)
                )
                counts = counts - previous.counts if same_buckets else None  # type: ignore[operator]
        if not count > 0:
            return []
        out: list[tuple[str, float, float]] = []
        for spec in specs:
            if not math.isnan(total):
                out.append((spec.name, group.t, total / count))
            if spec.quantiles and counts is not None and group.bounds is not None:
                values = histogram_quantiles(group.bounds, counts, spec.quantiles)
                out.extend(
                    (spec.name + quantile_suffix(q), group.t, float(v))
                    for q, v in zip(spec.quantiles, values.tolist(), strict=True)
                    if math.isfinite(v)
                )
        return out

    # -- the newest values, for /metrics -------------------------------------------------------
    def _note(self, kpi: str, t: float, value: float) -> None:
        previous = self.latest.get(kpi)
        if previous is None and len(self.latest) >= MAX_EXPOSED:
            return  # bounded /metrics cardinality: the series store still has every KPI
        if previous is None or t >= previous[0]:
            self.latest[kpi] = (t, value)

    def _note_direct(self, batch: MetricBatch, rows: npt.NDArray[np.intp]) -> None:
        """Newest value per label set among KPI values that arrived as such (one parse per label set)."""
        if not rows.size:
            return
        _, group = np.unique(batch.attributes[rows].astype(str), return_inverse=True)
        order = np.lexsort((batch.timestamps[rows], group))
        newest = order[np.r_[group[order][1:] != group[order][:-1], True]]  # the last row of each group
        for i in rows[newest].tolist():
            kpi = json.loads(str(batch.attributes[i])).get("kpi")
            if isinstance(kpi, str):
                self._note(kpi, float(batch.timestamps[i]), float(batch.values[i]))

    def _forget(self) -> None:
        if len(self._last) > self.max_sources:
            oldest = sorted(self._last, key=lambda k: self._last[k].t)[: len(self._last) - self.max_sources]
            for key in oldest:
                del self._last[key]

    # -- checkpoint state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "last": [
                [name, raw, p.t, p.start, p.value, p.total, _listed(p.bounds), _listed(p.counts)]
                for (name, raw), p in self._last.items()
            ],
            "latest": [[kpi, t, value] for kpi, (t, value) in self.latest.items()],
        }

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Continue from :meth:`state_dict` (``None``: start empty)."""
        if not state:
            return
        for name, raw, t, start, value, total, bounds, counts in state["last"]:
            self._last[(name, raw)] = _Last(float(t), float(start), float(value), float(total), _array(bounds), _array(counts))
        self.latest = {kpi: (float(t), float(value)) for kpi, t, value in state["latest"]}


def _restarted(start: float, previous_start: float) -> bool:
    """A known start time that moved: the sender restarted its aggregation."""
    return not math.isnan(start) and start != previous_start


def _matches(attributes: dict[str, Any], wanted: dict[str, str]) -> bool:
    return all(key in attributes and label_text(attributes[key]) == value for key, value in wanted.items())


def _kpi_labels(kpi: str) -> str:
    return json.dumps({"kpi": kpi}, separators=(",", ":"))


def _listed(values: FloatArray | None) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


def _array(values: list[float] | None) -> FloatArray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)
