"""Model-side time series, written from every inference batch into the series rollup.

Per (model, version), labels ``{"model": …, "version": …}``:

=====================================  =========================================================
series                                 each point is
=====================================  =========================================================
``driftline.model.predictions``        one prediction (value 1): a bucket's ``count`` is the
                                       number of predictions in it
``driftline.model.latency``            ``ml.latency`` in seconds (events without one are left out)
``driftline.model.latency.p50``        the bucket's latency percentile so far; read ``last``
``driftline.model.latency.p95``        (see below)
``driftline.model.latency.p99``
``driftline.model.score``              ``ml.prediction.score``; ``sum / count`` is the mean score
=====================================  =========================================================

Percentiles are not mergeable from count/sum/min/max, so each open latency bucket also keeps a
log-binned histogram (:func:`latency_bins`, 1 % relative accuracy from 1 µs to 1e5 s, like
DDSketch) that adds up across batches. After every batch the touched buckets' percentiles are
re-read from their histograms and written as one point stamped with the newest event time in
the bucket, so a bucket's ``last`` is always the percentile of every latency it holds. The
histogram of a bucket is dropped once the model's newest event is ``lateness`` past the
bucket's end (when the rollup closes it too); latencies later than that still count in
``driftline.model.latency`` but no longer move its percentiles.

All of it is numpy over the batch's columns, grouped by bucket; Python loops only over the
(few) buckets a batch touches.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from monitor.series import SeriesRollup

__all__ = [
    "LATENCY",
    "LATENCY_QUANTILES",
    "PREDICTIONS",
    "SCORE",
    "BucketGroups",
    "ModelSeries",
    "bucket_reduce",
    "latency_bins",
    "quantiles_from_bins",
]

PREDICTIONS = "driftline.model.predictions"
LATENCY = "driftline.model.latency"
SCORE = "driftline.model.score"
#: Series name → quantile of the latency percentiles written per bucket.
LATENCY_QUANTILES = {f"{LATENCY}.p50": 0.5, f"{LATENCY}.p95": 0.95, f"{LATENCY}.p99": 0.99}

_ACCURACY = 0.01  # relative accuracy of the latency histogram
_GAMMA = (1 + _ACCURACY) / (1 - _ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_LOW = 1e-6  # seconds; everything at or below falls into bin 0
_HIGH = 1e5  # seconds; everything above falls into the last bin
N_BINS = math.ceil(math.log(_HIGH / _LOW) / _LOG_GAMMA) + 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class BucketGroups(NamedTuple):
    """One row per bucket: its start and the rollup of the values in it (sorted by start)."""

    starts: FloatArray
    counts: IntArray
    sums: FloatArray
    mins: FloatArray
    maxs: FloatArray
    lasts: FloatArray
    last_ts: FloatArray
    group_of: IntArray  # for each input value (in input order), the row of its bucket


def bucket_reduce(t: FloatArray, v: FloatArray, resolution: float) -> BucketGroups:
    """Reduce values to count/sum/min/max/last per ``resolution``-wide bucket of their timestamps.

    ``last`` is the value with the newest timestamp (the later one in input order on ties).

    Examples
    --------
    >>> g = bucket_reduce(np.array([61.0, 5.0, 70.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0]), 60)
    >>> g.starts.tolist(), g.counts.tolist(), g.sums.tolist(), g.lasts.tolist(), g.group_of.tolist()
    ([0.0, 60.0], [2, 2], [6.0, 4.0], [2.0, 3.0], [1, 0, 1, 0])
    >>> g = bucket_reduce(np.array([9.0, 30.0, 30.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0]), 60)
    >>> g.starts.tolist(), g.counts.tolist(), g.lasts.tolist(), g.last_ts.tolist()
    ([0.0], [4], [3.0], [30.0])
    """
    starts = np.floor(t / resolution) * resolution
    if starts.size and starts[0] == starts.min() == starts.max():  # the usual batch: one bucket, no sort
        newest = t.size - 1 - int(np.argmax(t[::-1]))  # the last of the newest in input order
        one = np.ones(1, dtype=np.int64)
        return BucketGroups(
            starts[:1], one * t.size, np.array([v.sum()]), np.array([v.min()]), np.array([v.max()]),
            v[newest : newest + 1], t[newest : newest + 1], np.zeros(t.size, dtype=np.int64),
        )  # fmt: skip
    order = np.lexsort((t, starts))
    s, ts, vs = starts[order], t[order], v[order]
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    last = np.r_[first[1:], s.size] - 1
    group_sorted = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    group_of = np.empty(t.size, dtype=np.int64)
    group_of[order] = group_sorted
    return BucketGroups(
        s[first],
        np.diff(np.r_[first, s.size]).astype(np.int64),
        np.add.reduceat(vs, first),
        np.minimum.reduceat(vs, first),
        np.maximum.reduceat(vs, first),
        vs[last],
        ts[last],
        group_of,
    )


def latency_bins(seconds: FloatArray) -> IntArray:
    """Histogram bin of each latency: bin ``i >= 1`` holds ``(1e-6 g^(i-1), 1e-6 g^i]``, g = 1.01/0.99.

    Examples
    --------
    >>> latency_bins(np.array([0.0, 1e-6, 0.010, 0.0102, 1e9])).tolist()
    [0, 0, 461, 462, 1267]
    """
    safe = np.maximum(seconds, _LOW)
    bins = np.ceil(np.log(safe / _LOW) / _LOG_GAMMA).astype(np.int64)
    return np.clip(bins, 0, N_BINS - 1)


def quantiles_from_bins(counts: IntArray, quantiles: list[float]) -> FloatArray:
    """Quantiles of each row of a 2-D bin-count array (rows without counts give NaN).

    The estimate for quantile ``q`` of ``n`` values is within 1 % (relative) of the sorted
    value at index ``floor(q (n - 1))`` (numpy's ``method="lower"``), for values in
    [1e-6, 1e5] s.

    Examples
    --------
    >>> values = np.array([0.010, 0.020, 0.030, 0.040, 1.0])
    >>> counts = np.bincount(latency_bins(values), minlength=N_BINS)[None, :]
    >>> np.round(quantiles_from_bins(counts, [0.5, 0.99]), 4).tolist()  # exact: 0.03, 0.04
    [[0.03, 0.0397]]
    """
    cumulative = np.cumsum(counts, axis=1)
    totals = cumulative[:, -1]
    out = np.full((counts.shape[0], len(quantiles)), np.nan)
    for j, q in enumerate(quantiles):
        rank = np.floor(q * (totals - 1))
        index = np.argmax(cumulative > rank[:, None], axis=1)
        value = np.where(index == 0, _LOW, _LOW * 2 * _GAMMA**index / (_GAMMA + 1))
        out[:, j] = np.where(totals > 0, value, np.nan)
    return out


def _labels(model: str, version: str) -> str:
    return json.dumps({"model": model, "version": version}, sort_keys=True, separators=(",", ":"))


class ModelSeries:
    """Writes the model-side series of inference batches into a :class:`SeriesRollup`.

    Owns the latency histograms of open buckets; the pipeline thread owns it and
    checkpoints :meth:`state_dict` with the rest of its state.

    Examples
    --------
    >>> rollup = SeriesRollup(resolution=60, lateness=0)
    >>> series = ModelSeries()
    >>> t = np.array([0.0, 10.0, 20.0]); latency = np.array([0.1, 0.2, np.nan]); score = np.array([0.2, 0.4, 0.9])
    >>> series.observe(rollup, "m", "v1", t, latency, score)
    >>> rollup.close_all()
    >>> {b.name: (b.count, round(b.sum, 3), round(b.last, 3)) for b in rollup.take_closed()}["driftline.model.latency"]
    (2, 0.3, 0.2)
    """

    def __init__(self) -> None:
        # (model, version) → bucket start → (bin counts, newest event time in the bucket)
        self._sketches: dict[tuple[str, str], dict[float, tuple[IntArray, float]]] = {}
        self._watermarks: dict[tuple[str, str], float] = {}

    def observe(
        self, rollup: SeriesRollup, model: str, version: str, timestamps: FloatArray, latencies: FloatArray, scores: FloatArray
    ) -> None:
        """Add one inference batch's columns to the model's series."""
        if timestamps.size == 0:
            return
        labels = _labels(model, version)
        resolution = rollup.resolution
        groups = bucket_reduce(timestamps, np.ones(timestamps.size), resolution)
        rollup.add_groups(PREDICTIONS, labels, *groups[:7])
        has_score = np.isfinite(scores)
        if has_score.any():
            rollup.add_groups(SCORE, labels, *bucket_reduce(timestamps[has_score], scores[has_score], resolution)[:7])
        has_latency = np.isfinite(latencies)
        if has_latency.any():
            latency = bucket_reduce(timestamps[has_latency], latencies[has_latency], resolution)
            rollup.add_groups(LATENCY, labels, *latency[:7])
            self._percentiles(rollup, (model, version), labels, latency, latencies[has_latency])
        key = (model, version)
        self._watermarks[key] = max(self._watermarks.get(key, -math.inf), float(timestamps.max()))
        horizon = self._watermarks[key] - resolution - rollup.lateness
        sketches = self._sketches.get(key, {})
        for start in [s for s in sketches if s <= horizon]:
            del sketches[start]

    def _percentiles(
        self, rollup: SeriesRollup, key: tuple[str, str], labels: str, groups: BucketGroups, latencies: FloatArray
    ) -> None:
        n_groups = groups.starts.size
        codes = groups.group_of * N_BINS + latency_bins(latencies)
        added = np.bincount(codes, minlength=n_groups * N_BINS).reshape(n_groups, N_BINS)
        sketches = self._sketches.setdefault(key, {})
        merged = np.empty_like(added)
        newest = np.empty(n_groups)
        for g, start in enumerate(groups.starts.tolist()):
            previous, previous_t = sketches.get(start, (None, -math.inf))
            merged[g] = added[g] if previous is None else previous + added[g]
            newest[g] = max(previous_t, float(groups.last_ts[g]))
            sketches[start] = (merged[g], float(newest[g]))
        values = quantiles_from_bins(merged, list(LATENCY_QUANTILES.values()))
        ones = np.ones(n_groups, dtype=np.int64)
        for j, name in enumerate(LATENCY_QUANTILES):
            v = values[:, j]
            rollup.add_groups(name, labels, groups.starts, ones, v, v, v, v, newest)

    # -- checkpoint state (monitor.statecodec-friendly) ------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rows = [(key, start, counts, t) for key, per in self._sketches.items() for start, (counts, t) in per.items()]
        return {
            "models": [key[0] for key, *_ in rows],
            "versions": [key[1] for key, *_ in rows],
            "starts": np.array([row[1] for row in rows], dtype=np.float64),
            "newest": np.array([row[3] for row in rows], dtype=np.float64),
            # Sparse: a bucket's histogram has a few dozen non-empty bins out of N_BINS.
            "bins": [np.flatnonzero(row[2]).astype(np.int64) for row in rows],
            "counts": [row[2][row[2] > 0].astype(np.int64) for row in rows],
            "watermark_keys": [list(key) for key in self._watermarks],
            "watermarks": np.array(list(self._watermarks.values()), dtype=np.float64),
        }

    @staticmethod
    def from_state(state: dict[str, Any] | None) -> ModelSeries:
        series = ModelSeries()
        if not state:
            return series
        for i, (model, version) in enumerate(zip(state["models"], state["versions"], strict=True)):
            counts = np.zeros(N_BINS, dtype=np.int64)
            counts[np.asarray(state["bins"][i], dtype=np.int64)] = np.asarray(state["counts"][i], dtype=np.int64)
            series._sketches.setdefault((model, version), {})[float(state["starts"][i])] = (counts, float(state["newest"][i]))
        for (model, version), mark in zip(state["watermark_keys"], state["watermarks"], strict=True):
            series._watermarks[(model, version)] = float(mark)
        return series
