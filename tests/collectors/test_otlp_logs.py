"""Tests for collectors.otlp.logs: parsing OTLP log exports and decoding them into batches."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from collectors.errors import DecodeError
from collectors.limits import DEFAULT_LIMITS, IngestLimits
from collectors.otlp import LogsDecodeResult, decode_logs, parse_logs_request
from collectors.otlp.logs import PREDICTION_KEY, decode_logs_bytes
from collectors.records import Batch, Column, InferenceBatch, Kind, LabelBatch
from support import any_value, inference, log_record, logs_request

T0 = 1_700_000_000  # seconds
NOW = 1_800_000_000.0  # the receive time handed to decode_logs


def no_kinds(model: str, version: str) -> Mapping[str, Kind]:
    return {}


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def decode(records: list[logs_pb2.LogRecord], known: Any = no_kinds) -> LogsDecodeResult:
    return decode_logs(logs_request(records), known, now=NOW)


def record_with(attributes: Mapping[str, common_pb2.AnyValue], *, event: str = "ml.inference") -> logs_pb2.LogRecord:
    """A record whose attribute values are given as raw AnyValues (arrays, kvlists, bytes…)."""
    return logs_pb2.LogRecord(
        time_unix_nano=ns(T0),
        event_name=event,
        attributes=[common_pb2.KeyValue(key=k, value=v) for k, v in attributes.items()],
    )


def only_inference(result: LogsDecodeResult) -> InferenceBatch:
    assert len(result.batches) == 1
    batch = result.batches[0]
    assert isinstance(batch, InferenceBatch)
    return batch


# --- parsing: protobuf ----------------------------------------------------------


def test_protobuf_body_parses_back_to_the_same_request() -> None:
    request = logs_request([log_record(inference("m", "v1", "p1", {"age": 41, "city": "Oslo"}), time_ns=ns(T0))])
    parsed = parse_logs_request(request.SerializeToString(), "protobuf")
    assert parsed == request


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\x05abc"])
def test_invalid_protobuf_is_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError, match="ExportLogsServiceRequest") as caught:
        parse_logs_request(body, "protobuf")
    assert caught.value.reason == "invalid_protobuf"
    assert caught.value.status == 400


# --- parsing: OTLP/JSON ---------------------------------------------------------

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def json_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timeUnixNano": "1700000000123456789",
        "observedTimeUnixNano": "1700000001000000000",
        "severityNumber": 9,
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "eventName": "ml.inference",
        "attributes": [
            {"key": "ml.model.name", "value": {"stringValue": "churn"}},
            {"key": "ml.feature.big", "value": {"intValue": "9007199254740993"}},
            {"key": "ml.feature.ratio", "value": {"doubleValue": 0.25}},
        ],
    }
    record.update(overrides)
    return record


def json_body(*records: dict[str, Any], **top: Any) -> bytes:
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeLogs": [{"scope": {"name": "sdk"}, "logRecords": list(records)}],
            }
        ],
        **top,
    }
    return json.dumps(document).encode()


def test_json_hex_ids_give_the_right_bytes() -> None:
    parsed = parse_logs_request(json_body(json_record()), "json")
    record = parsed.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id == bytes.fromhex(TRACE_ID)
    assert record.span_id == bytes.fromhex(SPAN_ID)


def test_json_int64_strings_camel_case_and_int_enums() -> None:
    parsed = parse_logs_request(json_body(json_record()), "json")
    resource_logs = parsed.resource_logs[0]
    record = resource_logs.scope_logs[0].log_records[0]
    assert resource_logs.resource.attributes[0].value.string_value == "svc"
    assert resource_logs.scope_logs[0].scope.name == "sdk"
    assert record.time_unix_nano == 1700000000123456789  # exact: never passed through a float
    assert record.observed_time_unix_nano == 1700000001000000000
    assert record.severity_number == logs_pb2.SEVERITY_NUMBER_INFO
    assert record.event_name == "ml.inference"
    values = {kv.key: kv.value for kv in record.attributes}
    assert values["ml.feature.big"].int_value == 9007199254740993  # 2**53 + 1
    assert values["ml.feature.ratio"].double_value == 0.25


def test_json_unknown_fields_are_ignored_at_every_level() -> None:
    record = json_record(futureRecordField={"x": 1})
    record["attributes"][0]["value"]["futureValueField"] = True
    body = json_body(record, futureTopLevel=[1, 2])
    parsed = parse_logs_request(body, "json")
    assert parsed == parse_logs_request(json_body(json_record()), "json")


@pytest.mark.parametrize(
    ("field", "value"),
    [("traceId", "not-hex"), ("spanId", "abc"), ("traceId", "zz" * 16)],
)
def test_json_invalid_hex_id_names_the_field(field: str, value: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_logs_request(json_body(json_record(**{field: value})), "json")
    assert caught.value.reason == "invalid_json"
    assert f"$.resourceLogs[0].scopeLogs[0].logRecords[0].{field} must be a hex string" in caught.value.message
    assert repr(value) in caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be an object, got list"),
        (b'{"resourceLogs": "nope"}', "does not match the OTLP schema"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}', "OTLP schema"),
    ],
)
def test_invalid_json_is_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        parse_logs_request(body, "json")
    assert caught.value.reason == "invalid_json"


def test_json_and_protobuf_decode_to_the_same_batch() -> None:
    from_json = decode_logs(parse_logs_request(json_body(json_record()), "json"), no_kinds, now=NOW)
    request = parse_logs_request(json_body(json_record()), "json")
    from_proto = decode_logs(parse_logs_request(request.SerializeToString(), "protobuf"), no_kinds, now=NOW)
    a, b = only_inference(from_json), only_inference(from_proto)
    assert (a.model, a.version) == (b.model, b.version) == ("churn", "default")
    assert a.timestamps.tolist() == b.timestamps.tolist() == [1700000000123456789 / 1e9]
    assert a.features["big"].values.tolist() == [float(9007199254740993)]
    assert a.features["ratio"].values.tolist() == [0.25]


# --- decode_logs: columns ---------------------------------------------------------


def test_columns_are_grouped_per_model_and_version() -> None:
    records = [
        log_record(inference("m", "v1", "a", {"x": 1.0}, **{"ml.prediction": 0.1}), time_ns=ns(T0 + 1)),
        log_record(inference("m", "v2", "b", {"x": 2.0}, **{"ml.prediction": 0.2}), time_ns=ns(T0 + 2)),
        log_record(inference("other", "v1", "c", {"x": 3.0}, **{"ml.prediction": 0.3}), time_ns=ns(T0 + 3)),
        log_record(inference("m", "v1", "d", {"x": 4.0}, **{"ml.prediction": 0.4}), time_ns=ns(T0 + 4)),
    ]
    result = decode(records)
    assert result.accepted == 4
    assert not result.rejected
    assert result.first_error == ""
    by_key = {(b.model, b.version): b for b in result.batches if isinstance(b, InferenceBatch)}
    assert sorted(by_key) == [("m", "v1"), ("m", "v2"), ("other", "v1")]
    m1 = by_key[("m", "v1")]
    assert len(m1) == 2
    assert m1.prediction_ids.tolist() == ["a", "d"]
    assert m1.timestamps.tolist() == [T0 + 1, T0 + 4]
    assert m1.features["x"].values.tolist() == [1.0, 4.0]
    assert m1.predictions.kind == "numeric"
    assert m1.predictions.values.tolist() == [0.1, 0.4]
    assert by_key[("m", "v2")].prediction_ids.tolist() == ["b"]
    assert by_key[("other", "v1")].features["x"].values.tolist() == [3.0]


def test_value_types_map_to_column_kinds() -> None:
    attrs = inference("m", "v", "p", {"i": 7, "f": 1.5, "s": "red", "b": True}, **{"ml.prediction": "yes"})
    batch = only_inference(decode([log_record(attrs, time_ns=ns(T0))]))
    assert {name: col.kind for name, col in batch.features.items()} == {
        "i": "numeric",
        "f": "numeric",
        "s": "categorical",
        "b": "categorical",
    }
    assert batch.features["i"].values.dtype == np.float64
    assert batch.features["i"].values.tolist() == [7.0]
    assert batch.features["b"].values.tolist() == ["true"]
    assert batch.predictions.kind == "categorical"
    assert batch.predictions.values.tolist() == ["yes"]


def test_missing_features_and_outputs_are_nan_or_none() -> None:
    records = [
        log_record(
            inference("m", "v", "p1", {"num": 1.0, "cat": "a"}, **{"ml.prediction": "x", "ml.prediction.score": 0.9}),
            time_ns=ns(T0),
        ),
        log_record(inference("m", "v", "p2", {"num": 2.0}, **{"ml.latency": 0.05}), time_ns=ns(T0)),
        log_record({"ml.model.name": "m", "ml.model.version": "v", "ml.feature.cat": "b"}, time_ns=ns(T0)),
    ]
    batch = only_inference(decode(records))
    assert len(batch) == 3
    num = batch.features["num"].values
    assert num[:2].tolist() == [1.0, 2.0]
    assert math.isnan(num[2])
    assert batch.features["cat"].values.tolist() == ["a", None, "b"]
    assert batch.predictions.values.tolist() == ["x", None, None]
    assert batch.prediction_ids.tolist() == ["p1", "p2", None]
    assert np.isnan(batch.scores).tolist() == [False, True, True]
    assert batch.scores[0] == 0.9
    assert np.isnan(batch.latencies).tolist() == [True, False, True]
    assert batch.latencies[1] == 0.05


def test_records_without_prediction_give_an_all_nan_numeric_prediction_column() -> None:
    batch = only_inference(decode([log_record(inference("m", "v", "p", {"x": 1.0}), time_ns=ns(T0))]))
    assert batch.predictions.kind == "numeric"
    assert np.isnan(batch.predictions.values).all()


def test_null_attribute_value_counts_as_missing_not_rejected() -> None:
    attrs = {"ml.model.name": any_value("m"), "ml.feature.x": common_pb2.AnyValue(), "ml.feature.y": any_value(2.0)}
    result = decode([record_with(attrs)])
    batch = only_inference(result)
    assert result.accepted == 1
    assert "x" not in batch.features
    assert batch.features["y"].values.tolist() == [2.0]


# --- decode_logs: rejections --------------------------------------------------------


def test_partial_rejection_is_counted_by_reason() -> None:
    good = inference("m", "v", "ok", {"x": 1.0, "c": "a"})
    array = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(1.0)]))
    records = [
        log_record(good, time_ns=ns(T0)),  # accepted: x numeric, c categorical
        log_record({"ml.feature.x": 1.0}, time_ns=ns(T0)),  # no model
        log_record({"ml.model.name": "", "ml.feature.x": 1.0}, time_ns=ns(T0)),  # empty model
        log_record({"ml.model.name": 3, "ml.feature.x": 1.0}, time_ns=ns(T0)),  # model not a string
        log_record(inference("m", "v", "nan", {"x": math.nan}), time_ns=ns(T0)),
        log_record(inference("m", "v", "inf", {"x": math.inf}), time_ns=ns(T0)),
        log_record(inference("m", "v", "ninf", {"x": 1.0}, **{"ml.prediction": -math.inf}), time_ns=ns(T0)),
        log_record(inference("m", "v", "nscore", {"x": 1.0}, **{"ml.prediction.score": math.nan}), time_ns=ns(T0)),
        log_record(inference("m", "v", "str", {"x": "one"}), time_ns=ns(T0)),  # x was numeric
        log_record(inference("m", "v", "num", {"c": 2.0}), time_ns=ns(T0)),  # c was categorical
        record_with({"ml.model.name": any_value("m"), "ml.feature.x": array}),
        log_record(inference("m", "v", "event", {"x": 1.0}), event="app.click", time_ns=ns(T0)),
        log_record(inference("m", "v", "ok2", {"x": 2.0, "c": "b"}), time_ns=ns(T0)),  # accepted
    ]
    result = decode(records)
    assert result.accepted == 2
    assert dict(result.rejected) == {
        "missing_model_name": 3,
        "non_finite_value": 4,
        "type_mismatch": 2,
        "unsupported_value_type": 1,
        "unknown_event": 1,
    }
    assert result.first_error == "ml.inference records need a non-empty string ml.model.name"
    batch = only_inference(result)
    assert batch.prediction_ids.tolist() == ["ok", "ok2"]
    assert batch.features["x"].values.tolist() == [1.0, 2.0]
    assert batch.features["c"].values.tolist() == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    [
        common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value("a")])),
        common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key="k", value=any_value(1))])),
        common_pb2.AnyValue(bytes_value=b"\x00\x01"),
    ],
)
@pytest.mark.parametrize("attribute", ["ml.feature.x", "ml.prediction", "ml.prediction.score", "ml.latency"])
def test_structured_values_are_unsupported(value: common_pb2.AnyValue, attribute: str) -> None:
    result = decode([record_with({"ml.model.name": any_value("m"), attribute: value})])
    assert result.accepted == 0
    assert dict(result.rejected) == {"unsupported_value_type": 1}
    assert result.batches == []


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("ml.feature.x", math.nan), ("ml.feature.x", -math.inf), ("ml.prediction", math.inf), ("ml.latency", math.nan)],
)
def test_non_finite_message_names_the_attribute(attribute: str, value: float) -> None:
    result = decode([log_record({"ml.model.name": "m", attribute: value}, time_ns=ns(T0))])
    assert dict(result.rejected) == {"non_finite_value": 1}
    assert result.first_error.startswith(f"attribute {attribute!r} must be a finite number")


@pytest.mark.parametrize("attribute", ["ml.prediction.score", "ml.latency"])
def test_string_score_or_latency_is_type_mismatch(attribute: str) -> None:
    result = decode([log_record({"ml.model.name": "m", attribute: "fast"}, time_ns=ns(T0))])
    assert dict(result.rejected) == {"type_mismatch": 1}
    assert attribute in result.first_error


def test_type_mismatch_against_kinds_known_from_earlier_requests() -> None:
    calls: list[tuple[str, str]] = []

    def known(model: str, version: str) -> Mapping[str, Kind]:
        calls.append((model, version))
        return {"age": "numeric", "city": "categorical", PREDICTION_KEY: "categorical"} if model == "m" else {}

    records = [
        log_record(inference("m", "v1", "a", {"age": "forty"}), time_ns=ns(T0)),
        log_record(inference("m", "v1", "b", {"city": 3}), time_ns=ns(T0)),
        log_record(inference("m", "v1", "c", {"age": 40}, **{"ml.prediction": 1.0}), time_ns=ns(T0)),
        log_record(inference("m", "v1", "d", {"age": 40, "city": "Oslo"}, **{"ml.prediction": "yes"}), time_ns=ns(T0)),
        log_record(inference("n", "v1", "e", {"age": "forty"}), time_ns=ns(T0)),  # other model: no history
    ]
    result = decode(records, known)
    assert sorted(set(calls)) == [("m", "v1"), ("n", "v1")]
    assert len(calls) == 2  # looked up once per (model, version) and request
    assert dict(result.rejected) == {"type_mismatch": 3}
    assert result.first_error == "attribute 'age' must be a number as before, got a categorical value"
    assert result.accepted == 2
    by_model = {b.model: b for b in result.batches if isinstance(b, InferenceBatch)}
    assert by_model["m"].prediction_ids.tolist() == ["d"]
    assert by_model["n"].features["age"].values.tolist() == ["forty"]
    # Kinds already known are not reported again; the new model's are.
    assert result.new_kinds == {("n", "v1"): {"age": "categorical"}}


def test_type_mismatch_within_one_request_keeps_the_first_kind() -> None:
    records = [
        log_record(inference("m", "v", "a", {"x": 1.0}, **{"ml.prediction": 0.5}), time_ns=ns(T0)),
        log_record(inference("m", "v", "b", {"x": "1"}), time_ns=ns(T0)),
        log_record(inference("m", "v", "c", {"x": 2.0}, **{"ml.prediction": "cat"}), time_ns=ns(T0)),
        log_record(inference("m", "v", "d", {"x": 3}), time_ns=ns(T0)),
    ]
    result = decode(records)
    assert dict(result.rejected) == {"type_mismatch": 2}
    assert result.first_error == "attribute 'x' must be a number as before, got a categorical value"
    batch = only_inference(result)
    assert batch.prediction_ids.tolist() == ["a", "d"]
    assert batch.features["x"].values.tolist() == [1.0, 3.0]
    assert result.new_kinds == {("m", "v"): {"x": "numeric", PREDICTION_KEY: "numeric"}}


def test_type_mismatch_discards_the_new_features_checked_before_it() -> None:
    records = [
        log_record(inference("m", "v", "a", {"x": "s"}), time_ns=ns(T0)),
        # y is new and valid and comes first; x then conflicts: y must not be registered.
        log_record(inference("m", "v", "b", {"y": 2.0, "x": 1.0}), time_ns=ns(T0)),
        log_record(inference("m", "v", "c", {"y": "two"}), time_ns=ns(T0)),
    ]
    result = decode(records)
    assert dict(result.rejected) == {"type_mismatch": 1}
    batch = only_inference(result)
    assert batch.prediction_ids.tolist() == ["a", "c"]
    assert batch.features["y"].values.tolist() == [None, "two"]
    assert result.new_kinds == {("m", "v"): {"x": "categorical", "y": "categorical"}}


def test_rejected_record_registers_no_kinds_and_leaves_no_values() -> None:
    records = [
        # Valid attributes first, then a bad one: nothing of this record may stick.
        log_record(inference("m", "v", "bad", {"x": "text", "z": 5.0, "w": math.inf}, **{"ml.prediction": "p"}), time_ns=ns(T0)),
        log_record(inference("m", "v", "good", {"x": 1.0}, **{"ml.prediction": 0.5}), time_ns=ns(T0 + 1)),
    ]
    result = decode(records)
    assert dict(result.rejected) == {"non_finite_value": 1}
    assert result.accepted == 1
    batch = only_inference(result)
    assert len(batch) == 1
    assert batch.prediction_ids.tolist() == ["good"]
    assert batch.timestamps.tolist() == [T0 + 1]
    assert set(batch.features) == {"x"}
    assert batch.features["x"].kind == "numeric"
    assert batch.predictions.kind == "numeric"
    assert result.new_kinds == {("m", "v"): {"x": "numeric", PREDICTION_KEY: "numeric"}}


def test_group_with_only_rejected_records_yields_no_batch_and_no_kinds() -> None:
    result = decode([log_record(inference("m", "v", "bad", {"x": "a", "y": math.nan}), time_ns=ns(T0))])
    assert result.batches == []
    assert result.new_kinds == {}
    assert result.accepted == 0


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"ml.model.name": "m" * 129}, "name_too_long"),
        ({"ml.model.name": "m", "ml.model.version": "v" * 129}, "name_too_long"),  # stored in 128-character columns
        ({"ml.model.name": "m", "ml.feature.": 1.0}, "invalid_feature_name"),
        ({"ml.model.name": "m", "ml.feature." + "f" * 129: 1.0}, "invalid_feature_name"),
    ],
)
def test_bad_names_are_rejected(attributes: dict[str, Any], reason: str) -> None:
    result = decode([log_record(attributes, time_ns=ns(T0))])
    assert dict(result.rejected) == {reason: 1}


def test_longest_allowed_names_are_accepted() -> None:
    attributes = {"ml.model.name": "m" * 128, "ml.model.version": "v" * 128, "ml.feature." + "f" * 128: 1.0}
    result = decode([log_record(attributes, time_ns=ns(T0))])
    batch = only_inference(result)
    assert (batch.model, batch.version) == ("m" * 128, "v" * 128)
    assert list(batch.features) == ["f" * 128]


LONG = "é" * 1025  # one character past the default limit (2,050 bytes)
AT_LIMIT = "é" * 1024


@pytest.mark.parametrize(
    ("attributes", "event", "attribute"),
    [
        (inference("m", "v", LONG, {"x": 1.0}), "ml.inference", "ml.prediction.id"),
        (inference("m", "v", "p", {"x": 1.0, "c": LONG}), "ml.inference", "ml.feature.c"),
        ({**inference("m", "v", "p", {}), "gen_ai.usage.note": LONG}, "ml.inference", "gen_ai.usage.note"),
        (inference("m", "v", "p", {"x": 1.0}, **{"ml.prediction": LONG}), "ml.inference", "ml.prediction"),
        ({"ml.prediction.id": LONG, "ml.label": "spam"}, "ml.label", "ml.prediction.id"),
        ({"ml.prediction.id": "p", "ml.label": LONG}, "ml.label", "ml.label"),
    ],
)
def test_a_string_past_max_string_length_rejects_its_record_naming_attribute_and_limit(
    attributes: dict[str, Any], event: str, attribute: str
) -> None:
    good = log_record(inference("m", "v", "ok", {"x": 2.0}), time_ns=ns(T0))
    result = decode([log_record(attributes, event=event, time_ns=ns(T0)), good])
    assert result.accepted == 1
    assert dict(result.rejected) == {"value_too_long": 1}
    assert result.first_error == f"attribute {attribute!r} is longer than 1024 characters (max_string_length)"
    assert only_inference(result).prediction_ids.tolist() == ["ok"]
    assert result.new_kinds == {("m", "v"): {"x": "numeric"}}  # the rejected record registered nothing


def test_strings_at_max_string_length_are_accepted_and_kept_whole() -> None:
    attributes = inference("m", "v", AT_LIMIT, {"c": AT_LIMIT}, **{"ml.prediction": AT_LIMIT})
    label = log_record({"ml.prediction.id": AT_LIMIT, "ml.label": AT_LIMIT}, event="ml.label", time_ns=ns(T0))
    result = decode([log_record(attributes, time_ns=ns(T0)), label])
    assert result.accepted == 2
    assert not result.rejected
    batch, labels = result.batches
    assert isinstance(batch, InferenceBatch)
    assert isinstance(labels, LabelBatch)
    assert batch.features["c"].values.tolist() == batch.predictions.values.tolist() == [AT_LIMIT]
    assert labels.prediction_ids.tolist() == labels.labels.values.tolist() == [AT_LIMIT]


def test_long_attributes_that_are_not_read_never_reject() -> None:
    stacktrace = "Traceback (most recent call last):\n" * 5000  # 175,000 characters
    attributes = inference("m", "v", "p", {"x": 1.0}, **{"exception.stacktrace": stacktrace, "event.name": "ml.inference"})
    result = decode([log_record(attributes, time_ns=ns(T0))])
    assert result.accepted == 1
    assert not result.rejected


def test_a_bool_is_not_a_string_for_the_length_limit() -> None:
    attributes = inference("m", "v", "p", {"flag": False})
    limits = IngestLimits(max_string_length=3)
    result = decode_logs(logs_request([log_record(attributes, time_ns=ns(T0))]), no_kinds, now=NOW, limits=limits)
    assert result.accepted == 1
    assert only_inference(result).features["flag"].values.tolist() == ["false"]


def crowded(attributes: int, event: str = "ml.inference") -> logs_pb2.LogRecord:
    """A record with exactly ``attributes`` attributes, the rest being unread ``app.*`` keys."""
    base = (
        inference("m", "v", f"p{attributes}", {"x": 1.0}) if event == "ml.inference" else {"ml.prediction.id": "p", "ml.label": 1}
    )
    extra = {f"app.k{i}": i for i in range(attributes - len(base))}
    return log_record({**base, **extra}, event=event, time_ns=ns(T0))


def test_records_past_max_attributes_per_record_are_rejected_naming_the_limit() -> None:
    result = decode([crowded(256), crowded(257), crowded(300, "ml.label"), crowded(10, "other")])
    assert result.accepted == 1
    assert list(result.rejected.items()) == [("too_many_attributes", 2), ("unknown_event", 1)]
    assert result.first_error == "log record has 257 attributes; the limit is 256 (max_attributes_per_record)"
    assert only_inference(result).prediction_ids.tolist() == ["p256"]


def test_limits_apply_to_otlp_json_bodies_too() -> None:
    body = json_body(
        json_record(attributes=[{"key": "ml.model.name", "value": {"stringValue": "m"}}]),
        json_record(
            attributes=[
                {"key": "ml.model.name", "value": {"stringValue": "m"}},
                {"key": "ml.feature.c", "value": {"stringValue": "abcd"}},
            ]
        ),
    )
    result = decode_logs_bytes(body, no_kinds, encoding="json", now=NOW, limits=IngestLimits(max_string_length=3))
    assert result.accepted == 1
    assert dict(result.rejected) == {"value_too_long": 1}
    assert "'ml.feature.c' is longer than 3 characters (max_string_length)" in result.first_error
    crowded_body = json_body(json_record(attributes=[{"key": f"k{i}", "value": {"intValue": "1"}} for i in range(4)]))
    result = decode_logs_bytes(crowded_body, no_kinds, encoding="json", now=NOW, limits=IngestLimits(max_attributes_per_record=3))
    assert dict(result.rejected) == {"too_many_attributes": 1}


def test_unknown_event_names_it() -> None:
    result = decode([log_record({"ml.model.name": "m"}, event="http.request", time_ns=ns(T0))])
    assert dict(result.rejected) == {"unknown_event": 1}
    assert "'http.request'" in result.first_error


def test_event_name_attribute_is_used_when_the_field_is_empty() -> None:
    record = log_record({"event.name": "ml.inference", "ml.model.name": "m", "ml.feature.x": 1.0}, event="", time_ns=ns(T0))
    batch = only_inference(decode([record]))
    assert batch.features["x"].values.tolist() == [1.0]


# --- labels --------------------------------------------------------------------


def test_label_records_become_a_label_batch() -> None:
    records = [
        log_record({"ml.prediction.id": "p1", "ml.label": "spam"}, event="ml.label", time_ns=ns(T0 + 5)),
        log_record(inference("m", "v", "p1", {"x": 1.0}), time_ns=ns(T0)),
        log_record({"ml.prediction.id": "p2", "ml.label": "ham"}, event="ml.label", time_ns=ns(T0 + 6)),
    ]
    result = decode(records)
    assert result.accepted == 3
    labels = [b for b in result.batches if isinstance(b, LabelBatch)]
    assert len(labels) == 1
    assert labels[0].timestamps.tolist() == [T0 + 5, T0 + 6]
    assert labels[0].prediction_ids.tolist() == ["p1", "p2"]
    assert labels[0].labels.kind == "categorical"
    assert labels[0].labels.values.tolist() == ["spam", "ham"]
    assert sum(isinstance(b, InferenceBatch) for b in result.batches) == 1


def test_numeric_labels_and_label_rejections() -> None:
    records = [
        log_record({"ml.prediction.id": "p1", "ml.label": 3}, event="ml.label", time_ns=ns(T0)),
        log_record({"ml.prediction.id": "p2", "ml.label": "three"}, event="ml.label", time_ns=ns(T0)),
        log_record({"ml.prediction.id": "p3", "ml.label": math.nan}, event="ml.label", time_ns=ns(T0)),
        log_record({"ml.label": 1.0}, event="ml.label", time_ns=ns(T0)),
        log_record({"ml.prediction.id": "p5"}, event="ml.label", time_ns=ns(T0)),
        log_record({"ml.prediction.id": "p6", "ml.label": 2.5}, event="ml.label", time_ns=ns(T0)),
    ]
    result = decode(records)
    assert dict(result.rejected) == {
        "type_mismatch": 1,
        "non_finite_value": 1,
        "missing_prediction_id": 1,
        "missing_label": 1,
    }
    (labels,) = result.batches
    assert isinstance(labels, LabelBatch)
    assert labels.labels.kind == "numeric"
    assert labels.prediction_ids.tolist() == ["p1", "p6"]
    assert labels.labels.values.tolist() == [3.0, 2.5]


# --- gen_ai, versions, timestamps ------------------------------------------------


def test_gen_ai_records_are_inference_of_the_named_model() -> None:
    records = [
        log_record(
            {"gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 30},
            event="gen_ai.client.inference.operation.details",
            time_ns=ns(T0),
        ),
        log_record({"gen_ai.response.model": "gpt-x", "gen_ai.usage.input_tokens": 7}, event="", time_ns=ns(T0 + 1)),
        # ml.model.name wins over the gen_ai names.
        log_record({"ml.model.name": "router", "gen_ai.request.model": "gpt-x"}, event="", time_ns=ns(T0 + 2)),
    ]
    result = decode(records)
    assert result.accepted == 3
    by_model = {b.model: b for b in result.batches if isinstance(b, InferenceBatch)}
    assert sorted(by_model) == ["gpt-x", "router"]
    gpt = by_model["gpt-x"]
    assert gpt.version == "default"
    assert gpt.features["gen_ai.usage.input_tokens"].values.tolist() == [12.0, 7.0]
    out = gpt.features["gen_ai.usage.output_tokens"].values
    assert out[0] == 30.0
    assert math.isnan(out[1])


@pytest.mark.parametrize("version", [None, ""])
def test_version_defaults_to_default(version: str | None) -> None:
    attrs: dict[str, Any] = {"ml.model.name": "m", "ml.model.version": version, "ml.feature.x": 1.0}
    batch = only_inference(decode([log_record(attrs, time_ns=ns(T0))]))
    assert (batch.model, batch.version) == ("m", "default")


def test_timestamps_come_from_time_then_observed_then_receive_time() -> None:
    attrs = [common_pb2.KeyValue(key="ml.model.name", value=any_value("m"))]
    records = [
        logs_pb2.LogRecord(
            time_unix_nano=ns(T0 + 1.5), observed_time_unix_nano=ns(T0 + 9), event_name="ml.inference", attributes=attrs
        ),
        logs_pb2.LogRecord(observed_time_unix_nano=ns(T0 + 2.25), event_name="ml.inference", attributes=attrs),
        logs_pb2.LogRecord(event_name="ml.inference", attributes=attrs),
    ]
    batch = only_inference(decode(records))
    # Nanoseconds past 2**53 round when turned into float seconds: sub-microsecond error.
    assert batch.timestamps.tolist() == [ns(T0 + 1.5) / 1e9, ns(T0 + 2.25) / 1e9, NOW]
    assert batch.timestamps.tolist() == pytest.approx([T0 + 1.5, T0 + 2.25, NOW], abs=1e-6, rel=0)


def test_receive_time_defaults_to_the_clock() -> None:
    record = logs_pb2.LogRecord(
        event_name="ml.inference", attributes=[common_pb2.KeyValue(key="ml.model.name", value=any_value("m"))]
    )
    before = time.time()
    result = decode_logs(logs_request([record]), no_kinds)
    after = time.time()
    assert before <= only_inference(result).timestamps[0] <= after


def test_resources_and_scopes_are_flattened() -> None:
    request = logs_request([log_record(inference("m", "v", "a", {"x": 1.0}), time_ns=ns(T0))])
    request.resource_logs.append(
        logs_pb2.ResourceLogs(
            scope_logs=[
                logs_pb2.ScopeLogs(log_records=[log_record(inference("m", "v", "b", {"x": 2.0}), time_ns=ns(T0))]),
                logs_pb2.ScopeLogs(log_records=[log_record(inference("m", "v", "c", {"x": 3.0}), time_ns=ns(T0))]),
            ]
        )
    )
    batch = only_inference(decode_logs(request, no_kinds, now=NOW))
    assert batch.prediction_ids.tolist() == ["a", "b", "c"]
    assert batch.features["x"].values.tolist() == [1.0, 2.0, 3.0]


# --- equivalence with the record-at-a-time decoder ---------------------------------
#
# The columnar decoder must give exactly what the straightforward one below gives:
# the implementation it replaced, kept here verbatim as the oracle.

LABEL_EVENT = "ml.label"
INFERENCE_EVENT = "ml.inference"
DEFAULT_VERSION = "default"
_FEATURE_PREFIX = "ml.feature."
_MAX_NAME_LENGTH = 128


class _Rejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message


def _scalar(value: Any) -> tuple[Kind | None, object]:
    """Return (kind, python value) of an ``AnyValue``; kind None means null/unsupported."""
    which = value.WhichOneof("value")
    if which == "double_value":
        return "numeric", value.double_value
    if which == "int_value":
        return "numeric", float(value.int_value)
    if which == "string_value":
        return "categorical", value.string_value
    if which == "bool_value":
        return "categorical", "true" if value.bool_value else "false"
    if which is None:
        return None, None
    raise _Rejected("unsupported_value_type", f"{which} values are not supported for model inputs and outputs")


class _Group:
    """Row accumulator for one (model, version)."""

    __slots__ = ("features", "ids", "kinds", "known", "latencies", "pred_kind", "preds", "rows", "scores", "timestamps")

    def __init__(self, known: Mapping[str, Kind]) -> None:
        self.known = known
        self.kinds: dict[str, Kind] = {}
        self.rows = 0
        self.timestamps: list[float] = []
        self.ids: list[str | None] = []
        self.pred_kind: Kind | None = known.get(PREDICTION_KEY)
        self.preds: list[object] = []
        self.scores: list[float] = []
        self.latencies: list[float] = []
        self.features: dict[str, tuple[list[int], list[object]]] = {}

    def kind_of(self, name: str) -> Kind | None:
        return self.known.get(name) or self.kinds.get(name)

    def check(self, name: str, kind: Kind, pending: dict[str, Kind]) -> None:
        """Reject a value whose kind differs from the one this column already has."""
        expected = self.kind_of(name) or pending.get(name)
        if expected is None:
            pending[name] = kind
        elif expected != kind:
            shown = "a number" if expected == "numeric" else "a string"
            raise _Rejected("type_mismatch", f"attribute {name!r} must be {shown} as before, got a {kind} value")

    def build(self, model: str, version: str) -> InferenceBatch:
        n = self.rows
        features: dict[str, Column] = {}
        for name, (rows, values) in self.features.items():
            features[name] = _column(self.kind_of(name) or "numeric", n, rows, values)
        pred_rows = [i for i, p in enumerate(self.preds) if p is not None]
        predictions = _column(self.pred_kind or "numeric", n, pred_rows, [self.preds[i] for i in pred_rows])
        return InferenceBatch(
            model=model,
            version=version,
            timestamps=np.asarray(self.timestamps, dtype=np.float64),
            prediction_ids=np.asarray(self.ids, dtype=object),
            predictions=predictions,
            scores=np.asarray(self.scores, dtype=np.float64),
            latencies=np.asarray(self.latencies, dtype=np.float64),
            features=features,
        )


def _column(kind: Kind, n: int, rows: list[int], values: list[object]) -> Column:
    out = np.full(n, np.nan) if kind == "numeric" else np.full(n, None, dtype=object)
    if rows:
        out[np.asarray(rows, dtype=np.intp)] = values
    return Column(kind, out)


def _short(name: str, value: Any, limits: IngestLimits) -> None:
    """Reject a string value longer than the limit (bools, read as "true"/"false", are not strings)."""
    if value is not None and value.WhichOneof("value") == "string_value" and len(value.string_value) > limits.max_string_length:
        raise _Rejected("value_too_long", f"attribute {name!r} is {limits.string_rule()}")


def _finite(name: str, value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise _Rejected("non_finite_value", f"attribute {name!r} must be a finite number, got {number}")
    return number


def reference_decode(
    request: logs_service_pb2.ExportLogsServiceRequest,
    known_kinds: Any,
    *,
    now: float | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> LogsDecodeResult:
    """The record-at-a-time decoder the columnar one replaced, kept as the oracle.

    Flatten resource → scope → record into columnar batches, validating each record."""
    result = LogsDecodeResult()
    received = time.time() if now is None else now
    groups: dict[tuple[str, str], _Group] = {}
    label_ts: list[float] = []
    label_ids: list[str] = []
    label_values: list[object] = []
    label_kind: Kind | None = None

    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = {kv.key: kv.value for kv in record.attributes}
                event = record.event_name
                if not event and "event.name" in attrs:
                    event = attrs["event.name"].string_value
                stamp = record.time_unix_nano or record.observed_time_unix_nano
                timestamp = stamp / 1e9 if stamp else received
                try:
                    if len(record.attributes) > limits.max_attributes_per_record:
                        raise _Rejected(
                            "too_many_attributes",
                            f"log record has {len(record.attributes)} attributes; "
                            f"the limit is {limits.max_attributes_per_record} (max_attributes_per_record)",
                        )
                    if event == LABEL_EVENT:
                        pid, label = _label(attrs, limits)
                        kind, value = label
                        if label_kind is None:
                            label_kind = kind
                        elif kind != label_kind:
                            raise _Rejected("type_mismatch", "ml.label values in one request must share one type")
                        label_ts.append(timestamp)
                        label_ids.append(pid)
                        label_values.append(value)
                    elif event == INFERENCE_EVENT or "gen_ai.request.model" in attrs or "gen_ai.response.model" in attrs:
                        _inference(attrs, timestamp, groups, known_kinds, limits)
                    else:
                        raise _Rejected(
                            "unknown_event",
                            f"log record event name {event!r} is not ml.inference or ml.label",
                        )
                except _Rejected as rejected:
                    result.reject(rejected.reason, rejected.message)
                    continue
                result.accepted += 1

    for (model, version), group in groups.items():
        if group.rows:
            result.batches.append(group.build(model, version))
        if group.kinds or (group.pred_kind and PREDICTION_KEY not in group.known):
            new = dict(group.kinds)
            if group.pred_kind and PREDICTION_KEY not in group.known:
                new[PREDICTION_KEY] = group.pred_kind
            result.new_kinds[(model, version)] = new
    if label_ids:
        kind = label_kind or "categorical"
        result.batches.append(
            LabelBatch(
                timestamps=np.asarray(label_ts, dtype=np.float64),
                prediction_ids=np.asarray(label_ids, dtype=object),
                labels=_column(kind, len(label_ids), list(range(len(label_ids))), label_values),
            )
        )
    return result


def _label(attrs: dict[str, Any], limits: IngestLimits) -> tuple[str, tuple[Kind, object]]:
    pid_value = attrs.get("ml.prediction.id")
    pid = pid_value.string_value if pid_value is not None else ""
    if not pid:
        raise _Rejected("missing_prediction_id", "ml.label records need a non-empty ml.prediction.id")
    _short("ml.prediction.id", pid_value, limits)
    if "ml.label" not in attrs:
        raise _Rejected("missing_label", "ml.label records need an ml.label attribute")
    kind, value = _scalar(attrs["ml.label"])
    if kind is None:
        raise _Rejected("missing_label", "ml.label records need an ml.label attribute")
    _short("ml.label", attrs["ml.label"], limits)
    if kind == "numeric":
        value = _finite("ml.label", value)
    return pid, (kind, value)


def _inference(
    attrs: dict[str, Any],
    timestamp: float,
    groups: dict[tuple[str, str], _Group],
    known_kinds: Any,
    limits: IngestLimits,
) -> None:
    model_value = attrs.get("ml.model.name") or attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
    model = model_value.string_value if model_value is not None else ""
    if not model:
        raise _Rejected("missing_model_name", "ml.inference records need a non-empty string ml.model.name")
    if len(model) > _MAX_NAME_LENGTH:
        raise _Rejected("name_too_long", f"ml.model.name is longer than {_MAX_NAME_LENGTH} characters")
    version_value = attrs.get("ml.model.version")
    if version_value is not None and len(version_value.string_value) > _MAX_NAME_LENGTH:
        raise _Rejected("name_too_long", f"ml.model.version is longer than {_MAX_NAME_LENGTH} characters")
    _short("ml.model.version", version_value, limits)
    _short("ml.prediction.id", attrs.get("ml.prediction.id"), limits)
    version = (version_value.string_value if version_value is not None else "") or DEFAULT_VERSION
    key = (model, version)
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(known_kinds(model, version))

    # Validate the whole record before touching the accumulators.
    row_features: list[tuple[str, object]] = []
    pending: dict[str, Kind] = {}
    for key_name, value in attrs.items():
        if key_name.startswith(_FEATURE_PREFIX):
            name = key_name[len(_FEATURE_PREFIX) :]
        elif key_name.startswith("gen_ai.usage."):
            name = key_name
        else:
            continue
        if not name or len(name) > _MAX_NAME_LENGTH:
            raise _Rejected("invalid_feature_name", f"feature name {name!r} must be 1-{_MAX_NAME_LENGTH} characters")
        kind, scalar = _scalar(value)
        _short(key_name, value, limits)
        if kind is None:
            continue
        if kind == "numeric":
            scalar = _finite(key_name, scalar)
        group.check(name, kind, pending)
        row_features.append((name, scalar))

    prediction: object = None
    pred_kind: Kind | None = None
    if PREDICTION_KEY in attrs:
        kind, prediction = _scalar(attrs[PREDICTION_KEY])
        _short(PREDICTION_KEY, attrs[PREDICTION_KEY], limits)
        if kind is not None:
            if kind == "numeric":
                prediction = _finite(PREDICTION_KEY, prediction)
            if group.pred_kind is not None and group.pred_kind != kind:
                raise _Rejected("type_mismatch", f"attribute {PREDICTION_KEY!r} changed type to {kind}")
            pred_kind = kind
    score = math.nan
    if "ml.prediction.score" in attrs:
        kind, raw = _scalar(attrs["ml.prediction.score"])
        if kind == "categorical":
            raise _Rejected("type_mismatch", "attribute 'ml.prediction.score' must be a number")
        if kind == "numeric":
            score = _finite("ml.prediction.score", raw)
    latency = math.nan
    if "ml.latency" in attrs:
        kind, raw = _scalar(attrs["ml.latency"])
        if kind == "categorical":
            raise _Rejected("type_mismatch", "attribute 'ml.latency' must be a number of seconds")
        if kind == "numeric":
            latency = _finite("ml.latency", raw)
    pid_value = attrs.get("ml.prediction.id")
    pid = pid_value.string_value if pid_value is not None and pid_value.string_value else None

    group.kinds.update(pending)
    if pred_kind is not None and group.pred_kind is None:
        group.pred_kind = pred_kind
    row = group.rows
    group.rows += 1
    group.timestamps.append(timestamp)
    group.ids.append(pid)
    group.preds.append(prediction)
    group.scores.append(score)
    group.latencies.append(latency)
    for name, scalar in row_features:
        slot = group.features.get(name)
        if slot is None:
            slot = group.features[name] = ([], [])
        slot[0].append(row)
        slot[1].append(scalar)


def assert_same_column(new: Column, old: Column, what: str) -> None:
    assert new.kind == old.kind, what
    assert new.values.dtype == old.values.dtype, what
    if old.kind == "numeric":
        assert np.array_equal(new.values, old.values, equal_nan=True), (what, new.values, old.values)
    else:
        assert new.values.tolist() == old.values.tolist(), what
        assert all(v is None or type(v) is str for v in new.values.tolist()), what


def assert_same_batch(new: Batch, old: Batch) -> None:
    assert type(new) is type(old)
    assert new.timestamps.dtype == np.float64
    assert np.array_equal(new.timestamps, old.timestamps)
    assert new.prediction_ids.dtype == object
    assert new.prediction_ids.tolist() == old.prediction_ids.tolist()
    if isinstance(new, LabelBatch):
        assert isinstance(old, LabelBatch)
        assert_same_column(new.labels, old.labels, "labels")
        return
    assert isinstance(new, InferenceBatch)
    assert isinstance(old, InferenceBatch)
    assert (new.model, new.version) == (old.model, old.version)
    assert_same_column(new.predictions, old.predictions, "predictions")
    assert_same_column(Column("numeric", new.scores), Column("numeric", old.scores), "scores")
    assert_same_column(Column("numeric", new.latencies), Column("numeric", old.latencies), "latencies")
    assert list(new.features) == list(old.features)
    for name in old.features:
        assert_same_column(new.features[name], old.features[name], name)


def assert_same_result(new: LogsDecodeResult, old: LogsDecodeResult) -> None:
    assert new.accepted == old.accepted
    assert list(new.rejected.items()) == list(old.rejected.items())
    assert new.first_error == old.first_error
    assert [(k, list(v.items())) for k, v in new.new_kinds.items()] == [(k, list(v.items())) for k, v in old.new_kinds.items()]
    assert len(new.batches) == len(old.batches)
    for a, b in zip(new.batches, old.batches, strict=True):
        assert_same_batch(a, b)


class RecordingKinds:
    """A kind lookup that remembers its calls; the same table answers both decoders."""

    def __init__(self, table: Mapping[tuple[str, str], Mapping[str, Kind]]) -> None:
        self.table = table
        self.calls: list[tuple[str, str]] = []

    def __call__(self, model: str, version: str) -> Mapping[str, Kind]:
        self.calls.append((model, version))
        return self.table.get((model, version), {})


def assert_equivalent(
    request: logs_service_pb2.ExportLogsServiceRequest,
    table: Mapping[tuple[str, str], Mapping[str, Kind]],
    limits: IngestLimits = DEFAULT_LIMITS,
) -> None:
    old_kinds, new_kinds, bytes_kinds = RecordingKinds(table), RecordingKinds(table), RecordingKinds(table)
    old = reference_decode(request, old_kinds, now=NOW, limits=limits)
    new = decode_logs(request, new_kinds, now=NOW, limits=limits)
    from_bytes = decode_logs_bytes(request.SerializeToString(), bytes_kinds, now=NOW, limits=limits)
    assert_same_result(new, old)
    assert_same_result(from_bytes, old)
    assert new_kinds.calls == old_kinds.calls == bytes_kinds.calls


_MODELS = ["m", "n", "gpt-x", "é" * 128, "", "é" * 129]
_MODEL_WEIGHTS = [0.5, 0.2, 0.14, 0.1, 0.03, 0.03]
_VERSIONS = ["v1", "v1", "v2", "", None]
_NAMES = ["x", "y", "c", "d", "gen_ai.usage.t", "ml.prediction", "", "f" * 129]
_VALUE_KINDS = ["int", "double", "string", "bool"]


def random_value(rng: np.random.Generator, preferred: str) -> common_pb2.AnyValue | None:
    """Mostly a value of the preferred kind; sometimes another kind, a bad or a structured value.

    None stands for a KeyValue without any value.
    """
    others = ["int", "double", "string", "bool", "nan", "inf", "null", "none", "array", "kvlist", "bytes", "strindex"]
    kind = preferred if rng.random() < 0.9 else str(rng.choice(others))
    if kind == "none":
        return None
    if kind == "strindex":
        return common_pb2.AnyValue(string_value_strindex=3)
    if kind == "int":
        return common_pb2.AnyValue(
            int_value=int(rng.integers(-(2**62), 2**62)) if rng.random() < 0.1 else int(rng.integers(-5, 50))
        )
    if kind == "double":
        return common_pb2.AnyValue(double_value=float(rng.normal()))
    if kind == "string":
        return common_pb2.AnyValue(string_value=str(rng.choice(["a", "b", "", "ünï", "true"])))
    if kind == "bool":
        return common_pb2.AnyValue(bool_value=bool(rng.random() < 0.5))
    if kind == "nan":
        return common_pb2.AnyValue(double_value=math.nan)
    if kind == "inf":
        return common_pb2.AnyValue(double_value=float(rng.choice([math.inf, -math.inf])))
    if kind == "null":
        return common_pb2.AnyValue()
    if kind == "array":
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(1)]))
    if kind == "kvlist":
        return common_pb2.AnyValue(
            kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key="k", value=any_value("v"))])
        )
    return common_pb2.AnyValue(bytes_value=b"\x00")


def random_record(rng: np.random.Generator, preferred: Mapping[str, str]) -> logs_pb2.LogRecord:
    attrs: list[tuple[str, common_pb2.AnyValue | None]] = []
    shape = rng.random()
    event = "ml.inference"
    if shape < 0.12:  # a label
        event = "ml.label"
        if rng.random() < 0.9:
            attrs.append(
                ("ml.prediction.id", any_value(str(rng.choice(["p1", "p2", ""]))) if rng.random() < 0.95 else any_value(3))
            )
        if rng.random() < 0.9:
            attrs.append(("ml.label", random_value(rng, preferred["label"])))
    else:
        if shape < 0.2:  # gen_ai, no event name
            event = ""
            attrs.append(
                (str(rng.choice(["gen_ai.request.model", "gen_ai.response.model"])), any_value(str(rng.choice(_MODELS))))
            )
        if rng.random() < 0.95:
            model = rng.choice(len(_MODELS), p=_MODEL_WEIGHTS)
            attrs.append(("ml.model.name", any_value(_MODELS[model]) if rng.random() < 0.97 else any_value(7)))
        version = _VERSIONS[rng.choice(len(_VERSIONS))]
        if version is not None:
            attrs.append(("ml.model.version", any_value(version) if rng.random() < 0.95 else any_value(2)))
        if rng.random() < 0.9:
            attrs.append(("ml.prediction.id", any_value(f"p{rng.integers(100)}") if rng.random() < 0.9 else any_value("")))
        for name in _NAMES:
            if rng.random() < (0.6 if len(name) == 1 else 0.05):
                key = name if name.startswith("gen_ai.usage.") and rng.random() < 0.5 else _FEATURE_PREFIX + name
                attrs.append((key, random_value(rng, preferred[name])))
        for key in (PREDICTION_KEY, "ml.prediction.score", "ml.latency"):
            if rng.random() < 0.6:
                attrs.append((key, random_value(rng, preferred[key])))
        order = rng.permutation(len(attrs)) if rng.random() < 0.3 else np.arange(len(attrs))
        attrs = [attrs[i] for i in order]
        if attrs and rng.random() < 0.02:  # a key given twice: the last value counts
            key, _ = attrs[int(rng.integers(len(attrs)))]
            attrs.insert(int(rng.integers(len(attrs) + 1)), (key, random_value(rng, "double")))
        if rng.random() < 0.015:  # one feature under two keys
            attrs.append(("ml.feature.gen_ai.usage.t", random_value(rng, preferred["gen_ai.usage.t"])))
            attrs.append(("gen_ai.usage.t", random_value(rng, preferred["gen_ai.usage.t"])))
        if rng.random() < 0.1:
            attrs.append(("unrelated.key", any_value(1)))
    roll = rng.random()
    if roll < 0.05:
        event = str(rng.choice(["app.click", "ML.INFERENCE"]))
    elif roll < 0.12 and event:  # the name as an attribute instead
        attrs.insert(0, ("event.name", any_value(event) if rng.random() < 0.9 else any_value(1)))
        event = ""
    stamp = [0, ns(T0) + int(rng.integers(10**12)), 2**63 + int(rng.integers(10**9))][int(rng.choice(3, p=[0.2, 0.75, 0.05]))]
    observed = 0 if rng.random() < 0.5 else ns(T0 + 5) + int(rng.integers(10**9))
    return logs_pb2.LogRecord(
        time_unix_nano=stamp,
        observed_time_unix_nano=observed,
        event_name=event,
        attributes=[common_pb2.KeyValue(key=k) if v is None else common_pb2.KeyValue(key=k, value=v) for k, v in attrs],
    )


def random_request(
    rng: np.random.Generator,
) -> tuple[logs_service_pb2.ExportLogsServiceRequest, dict[tuple[str, str], dict[str, Kind]]]:
    keys = [*_NAMES, PREDICTION_KEY, "ml.prediction.score", "ml.latency", "label"]
    preferred = {key: str(rng.choice(_VALUE_KINDS)) for key in keys}
    preferred["ml.prediction.score"] = preferred["ml.latency"] = "double"
    records = [random_record(rng, preferred) for _ in range(int(rng.integers(0, 40)))]
    if records and rng.random() < 0.4:  # every record with the same keys in the same order, as SDKs send
        layout = records[0]
        for record in records[1:]:
            record.event_name = layout.event_name
            del record.attributes[:]
            for kv in layout.attributes:
                value = random_value(rng, preferred.get(kv.key.removeprefix(_FEATURE_PREFIX), "string"))
                if kv.key in ("ml.model.name", "ml.model.version", "ml.prediction.id", "event.name") and rng.random() < 0.9:
                    value = kv.value
                record.attributes.add(key=kv.key) if value is None else record.attributes.add(key=kv.key, value=value)
    table: dict[tuple[str, str], dict[str, Kind]] = {}
    for model in ("m", "n", "gpt-x"):
        for version in ("v1", "v2", "default"):
            if rng.random() < 0.3:
                table[(model, version)] = {
                    name: "numeric" if rng.random() < 0.5 else "categorical"
                    for name in ("x", "c", PREDICTION_KEY)
                    if rng.random() < 0.6
                }
    request = logs_service_pb2.ExportLogsServiceRequest()
    while records:  # split over resources and scopes
        take = int(rng.integers(1, len(records) + 1))
        resource = request.resource_logs[-1] if request.resource_logs and rng.random() < 0.5 else request.resource_logs.add()
        resource.scope_logs.add().log_records.extend(records[:take])
        records = records[take:]
    return request, table


@pytest.mark.parametrize("seed", range(4))
def test_columnar_decoder_matches_the_record_at_a_time_decoder(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        request, table = random_request(rng)
        assert_equivalent(request, table)


@pytest.mark.parametrize("seed", range(2))
def test_columnar_decoder_matches_the_record_at_a_time_decoder_under_tight_limits(seed: int) -> None:
    # 3 characters: "ünï" (5 bytes) passes, "true" does not; bools (read as "false") are not strings.
    limits = IngestLimits(max_attributes_per_record=7, max_string_length=3)
    rng = np.random.default_rng(100 + seed)
    rejected: set[str] = set()
    for _ in range(50):
        request, table = random_request(rng)
        assert_equivalent(request, table, limits)
        rejected |= set(decode_logs(request, RecordingKinds(table), now=NOW, limits=limits).rejected)
    assert {"too_many_attributes", "value_too_long"} <= rejected


def test_column_kind_comes_from_the_first_accepted_record_not_the_first_seen() -> None:
    records = [
        log_record(inference("m", "v", "a", {"x": 1.0}), time_ns=ns(T0)),
        # y appears first here, but x rejects the record: y is not established by it.
        log_record(inference("m", "v", "b", {"y": "s", "x": "one"}), time_ns=ns(T0)),
        log_record(inference("m", "v", "c", {"y": 2.0}), time_ns=ns(T0)),  # establishes y as numeric
        log_record(inference("m", "v", "d", {"y": "t"}), time_ns=ns(T0)),  # rejected
        log_record(inference("m", "v", "e", {"z": "u", "y": "v"}), time_ns=ns(T0)),  # rejected: z not established either
        log_record(inference("m", "v", "f", {"z": 3}), time_ns=ns(T0)),
    ]
    result = decode(records)
    assert dict(result.rejected) == {"type_mismatch": 3}
    assert only_inference(result).prediction_ids.tolist() == ["a", "c", "f"]
    assert result.new_kinds == {("m", "v"): {"x": "numeric", "y": "numeric", "z": "numeric"}}
    assert_equivalent(logs_request(records), {})


def test_repeated_key_keeps_the_last_value_at_the_first_position() -> None:
    record = record_with(
        {"ml.model.name": any_value("m")} | {"ml.feature.x": any_value(math.inf)} | {"ml.feature.y": any_value("a")},
    )
    record.attributes.append(common_pb2.KeyValue(key="ml.feature.x", value=any_value(2.5)))
    result = decode([record])
    batch = only_inference(result)
    assert list(batch.features) == ["x", "y"]
    assert batch.features["x"].values.tolist() == [2.5]
    assert_equivalent(logs_request([record]), {})


def test_one_feature_under_two_keys() -> None:
    keys = ("ml.feature.gen_ai.usage.t", "gen_ai.usage.t")
    same = record_with({"ml.model.name": any_value("m"), keys[0]: any_value(1), keys[1]: any_value(2.0)})
    clash = record_with({"ml.model.name": any_value("m"), keys[0]: any_value(1), keys[1]: any_value("a")})
    result = decode([same, clash])
    assert dict(result.rejected) == {"type_mismatch": 1}
    assert only_inference(result).features["gen_ai.usage.t"].values.tolist() == [2.0]
    assert_equivalent(logs_request([same, clash]), {})


def test_any_value_with_two_members_set_keeps_the_last_as_protobuf_does() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    value = field(1, b"s") + bytes([3 << 3, 5])  # string_value "s", then int_value 5: int wins
    key_values = field(1, b"ml.model.name") + field(2, field(1, b"m"))
    feature = field(1, b"ml.feature.x") + field(2, value)
    record = field(6, key_values) + field(6, feature) + field(12, b"ml.inference")
    body = field(1, field(2, field(2, record)))
    request = parse_logs_request(body, "protobuf")
    assert request.resource_logs[0].scope_logs[0].log_records[0].attributes[1].value.int_value == 5
    old = reference_decode(request, no_kinds, now=NOW)
    new = decode_logs_bytes(body, no_kinds, now=NOW)
    assert_same_result(new, old)
    assert only_inference(new).features["x"].values.tolist() == [5.0]


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\x05abc"])
def test_decode_logs_bytes_refuses_what_parse_refuses(body: bytes) -> None:
    with pytest.raises(DecodeError, match="ExportLogsServiceRequest") as caught:
        decode_logs_bytes(body, no_kinds)
    assert caught.value.reason == "invalid_protobuf"


def test_decode_logs_bytes_reads_json() -> None:
    result = decode_logs_bytes(json_body(json_record()), no_kinds, encoding="json", now=NOW)
    batch = only_inference(result)
    assert batch.features["big"].values.tolist() == [float(9007199254740993)]
    with pytest.raises(DecodeError) as caught:
        decode_logs_bytes(b"{not json", no_kinds, encoding="json")
    assert caught.value.reason == "invalid_json"


def test_records_without_any_attribute() -> None:
    records = [
        logs_pb2.LogRecord(event_name="ml.inference", time_unix_nano=ns(T0)),
        logs_pb2.LogRecord(event_name="ml.label", time_unix_nano=ns(T0)),
        logs_pb2.LogRecord(time_unix_nano=ns(T0)),
    ]
    result = decode(records)
    assert result.batches == []
    assert dict(result.rejected) == {"missing_model_name": 1, "missing_prediction_id": 1, "unknown_event": 1}
    assert_equivalent(logs_request(records), {})
    assert_equivalent(logs_service_pb2.ExportLogsServiceRequest(), {})


def test_non_canonical_encodings_read_as_protobuf_reads_them() -> None:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    unknown = varint(99 << 3) + varint(7)  # field 99, a varint nobody declares
    double = bytes([4 << 3 | 1]) + np.float64(1.5).tobytes()
    key_values = [
        field(1, b"ml.model.name") + field(2, field(1, b"m")),
        field(1, b"ml.feature.x") + field(2, double) + field(2, b""),  # value in two parts: merged, 1.5 stays
        field(1, b"ml.feature.y") + field(2, field(1, b"a")) + unknown + field(2, field(1, b"b")),  # the last string
        field(1, b"ml.feature.z") + field(1, b"ml.feature.w") + field(2, field(1, b"c")),  # the last key
    ]
    record = b"".join(field(6, kv) for kv in key_values)
    record += field(12, b"app.click") + unknown + field(12, b"ml.inference")  # the last event name
    record += bytes([1 << 3 | 1]) + np.uint64(ns(T0)).tobytes() + bytes([1 << 3 | 1]) + np.uint64(ns(T0 + 1)).tobytes()
    body = field(1, field(2, field(2, record) + unknown) + unknown)
    old = reference_decode(parse_logs_request(body, "protobuf"), no_kinds, now=NOW)
    new = decode_logs_bytes(body, no_kinds, now=NOW)
    assert_same_result(new, old)
    batch = only_inference(new)
    assert {name: column.values.tolist() for name, column in batch.features.items()} == {"x": [1.5], "y": ["b"], "w": ["c"]}
    assert batch.timestamps.tolist() == [ns(T0 + 1) / 1e9]
