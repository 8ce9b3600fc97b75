"""Property-based tests for every decoder: arbitrary input ends in a result or a clear error, never a crash.

Each decoder promises one of two outcomes: a result whose accepted and rejected
counts add up to what was sent, or its documented error type carrying a message
(which the receivers turn into a 4xx). Anything else escaping is a bug.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from pydantic import ValidationError

from collectors.columnar import decode_arrow, decode_json
from collectors.errors import DecodeError
from collectors.limits import IngestLimits
from collectors.otlp import decode_logs_bytes, decode_metrics, encode_message, parse_metrics_request
from monitor.references import TableFormatError, read_table
from monitor.settings import load_settings

NOW = 1_700_000_000.0
T = TypeVar("T")
BAD_REQUEST = range(400, 401)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def no_kinds(model: str, version: str) -> dict[str, Any]:
    return {}


def attempt(call: Callable[[], T], *errors: type[Exception]) -> T | Exception:
    """The call's result, or the error it raised if that is one of ``errors`` (anything else propagates)."""
    try:
        return call()
    except errors as error:
        return error


def within(limits: IngestLimits, batches: list[Any]) -> bool:
    """Whether no value kept in ``batches`` (an id, a category, a label) is a string longer than the limit.

    Booleans, kept as "true"/"false", are not strings for the limit.
    """
    strings: list[object] = []
    for batch in batches:
        strings += batch.prediction_ids.tolist()
        columns = [getattr(batch, "labels", None), getattr(batch, "predictions", None), *getattr(batch, "features", {}).values()]
        strings += [value for column in columns if column is not None and column.kind == "categorical" for value in column.values]
    longest = limits.max_string_length
    return all(len(value) <= longest or value in ("true", "false") for value in strings if isinstance(value, str))


def refused(outcome: object, status: range = range(400, 500)) -> bool:
    """Whether ``outcome`` is a DecodeError with a status in ``status`` and a message."""
    return isinstance(outcome, DecodeError) and outcome.status in status and bool(outcome.message)


# -- values ---------------------------------------------------------------------------------------
#: the per-record limits, mostly tight enough to be hit by the values below
limit_choices = st.builds(IngestLimits, st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=25))
names = st.text(min_size=0, max_size=12)  # unicode, empty and control characters included
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([1e308, -1e308, 5e-324, 2**63 - 1]),
)


def any_values(depth: int = 2) -> st.SearchStrategy[common_pb2.AnyValue]:
    leaves = st.one_of(
        st.text(max_size=20).map(lambda v: common_pb2.AnyValue(string_value=v)),
        st.booleans().map(lambda v: common_pb2.AnyValue(bool_value=v)),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: common_pb2.AnyValue(int_value=v)),
        st.floats().map(lambda v: common_pb2.AnyValue(double_value=v)),
        st.binary(max_size=8).map(lambda v: common_pb2.AnyValue(bytes_value=v)),
        st.just(common_pb2.AnyValue()),
    )
    if depth == 0:
        return leaves
    inner = any_values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=3).map(lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs))),
    )


attribute_keys = st.one_of(
    st.sampled_from(
        [
            "ml.model.name",
            "ml.model.version",
            "ml.prediction.id",
            "ml.prediction",
            "ml.prediction.score",
            "ml.latency",
            "ml.label",
        ]
    ),
    names.map(lambda n: f"ml.feature.{n}"),
    names,
)


@st.composite
def log_records(draw: st.DrawFn) -> logs_pb2.LogRecord:
    keys = draw(st.lists(attribute_keys, max_size=8))
    return logs_pb2.LogRecord(
        time_unix_nano=draw(st.integers(min_value=0, max_value=2**64 - 1)),
        event_name=draw(st.sampled_from(["ml.inference", "ml.label", "", "other.event"])),
        attributes=[common_pb2.KeyValue(key=k, value=draw(any_values())) for k in keys],
    )


@st.composite
def logs_requests(draw: st.DrawFn) -> logs_service_pb2.ExportLogsServiceRequest:
    resources = draw(st.lists(st.lists(log_records(), max_size=6), min_size=0, max_size=3))
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=records)]) for records in resources]
    )


