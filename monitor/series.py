"""Metric points rolled up into fixed-resolution buckets (count, sum, min, max, last).

A *series* is one metric name with one canonical attribute set (the JSON string
the OTLP decoder writes). Each series keeps its open buckets in memory, owned by
the pipeline thread and checkpointed with the rest of its state.

When a bucket is written (the rules the pipeline follows):

* **watermark** — as soon as the newest point of *that series* is at least
  ``allowed_lateness`` past the bucket's end;
* **wall clock** — on the pipeline's step, once ``now`` is ``allowed_lateness``
  past the bucket's end (so a series that goes silent still gets written).

Written buckets go into the ``series_points`` table in the pipeline's checkpoint
transaction. A point that arrives later still, for a bucket already written,
opens a fresh bucket for the same slot; when that one is written it is *merged*
into the stored row by an UPSERT (count and sum add, min/max combine, ``last``
is the value with the newest timestamp), so late points are never dropped.

Examples
--------
>>> rollup = SeriesRollup(resolution=60, lateness=0)
>>> rollup.add("cpu", "{}", 0.0, 1.0); rollup.add("cpu", "{}", 30.0, 3.0)
>>> rollup.add("cpu", "{}", 61.0, 5.0)  # watermark 61 passes the first bucket's end
>>> [(b.start, b.count, b.sum, b.min, b.max, b.last) for b in rollup.take_closed()]
[(0.0, 2, 4.0, 1.0, 3.0, 3.0)]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, case, delete
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.tables import series_points

__all__ = ["Bucket", "SeriesRollup", "merge_buckets", "prune_series", "write_buckets"]


@dataclass(slots=True)
class Bucket:
    """One series' rollup over ``[start, start + resolution)``."""

    name: str
    labels: str  # canonical JSON object (sorted keys)
    resolution: int
    start: float
    count: int
    sum: float
    min: float
    max: float
    last: float
    last_t: float

    def copy(self) -> Bucket:
        return dataclasses.replace(self)

    def to_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": self.labels,
            "resolution": self.resolution,
            "bucket_start": self.start,
            "count": self.count,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
            "last": self.last,
            "last_t": self.last_t,
        }


def merge_buckets(a: Bucket, b: Bucket) -> Bucket:
    """The rollup of both buckets' points (same series and slot)."""
    newer = b if b.last_t >= a.last_t else a
    return Bucket(
        a.name,
        a.labels,
        a.resolution,
        a.start,
        a.count + b.count,
        a.sum + b.sum,
        min(a.min, b.min),
        max(a.max, b.max),
        newer.last,
        newer.last_t,
    )


