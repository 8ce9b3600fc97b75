"""Tests for collectors.otlp.logs: parsing OTLP log exports and decoding them into batches."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from collectors.errors import DecodeError
from collectors.otlp import LogsDecodeResult, decode_logs, parse_logs_request
from collectors.otlp.logs import PREDICTION_KEY
from collectors.records import InferenceBatch, Kind, LabelBatch
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
        ({"ml.model.name": "m", "ml.feature.": 1.0}, "invalid_feature_name"),
        ({"ml.model.name": "m", "ml.feature." + "f" * 129: 1.0}, "invalid_feature_name"),
    ],
)
def test_bad_names_are_rejected(attributes: dict[str, Any], reason: str) -> None:
    result = decode([log_record(attributes, time_ns=ns(T0))])
    assert dict(result.rejected) == {reason: 1}


def test_longest_allowed_names_are_accepted() -> None:
    result = decode([log_record({"ml.model.name": "m" * 128, "ml.feature." + "f" * 128: 1.0}, time_ns=ns(T0))])
    batch = only_inference(result)
    assert batch.model == "m" * 128
    assert list(batch.features) == ["f" * 128]


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
