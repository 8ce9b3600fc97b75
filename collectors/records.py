"""Normalised, columnar records: what every collector produces and the pipeline consumes.

A batch holds one column per field as a numpy array, so the statistics downstream
work on whole columns. Numeric nulls are ``NaN`` (decoders reject real NaN/inf
values, so ``NaN`` is unambiguous); categorical columns are object arrays of
``str`` or ``None``.

Every batch converts to and from an Arrow ``RecordBatch``: that is the format of
the durable ingest log and of the Arrow flavour of the columnar batch API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = [
    "Batch",
    "Column",
    "InferenceBatch",
    "Kind",
    "LabelBatch",
    "MetricBatch",
    "PointKind",
    "Temporality",
    "batch_from_arrow",
]

Kind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

_FEATURE_PREFIX = "f:"


@dataclass(frozen=True, slots=True)
class Column:
    """One typed column: float64 with NaN for nulls, or object (str | None)."""

    kind: Kind
    values: FloatArray | ObjectArray

    def to_arrow(self) -> pa.Array:
        if self.kind == "numeric":
            return pa.array(self.values, type=pa.float64())
        return pa.array(self.values, type=pa.string())

    @staticmethod
    def from_arrow(array: pa.Array | pa.ChunkedArray) -> Column:
        if pa.types.is_floating(array.type) or pa.types.is_integer(array.type):
            values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
            return Column("numeric", values)
        return Column("categorical", np.asarray(array.to_numpy(zero_copy_only=False), dtype=object))


@dataclass(frozen=True, slots=True)
class InferenceBatch:
    """Predictions of one (model, version), one row per ``ml.inference`` event."""

    model: str
    version: str
    timestamps: FloatArray
    prediction_ids: ObjectArray
    predictions: Column
    scores: FloatArray
    latencies: FloatArray
    features: dict[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def to_arrow(self) -> pa.RecordBatch:
        arrays = [
            pa.array(self.timestamps, type=pa.float64()),
            pa.array(self.prediction_ids, type=pa.string()),
            self.predictions.to_arrow(),
            pa.array(self.scores, type=pa.float64()),
            pa.array(self.latencies, type=pa.float64()),
        ]
        names = ["timestamp", "prediction_id", "prediction", "score", "latency"]
        for name, column in self.features.items():
            arrays.append(column.to_arrow())
            names.append(_FEATURE_PREFIX + name)
        metadata = {b"kind": b"inference", b"model": self.model.encode(), b"version": self.version.encode()}
        return pa.RecordBatch.from_arrays(arrays, names=names).replace_schema_metadata(metadata)

    @staticmethod
    def from_arrow(batch: pa.RecordBatch) -> InferenceBatch:
        meta = batch.schema.metadata or {}
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        return InferenceBatch(
            model=meta[b"model"].decode(),
            version=meta[b"version"].decode(),
            timestamps=_floats(columns["timestamp"]),
            prediction_ids=np.asarray(columns["prediction_id"].to_numpy(zero_copy_only=False), dtype=object),
            predictions=Column.from_arrow(columns["prediction"]),
            scores=_floats(columns["score"]),
            latencies=_floats(columns["latency"]),
            features={
                name[len(_FEATURE_PREFIX) :]: Column.from_arrow(array)
                for name, array in columns.items()
                if name.startswith(_FEATURE_PREFIX)
            },
        )


@dataclass(frozen=True, slots=True)
class LabelBatch:
    """Ground truth arriving after the fact, joined to predictions by ``prediction_id``."""

    timestamps: FloatArray
    prediction_ids: ObjectArray
    labels: Column

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def to_arrow(self) -> pa.RecordBatch:
        arrays = [
            pa.array(self.timestamps, type=pa.float64()),
            pa.array(self.prediction_ids, type=pa.string()),
            self.labels.to_arrow(),
        ]
        batch = pa.RecordBatch.from_arrays(arrays, names=["timestamp", "prediction_id", "label"])
        return batch.replace_schema_metadata({b"kind": b"labels"})

    @staticmethod
    def from_arrow(batch: pa.RecordBatch) -> LabelBatch:
        return LabelBatch(
            timestamps=_floats(batch.column("timestamp")),
            prediction_ids=np.asarray(batch.column("prediction_id").to_numpy(zero_copy_only=False), dtype=object),
            labels=Column.from_arrow(batch.column("label")),
        )


class PointKind(IntEnum):
    """What a metric point is, so values can be read correctly downstream (e.g. as KPIs).

    Histograms (and summaries) are flattened into a ``<name>.count`` and a ``<name>.sum``
    point; the count point also carries the bucket bounds and counts when there are any.
    """

    GAUGE = 0  # a value; also every point of unknown kind (scrapes, imports)
    SUM = 1  # a non-monotonic sum (up-down counter)
    MONOTONIC_SUM = 2  # a counter: a drop in a cumulative one means a reset
    HISTOGRAM_COUNT = 3
    HISTOGRAM_SUM = 4


class Temporality(IntEnum):
    """OTLP ``AggregationTemporality`` of sums and histograms (the same numbers)."""

    UNSPECIFIED = 0
    DELTA = 1
    CUMULATIVE = 2


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """Metric data points (GPU telemetry, KPIs, anything numeric over time).

    The first four columns are all most readers need. The optional ones keep what a
    value means: ``kinds`` (:class:`PointKind`) and ``temporalities`` (:class:`Temporality`)
    as uint8 codes, ``start_timestamps`` (start of a sum's or histogram's aggregation
    interval, ``NaN`` if unknown), and per point ``bounds`` / ``bucket_counts`` (float64
    arrays for histogram count points, ``None`` elsewhere). ``None`` columns mean gauges.
    """

    names: ObjectArray
    timestamps: FloatArray
    values: FloatArray
    attributes: ObjectArray  # canonical JSON object per point (sorted keys)
    kinds: npt.NDArray[np.uint8] | None = None
    temporalities: npt.NDArray[np.uint8] | None = None
    start_timestamps: FloatArray | None = None
    bounds: ObjectArray | None = None
    bucket_counts: ObjectArray | None = None

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def to_arrow(self) -> pa.RecordBatch:
        arrays = [
            pa.array(self.names, type=pa.string()),
            pa.array(self.timestamps, type=pa.float64()),
            pa.array(self.values, type=pa.float64()),
            pa.array(self.attributes, type=pa.string()),
        ]
        names = ["name", "timestamp", "value", "attributes"]
        optional = [
            ("kind", self.kinds, pa.uint8()),
            ("temporality", self.temporalities, pa.uint8()),
            ("start_timestamp", self.start_timestamps, pa.float64()),
            ("bounds", self.bounds, pa.list_(pa.float64())),
            ("bucket_counts", self.bucket_counts, pa.list_(pa.float64())),
        ]
        for name, column, arrow_type in optional:
            if column is not None:
                arrays.append(pa.array(column, type=arrow_type))
                names.append(name)
        batch = pa.RecordBatch.from_arrays(arrays, names=names)
        return batch.replace_schema_metadata({b"kind": b"metrics"})

    @staticmethod
    def from_arrow(batch: pa.RecordBatch) -> MetricBatch:
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))

        def codes(name: str) -> npt.NDArray[np.uint8] | None:
            return None if name not in columns else np.asarray(columns[name].to_numpy(zero_copy_only=False), dtype=np.uint8)

        def lists(name: str) -> ObjectArray | None:
            if name not in columns:
                return None
            out = np.empty(len(batch), dtype=object)
            out[:] = [None if v is None else np.asarray(v, dtype=np.float64) for v in columns[name].to_pylist()]
            return out

        return MetricBatch(
            names=np.asarray(columns["name"].to_numpy(zero_copy_only=False), dtype=object),
            timestamps=_floats(columns["timestamp"]),
            values=_floats(columns["value"]),
            attributes=np.asarray(columns["attributes"].to_numpy(zero_copy_only=False), dtype=object),
            kinds=codes("kind"),
            temporalities=codes("temporality"),
            start_timestamps=_floats(columns["start_timestamp"]) if "start_timestamp" in columns else None,
            bounds=lists("bounds"),
            bucket_counts=lists("bucket_counts"),
        )


Batch = InferenceBatch | LabelBatch | MetricBatch


def batch_from_arrow(batch: pa.RecordBatch) -> Batch:
    """Rebuild whichever batch type an Arrow batch was written from."""
    kind = (batch.schema.metadata or {}).get(b"kind")
    if kind == b"inference":
        return InferenceBatch.from_arrow(batch)
    if kind == b"labels":
        return LabelBatch.from_arrow(batch)
    if kind == b"metrics":
        return MetricBatch.from_arrow(batch)
    raise ValueError(f"Arrow batch metadata 'kind' must be inference, labels or metrics, got {kind!r}")


def _floats(array: pa.Array | pa.ChunkedArray) -> FloatArray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
