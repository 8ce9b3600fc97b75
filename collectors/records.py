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


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """Metric data points (GPU telemetry, KPIs, anything numeric over time)."""

    names: ObjectArray
    timestamps: FloatArray
    values: FloatArray
    attributes: ObjectArray  # canonical JSON object per point (sorted keys)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def to_arrow(self) -> pa.RecordBatch:
        arrays = [
            pa.array(self.names, type=pa.string()),
            pa.array(self.timestamps, type=pa.float64()),
            pa.array(self.values, type=pa.float64()),
            pa.array(self.attributes, type=pa.string()),
        ]
        batch = pa.RecordBatch.from_arrays(arrays, names=["name", "timestamp", "value", "attributes"])
        return batch.replace_schema_metadata({b"kind": b"metrics"})

    @staticmethod
    def from_arrow(batch: pa.RecordBatch) -> MetricBatch:
        return MetricBatch(
            names=np.asarray(batch.column("name").to_numpy(zero_copy_only=False), dtype=object),
            timestamps=_floats(batch.column("timestamp")),
            values=_floats(batch.column("value")),
            attributes=np.asarray(batch.column("attributes").to_numpy(zero_copy_only=False), dtype=object),
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
