"""Tests for collectors.records (Arrow round trips) and the ingest log's entry encoding."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from collectors.records import Batch, Column, InferenceBatch, LabelBatch, MetricBatch, PointKind, Temporality, batch_from_arrow
from monitor.ingest_log import decode_entry, encode_entry

T0 = 1_700_000_000.0


def objects(*values: object) -> np.ndarray:
    return np.asarray(values, dtype=object)


def inference_batch(seed: int = 0, n: int = 5, model: str = "churn", version: str = "v1") -> InferenceBatch:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=n)
    numeric[1] = np.nan
    scores = rng.random(n)
    scores[0] = np.nan
    cities = objects(*(["Oslo", None, "Lima", "Oslo", "Pune"] * n)[:n])
    return InferenceBatch(
        model=model,
        version=version,
        timestamps=T0 + np.arange(n, dtype=np.float64) * 0.125,
        prediction_ids=objects(*[f"p{i}" if i != 2 else None for i in range(n)]),
        predictions=Column("categorical", objects(*(["yes", "no", None] * n)[:n])),
        scores=scores,
        latencies=np.full(n, np.nan),
        features={
            "age": Column("numeric", numeric),
            "city": Column("categorical", cities),
            "all_null": Column("numeric", np.full(n, np.nan)),
            "no_cat": Column("categorical", np.full(n, None, dtype=object)),
        },
    )


def label_batch(kind: str = "categorical") -> LabelBatch:
    labels = (
        Column("numeric", np.array([1.0, np.nan, 0.5])) if kind == "numeric" else Column("categorical", objects("a", None, "b"))
    )
    return LabelBatch(timestamps=np.array([T0, T0 + 1, T0 + 2]), prediction_ids=objects("p0", "p1", None), labels=labels)


def metric_batch() -> MetricBatch:
    return MetricBatch(
        names=objects("gpu.util", "gpu.util", "kpi.revenue"),
        timestamps=np.array([T0, T0 + 10, T0 + 20]),
        values=np.array([0.5, -0.0, 1e300]),
        attributes=objects('{"gpu":"0"}', '{"gpu":"1"}', "{}"),
    )


def assert_float_equal(a: np.ndarray, b: np.ndarray) -> None:
    """Equal including NaN positions, and the same dtype."""
    assert a.dtype == b.dtype == np.float64
    np.testing.assert_array_equal(a, b)  # treats NaN == NaN


def assert_column_equal(a: Column, b: Column) -> None:
    assert a.kind == b.kind
    if a.kind == "numeric":
        assert_float_equal(np.asarray(a.values), np.asarray(b.values))
    else:
        assert a.values.dtype == b.values.dtype == object
        assert a.values.tolist() == b.values.tolist()


def assert_batch_equal(a: Batch, b: Batch) -> None:
    assert type(a) is type(b)
    if isinstance(a, InferenceBatch):
        assert isinstance(b, InferenceBatch)
        assert (a.model, a.version) == (b.model, b.version)
        assert_float_equal(a.timestamps, b.timestamps)
        assert a.prediction_ids.tolist() == b.prediction_ids.tolist()
        assert_column_equal(a.predictions, b.predictions)
        assert_float_equal(a.scores, b.scores)
        assert_float_equal(a.latencies, b.latencies)
        assert list(a.features) == list(b.features)
        for name in a.features:
            assert_column_equal(a.features[name], b.features[name])
    elif isinstance(a, LabelBatch):
        assert isinstance(b, LabelBatch)
        assert_float_equal(a.timestamps, b.timestamps)
        assert a.prediction_ids.tolist() == b.prediction_ids.tolist()
        assert_column_equal(a.labels, b.labels)
    else:
        assert isinstance(a, MetricBatch)
        assert isinstance(b, MetricBatch)
        assert a.names.tolist() == b.names.tolist()
        assert_float_equal(a.timestamps, b.timestamps)
        assert_float_equal(a.values, b.values)
        assert a.attributes.tolist() == b.attributes.tolist()


# --- Arrow round trips ------------------------------------------------------------


def test_inference_batch_round_trip_keeps_values_nan_and_none() -> None:
    original = inference_batch(seed=3)
    record_batch = original.to_arrow()
    assert record_batch.schema.metadata == {b"kind": b"inference", b"model": b"churn", b"version": b"v1"}
    assert record_batch.schema.names == [
        "timestamp",
        "prediction_id",
        "prediction",
        "score",
        "latency",
        "f:age",
        "f:city",
        "f:all_null",
        "f:no_cat",
    ]
    back = InferenceBatch.from_arrow(record_batch)
    assert_batch_equal(original, back)
    # NaN stays a NaN value in Arrow (nulls would be a different thing), None becomes null.
    assert record_batch.column("f:age").null_count == 0
    assert record_batch.column("f:city").null_count == 1
    assert back.prediction_ids.tolist()[2] is None
    assert math.isnan(back.features["age"].values[1])


@pytest.mark.parametrize("kind", ["categorical", "numeric"])
def test_label_batch_round_trip(kind: str) -> None:
    original = label_batch(kind)
    back = LabelBatch.from_arrow(original.to_arrow())
    assert_batch_equal(original, back)
    assert back.labels.kind == kind


def test_metric_batch_round_trip() -> None:
    original = metric_batch()
    back = MetricBatch.from_arrow(original.to_arrow())
    assert_batch_equal(original, back)
    assert math.copysign(1.0, back.values[1]) == -1.0  # bit-exact, even the sign of zero


def test_metric_batch_meaning_columns_round_trip() -> None:
    bounds = np.empty(2, dtype=object)
    bounds[:] = [np.array([0.1, 0.5]), None]
    counts = np.empty(2, dtype=object)
    counts[:] = [np.array([1.0, 2.0, 3.0]), None]
    original = MetricBatch(
        names=objects("lat.count", "orders"),
        timestamps=np.array([1.0, 2.0]),
        values=np.array([6.0, 10.0]),
        attributes=objects("{}", "{}"),
        kinds=np.array([PointKind.HISTOGRAM_COUNT, PointKind.MONOTONIC_SUM], dtype=np.uint8),
        temporalities=np.array([Temporality.DELTA, Temporality.CUMULATIVE], dtype=np.uint8),
        start_timestamps=np.array([0.5, np.nan]),
        bounds=bounds,
        bucket_counts=counts,
    )
    back = MetricBatch.from_arrow(original.to_arrow())
    assert back.kinds is not None
    assert back.kinds.tolist() == [PointKind.HISTOGRAM_COUNT, PointKind.MONOTONIC_SUM]
    assert back.temporalities is not None
    assert back.temporalities.tolist() == [1, 2]
    assert back.start_timestamps is not None
    assert back.start_timestamps[0] == 0.5
    assert np.isnan(back.start_timestamps[1])
    assert back.bounds is not None
    assert back.bounds[0].tolist() == [0.1, 0.5]
    assert back.bounds[1] is None
    assert back.bucket_counts is not None
    assert back.bucket_counts[0].tolist() == [1.0, 2.0, 3.0]
    plain = MetricBatch.from_arrow(metric_batch().to_arrow())  # entries logged before these columns existed
    assert (plain.kinds, plain.temporalities, plain.start_timestamps, plain.bounds) == (None, None, None, None)


def test_empty_batches_round_trip() -> None:
    empty = InferenceBatch(
        model="m",
        version="v",
        timestamps=np.empty(0),
        prediction_ids=objects(),
        predictions=Column("numeric", np.empty(0)),
        scores=np.empty(0),
        latencies=np.empty(0),
        features={"x": Column("categorical", objects())},
    )
    back = batch_from_arrow(empty.to_arrow())
    assert_batch_equal(empty, back)
    assert len(back) == 0


def test_batch_from_arrow_dispatches_on_kind() -> None:
    for batch in (inference_batch(), label_batch(), metric_batch()):
        assert_batch_equal(batch, batch_from_arrow(batch.to_arrow()))


def test_batch_from_arrow_refuses_unknown_kind() -> None:
    plain = pa.RecordBatch.from_arrays([pa.array([1.0])], names=["x"])
    with pytest.raises(ValueError, match="got None"):
        batch_from_arrow(plain)
    with pytest.raises(ValueError, match="got b'spans'"):
        batch_from_arrow(plain.replace_schema_metadata({b"kind": b"spans"}))


def test_integer_arrow_columns_read_as_numeric_floats() -> None:
    column = Column.from_arrow(pa.array([1, None, 3], type=pa.int64()))
    assert column.kind == "numeric"
    assert_float_equal(np.asarray(column.values), np.array([1.0, np.nan, 3.0]))


def test_unicode_model_and_values_round_trip() -> None:
    original = inference_batch(model="modèle-ü", version="v✓")
    assert_batch_equal(original, batch_from_arrow(original.to_arrow()))


# --- ingest log entries -----------------------------------------------------------------


def test_entry_round_trip_of_several_batches_in_order() -> None:
    batches: list[Batch] = [
        inference_batch(seed=1, n=7),
        label_batch("categorical"),
        metric_batch(),
        inference_batch(seed=2, n=3, model="other", version="v9"),
        label_batch("numeric"),
    ]
    back = decode_entry(encode_entry(batches))
    assert len(back) == len(batches)
    for original, decoded in zip(batches, back, strict=True):
        assert_batch_equal(original, decoded)


def test_entry_of_nothing_is_empty() -> None:
    assert encode_entry([]) == b""
    assert decode_entry(b"") == []


def test_entry_of_a_large_batch_round_trips() -> None:
    original = inference_batch(seed=5, n=20_000)
    payload = encode_entry([original])
    (back,) = decode_entry(payload)
    assert_batch_equal(original, back)