def record_count(request: logs_service_pb2.ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


# -- OTLP logs ----------------------------------------------------------------------------------------
@EXAMPLES
@given(st.binary(max_size=512))
def test_otlp_logs_random_bytes_decode_or_raise_decode_error(body: bytes) -> None:
    for encoding in ("protobuf", "json"):
        outcome = attempt(lambda: decode_logs_bytes(body, no_kinds, encoding=encoding, now=NOW), DecodeError)
        assert not isinstance(outcome, Exception) or refused(outcome, BAD_REQUEST)


@EXAMPLES
@given(logs_requests(), st.sampled_from(["protobuf", "json"]), limit_choices)
def test_otlp_logs_every_record_is_accepted_or_rejected_with_a_reason(
    request: logs_service_pb2.ExportLogsServiceRequest, encoding: str, limits: IngestLimits
) -> None:
    body = encode_message(request, encoding)  # type: ignore[arg-type]
    result = attempt(
        lambda: decode_logs_bytes(body, no_kinds, encoding=encoding, now=NOW, limits=limits),  # type: ignore[arg-type]
        DecodeError,
    )
    if isinstance(result, Exception):  # e.g. invalid UTF-8 that protobuf refuses on parse
        assert refused(result, BAD_REQUEST)
        return
    assert result.accepted + sum(result.rejected.values()) == record_count(request)
    assert sum(len(batch) for batch in result.batches) == result.accepted
    assert within(limits, result.batches)
    if result.rejected:
        assert result.first_error
    for batch in result.batches:
        timestamps = getattr(batch, "timestamps", None)
        assert timestamps is None or all(math.isfinite(t) for t in timestamps.tolist())


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(depth: int) -> None:
    body = b'{"resourceLogs": ' + b"[" * depth + b"]" * depth + b"}"
    outcome = attempt(lambda: decode_logs_bytes(body, no_kinds, encoding="json", now=NOW), DecodeError)
    assert not isinstance(outcome, Exception) or refused(outcome, BAD_REQUEST)
    deep_columns = b'{"model": "m", "timestamps": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(DecodeError):
        decode_json(deep_columns, no_kinds, now=NOW)


# -- OTLP metrics ---------------------------------------------------------------------------------------
@st.composite
def metrics_requests(draw: st.DrawFn) -> metrics_service_pb2.ExportMetricsServiceRequest:
    metrics = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        points = [
            metrics_pb2.NumberDataPoint(
                time_unix_nano=draw(st.integers(min_value=0, max_value=2**64 - 1)),
                attributes=[
                    common_pb2.KeyValue(key=k, value=draw(any_values(1))) for k in draw(st.lists(attribute_keys, max_size=3))
                ],
                **draw(
                    st.one_of(
                        numbers.map(lambda v: {"as_double": float(v)}),
                        st.integers(-(2**63), 2**63 - 1).map(lambda v: {"as_int": v}),
                    )
                ),
            )
            for _ in range(draw(st.integers(min_value=0, max_value=4)))
        ]
        kind = draw(st.sampled_from(["gauge", "sum"]))
        data = (
            {"gauge": metrics_pb2.Gauge(data_points=points)} if kind == "gauge" else {"sum": metrics_pb2.Sum(data_points=points)}
        )
        metrics.append(
            metrics_pb2.Metric(name=draw(st.one_of(names, st.sampled_from(["hw.gpu.utilization", "hw.power"]))), **data)
        )
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(scope_metrics=[metrics_pb2.ScopeMetrics(metrics=metrics)])]
    )


@EXAMPLES
@given(metrics_requests(), st.sampled_from(["protobuf", "json"]), limit_choices)
def test_otlp_metrics_every_point_is_accepted_or_rejected(
    request: metrics_service_pb2.ExportMetricsServiceRequest, encoding: str, limits: IngestLimits
) -> None:
    points = sum(
        len(getattr(metric, str(metric.WhichOneof("data"))).data_points)
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )
    result = attempt(
        lambda: decode_metrics(
            parse_metrics_request(encode_message(request, encoding), encoding),  # type: ignore[arg-type]
            limits=limits,
        ),
        DecodeError,
    )
    if isinstance(result, Exception):
        assert refused(result, BAD_REQUEST)
        return
    assert result.accepted + sum(result.rejected.values()) == points
    assert result.accepted == (len(result.batch) if result.batch is not None else 0)
    if result.batch is not None:
        labels = [json.loads(text) for text in result.batch.attributes.tolist()]
        assert all(len(point) <= limits.max_attributes_per_record for point in labels)
        assert all(len(v) <= limits.max_string_length for point in labels for v in point.values() if isinstance(v, str))


@EXAMPLES
@given(st.binary(max_size=512))
def test_otlp_metrics_random_bytes_raise_decode_error_only(body: bytes) -> None:
    for encoding in ("protobuf", "json"):
        outcome = attempt(lambda: decode_metrics(parse_metrics_request(body, encoding)), DecodeError)
        assert not isinstance(outcome, Exception) or refused(outcome, BAD_REQUEST)