class SeriesRollup:
    """Open buckets of every series; not thread-safe (the pipeline thread owns it)."""

    def __init__(self, resolution: int, lateness: float) -> None:
        self.resolution = int(resolution)
        self.lateness = float(lateness)
        self.open: dict[tuple[str, str], dict[float, Bucket]] = {}
        self.watermarks: dict[tuple[str, str], float] = {}
        self._closed: list[Bucket] = []

    def add(self, name: str, labels: str, t: float, value: float) -> None:
        """Add one point (a batch of one)."""
        self.add_many([name], [labels], [t], [value])

    def add_many(self, names: npt.ArrayLike, labels: npt.ArrayLike, stamps: npt.ArrayLike, values: npt.ArrayLike) -> None:
        """Add a batch of points: reduced per (series, bucket) with numpy, then merged per group.

        Buckets close once the whole batch is in, against each series' new watermark.
        """
        t = np.asarray(stamps, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.size == 0:
            return
        # Codes by first appearance (a dict is far cheaper than sorting long label strings).
        series: dict[tuple[str, str], int] = {}
        codes = [
            series.setdefault(key, len(series))
            for key in zip(np.asarray(names).tolist(), np.asarray(labels).tolist(), strict=True)
        ]
        series_of = np.asarray(codes, dtype=np.int64)
        keys_of = list(series)
        starts = np.floor(t / self.resolution) * self.resolution
        # Sorted by series, then bucket, then time (stable: equal times keep input order).
        order = np.lexsort((t, starts, series_of))
        t, v, starts, series_of = t[order], v[order], starts[order], series_of[order]
        first = np.flatnonzero(np.r_[True, (series_of[1:] != series_of[:-1]) | (starts[1:] != starts[:-1])])
        last = np.r_[first[1:], t.size] - 1
        self._merge_groups(
            [keys_of[code] for code in series_of[first].tolist()],
            starts[first],
            np.diff(np.r_[first, t.size]),
            np.add.reduceat(v, first),
            np.minimum.reduceat(v, first),
            np.maximum.reduceat(v, first),
            v[last],
            t[last],
        )

    def add_groups(
        self,
        name: str,
        labels: str,
        starts: npt.NDArray[np.float64],
        counts: npt.NDArray[np.int64],
        sums: npt.NDArray[np.float64],
        mins: npt.NDArray[np.float64],
        maxs: npt.NDArray[np.float64],
        lasts: npt.NDArray[np.float64],
        last_ts: npt.NDArray[np.float64],
    ) -> None:
        """Add points already reduced per bucket (one row per bucket start) to one series."""
        self._merge_groups([(name, labels)] * len(starts), starts, counts, sums, mins, maxs, lasts, last_ts)

    def _merge_groups(
        self,
        keys: list[tuple[str, str]],
        starts: npt.NDArray[np.float64],
        counts: npt.NDArray[np.int64],
        sums: npt.NDArray[np.float64],
        mins: npt.NDArray[np.float64],
        maxs: npt.NDArray[np.float64],
        lasts: npt.NDArray[np.float64],
        last_ts: npt.NDArray[np.float64],
    ) -> None:
        """Merge one reduced group per (series, bucket) into the open buckets, then close what is due."""
        rows = zip(
            keys, starts.tolist(), counts.tolist(), sums.tolist(), mins.tolist(), maxs.tolist(), lasts.tolist(),
            last_ts.tolist(), strict=True,
        )  # fmt: skip
        touched: set[tuple[str, str]] = set()
        for key, start, count, total, low, high, final, final_t in rows:
            group = Bucket(key[0], key[1], self.resolution, start, int(count), total, low, high, final, final_t)
            buckets = self.open.setdefault(key, {})
            previous = buckets.get(start)
            buckets[start] = group if previous is None else merge_buckets(previous, group)
            if final_t > self.watermarks.get(key, -math.inf):
                self.watermarks[key] = final_t
            touched.add(key)
        for key in touched:
            self._close_before(key, self.watermarks[key])

    def close_due(self, now: float) -> int:
        """Close every bucket whose end plus the lateness is before ``now``; returns how many."""
        before = len(self._closed)
        for key in list(self.open):
            self._close_before(key, now)
        return len(self._closed) - before

    def close_all(self) -> None:
        for key in list(self.open):
            self._close_before(key, math.inf)

    def _close_before(self, key: tuple[str, str], horizon: float) -> None:
        buckets = self.open[key]
        for start in [s for s in buckets if s + self.resolution + self.lateness <= horizon]:
            self._closed.append(buckets.pop(start))
        if not buckets:
            del self.open[key]

    def take_closed(self) -> list[Bucket]:
        """Buckets closed since the last call (the caller writes them)."""
        closed, self._closed = self._closed, []
        return closed

    def snapshot(self, name: str) -> list[Bucket]:
        """Copies of the not-yet-taken buckets of every series called ``name``."""
        out = [b.copy() for b in self._closed if b.name == name]
        for (series, _labels), buckets in self.open.items():
            if series == name:
                out.extend(b.copy() for b in buckets.values())
        return out

    # -- checkpoint state (monitor.statecodec-friendly: columns as numpy arrays) --------------
    def state_dict(self) -> dict[str, Any]:
        buckets = [b for per in self.open.values() for b in per.values()] + self._closed
        return {
            "resolution": self.resolution,
            "names": [b.name for b in buckets],
            "labels": [b.labels for b in buckets],
            "closed": np.arange(len(buckets)) >= len(buckets) - len(self._closed),
            "start": np.array([b.start for b in buckets], dtype=np.float64),
            "count": np.array([b.count for b in buckets], dtype=np.int64),
            "sum": np.array([b.sum for b in buckets], dtype=np.float64),
            "min": np.array([b.min for b in buckets], dtype=np.float64),
            "max": np.array([b.max for b in buckets], dtype=np.float64),
            "last": np.array([b.last for b in buckets], dtype=np.float64),
            "last_t": np.array([b.last_t for b in buckets], dtype=np.float64),
            "watermark_names": [name for name, _ in self.watermarks],
            "watermark_labels": [labels for _, labels in self.watermarks],
            "watermarks": np.array(list(self.watermarks.values()), dtype=np.float64),
        }

    @staticmethod
    def from_state(state: dict[str, Any] | None, resolution: int, lateness: float) -> SeriesRollup:
        """Rebuild from :meth:`state_dict`; buckets of another resolution are closed at once."""
        rollup = SeriesRollup(resolution, lateness)
        if not state:
            return rollup
        old_resolution = int(state["resolution"])
        for i, name in enumerate(state["names"]):
            bucket = Bucket(
                name,
                state["labels"][i],
                old_resolution,
                float(state["start"][i]),
                int(state["count"][i]),
                float(state["sum"][i]),
                float(state["min"][i]),
                float(state["max"][i]),
                float(state["last"][i]),
                float(state["last_t"][i]),
            )
            if bool(state["closed"][i]) or old_resolution != rollup.resolution:
                rollup._closed.append(bucket)
            else:
                rollup.open.setdefault((bucket.name, bucket.labels), {})[bucket.start] = bucket
        for name, labels, mark in zip(state["watermark_names"], state["watermark_labels"], state["watermarks"], strict=True):
            rollup.watermarks[(name, labels)] = float(mark)
        return rollup


def write_buckets(connection: Connection, buckets: list[Bucket]) -> None:
    """Insert closed buckets, merging into any stored row for the same slot (SQLite and PostgreSQL)."""
    if not buckets:
        return
    statement = _upsert(connection.dialect.name)
    # Several buckets for one slot in a batch would make PostgreSQL refuse the UPSERT; merge first.
    merged: dict[tuple[str, str, int, float], Bucket] = {}
    for bucket in buckets:
        key = (bucket.name, bucket.labels, bucket.resolution, bucket.start)
        merged[key] = merge_buckets(merged[key], bucket) if key in merged else bucket
    rows = [b.to_row() for b in merged.values()]
    for i in range(0, len(rows), 500):
        connection.execute(statement, rows[i : i + 500])


@functools.cache
def _upsert(dialect: str) -> Any:
    """The bucket UPSERT for ``dialect``, built once.

    Each build makes an ``excluded`` alias of the table whose columns refer to each other in
    cycles; building it per checkpoint left that garbage for the cyclic collector every time.
    """
    if dialect == "sqlite":
        statement: Any = sqlite.insert(series_points)
    elif dialect == "postgresql":
        statement = postgresql.insert(series_points)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise ValueError(f"db_url dialect {dialect!r} is not supported for series; use sqlite or postgresql")
    new = statement.excluded
    old = series_points.c
    return statement.on_conflict_do_update(
        index_elements=["name", "labels", "resolution", "bucket_start"],
        set_={
            "count": old.count + new.count,
            "sum": old.sum + new.sum,
            "min": case((new.min < old.min, new.min), else_=old.min),
            "max": case((new.max > old.max, new.max), else_=old.max),
            "last": case((new.last_t >= old.last_t, new.last), else_=old.last),
            "last_t": case((new.last_t >= old.last_t, new.last_t), else_=old.last_t),
        },
    )


def prune_series(connection: Connection, older_than: float) -> int:
    """Delete buckets that start before ``older_than``; returns the row count."""
    result = connection.execute(delete(series_points).where(series_points.c.bucket_start < older_than))
    return int(result.rowcount or 0)