# -- the columnar API ----------------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.integers(), st.floats(allow_nan=False))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def column_documents(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=0, max_value=6))
    column = st.lists(json_scalars, min_size=n, max_size=n)
    document: dict[str, Any] = {
        "model": draw(st.one_of(names, st.just("m"), json_values)),
        "timestamps": draw(
            st.lists(st.one_of(st.floats(), st.integers(), st.none(), st.text(max_size=3)), min_size=n, max_size=n)
        ),
        "predictions": draw(column),
        "features": draw(st.dictionaries(names, column, max_size=4)),
    }
    if draw(st.booleans()):
        document["scores"] = draw(column)
    if draw(st.booleans()):
        document[draw(st.sampled_from(["prediction_ids", "version", "extra"]))] = draw(json_values)
    return document


@EXAMPLES
@given(column_documents(), limit_choices)
def test_columnar_json_rows_are_accepted_or_rejected_or_the_body_refused(document: dict[str, Any], limits: IngestLimits) -> None:
    body = json.dumps(document).encode()
    result = attempt(lambda: decode_json(body, no_kinds, now=NOW, limits=limits), DecodeError)
    if isinstance(result, Exception):
        assert refused(result)
        return
    assert result.accepted + sum(result.rejected.values()) == len(document["timestamps"])
    assert result.accepted == (len(result.batch) if result.batch is not None else 0)
    assert result.batch is None or within(limits, [result.batch])


@EXAMPLES
@given(st.binary(max_size=256))
def test_columnar_random_bytes_raise_decode_error_only(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_json(body + b"\xff", no_kinds, now=NOW)
    outcome = attempt(lambda: decode_arrow(body, no_kinds, now=NOW, model="m"), DecodeError)
    assert not isinstance(outcome, Exception) or refused(outcome)


arrow_columns = st.one_of(
    st.lists(st.floats(), min_size=3, max_size=3).map(lambda v: pa.array(v, type=pa.float64())),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=3, max_size=3).map(lambda v: pa.array(v, type=pa.int64())),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=3, max_size=3).map(lambda v: pa.array(v, type=pa.string())),
    st.lists(st.booleans(), min_size=3, max_size=3).map(lambda v: pa.array(v, type=pa.bool_())),
    st.just(pa.array([[1], [], None], type=pa.list_(pa.int64()))),
    st.just(pa.array([b"x", b"", None], type=pa.binary())),
)


@EXAMPLES
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(["timestamp", "prediction", "prediction_id", "score"]), names), arrow_columns, max_size=5
    )
)
def test_columnar_arrow_tables_of_any_shape_decode_or_raise_decode_error(columns: dict[str, pa.Array]) -> None:
    table = pa.table(columns) if columns else pa.table({"x": pa.array([], type=pa.float64())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    result = attempt(lambda: decode_arrow(sink.getvalue(), no_kinds, now=NOW, model="m"), DecodeError)
    if isinstance(result, Exception):
        assert refused(result)
        return
    assert result.accepted + sum(result.rejected.values()) == table.num_rows


# -- reference upload -------------------------------------------------------------------------------------
@EXAMPLES
@given(st.binary(max_size=512), st.sampled_from(["text/csv", "application/vnd.apache.parquet", "application/json", None]))
def test_reference_tables_random_bytes_raise_table_format_error_only(data: bytes, content_type: str | None) -> None:
    outcome = attempt(lambda: read_table(data, content_type), TableFormatError)
    assert not isinstance(outcome, Exception) or str(outcome)


@EXAMPLES
@given(
    st.lists(
        st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6), min_size=2, max_size=2), max_size=6
    )
)
def test_reference_csv_and_parquet_of_odd_text_read_or_raise_table_format_error(rows: list[list[str]]) -> None:
    text = "\n".join(",".join(row) for row in [["a", "b"], *rows]).encode()
    with contextlib.suppress(TableFormatError):
        read_table(text, "text/csv")
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows]}), sink)
    assert read_table(sink.getvalue(), "application/vnd.apache.parquet").num_rows == len(rows)


# -- YAML config -------------------------------------------------------------------------------------------
@EXAMPLES
@given(
    st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.sampled_from(["port", "window_seconds", "db_url", "drift_alpha", "nope", "dcgm_targets"]), json_values, max_size=3
        ).map(json.dumps),
    )
)
def test_yaml_config_of_any_content_loads_or_raises_value_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = Path(tmp_path_factory.mktemp("config")) / "driftline.yaml"
    path.write_text(text)
    outcome = attempt(lambda: load_settings(path), ValueError, ValidationError)
    assert not isinstance(outcome, Exception) or str(outcome)
