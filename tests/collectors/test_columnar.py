"""The columnar batch API decoder: bulk conversion, per-event rejections, whole-request errors."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from collectors.columnar import ColumnError, EventsDecodeResult, decode_arrow, decode_json
from collectors.limits import DEFAULT_LIMITS, IngestLimits
from collectors.otlp import decode_logs
from collectors.records import Kind
from support import inference, log_record, logs_request

NOW = 1_700_000_100.0


def no_kinds(model: str, version: str) -> dict[str, Kind]:
    return {}


def arrow_body(columns: dict[str, Any]) -> bytes:
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def json_body(**document: Any) -> bytes:
    return json.dumps(document).encode()


EVENTS: dict[str, Any] = {
    "timestamps": [1_700_000_000.0, 1_700_000_001.0, 1_700_000_002.0],
    "prediction_ids": ["a", "b", "c"],
    "predictions": ["ok", "fraud", "ok"],
    "scores": [0.1, 0.9, 0.2],
    "features": {"amount": [10.5, 3.0, 7.25], "country": ["de", "fr", None]},
}


def test_json_and_arrow_and_otlp_give_the_same_batch() -> None:
    from_json = decode_json(json_body(model="m", version="v1", **EVENTS), no_kinds, now=NOW)
    arrow = {
        "timestamp": EVENTS["timestamps"],
        "prediction_id": EVENTS["prediction_ids"],
        "prediction": EVENTS["predictions"],
        "score": EVENTS["scores"],
        **EVENTS["features"],
    }
    from_arrow = decode_arrow(arrow_body(arrow), no_kinds, now=NOW, model="m", version="v1")
    records = [
        log_record(
            inference("m", "v1", pid, {"amount": amount, "country": country}, **{"ml.prediction": p, "ml.prediction.score": s}),
            time_ns=int(t) * 1_000_000_000,
        )
        for t, pid, p, s, amount, country in zip(
            EVENTS["timestamps"],
            EVENTS["prediction_ids"],
            EVENTS["predictions"],
            EVENTS["scores"],
            EVENTS["features"]["amount"],
            EVENTS["features"]["country"],
            strict=True,
        )
    ]
    otlp = decode_logs(logs_request(records), no_kinds, now=NOW).batches[0]
    for result in (from_json, from_arrow):
        batch = result.batch
        assert batch is not None
        assert result.accepted == 3
        assert not result.rejected
        assert (batch.model, batch.version) == (otlp.model, otlp.version)
        assert batch.timestamps.tolist() == otlp.timestamps.tolist()  # type: ignore[attr-defined]
        assert batch.prediction_ids.tolist() == otlp.prediction_ids.tolist()
        assert batch.predictions.kind == otlp.predictions.kind  # type: ignore[attr-defined]
        assert batch.predictions.values.tolist() == otlp.predictions.values.tolist()  # type: ignore[attr-defined]
        assert batch.scores.tolist() == otlp.scores.tolist()  # type: ignore[attr-defined]
        assert {k: (c.kind, c.values.tolist()) for k, c in batch.features.items()} == {
            k: (c.kind, c.values.tolist())
            for k, c in otlp.features.items()  # type: ignore[attr-defined]
        }
        assert result.new_kinds == {"amount": "numeric", "country": "categorical", "ml.prediction": "categorical"}


def test_partial_rejection_names_field_reason_and_count() -> None:
    body = json_body(
        model="m",
        timestamps=[1.0, 2.0, None, 4.0, 5.0],
        prediction_ids=["a", "", "c", "d", "e"],
        predictions=[1, 0, 1, "yes", 1],
        scores=[0.5, 0.5, "high", 0.5, 0.5],
        features={"x": [1.0, 2.0, 3.0, 4.0, [1, 2]], "plan": ["a", 7, "b", "c", "d"]},
    )
    result = decode_json(body, no_kinds, now=NOW)
    assert result.accepted == 1
    assert dict(result.rejected) == {"unsupported_value_type": 1, "type_mismatch": 3}
    assert [(e["field"], e["reason"], e["rows"]) for e in result.errors] == [
        ("features.x", "unsupported_value_type", 1),
        ("features.plan", "type_mismatch", 1),
        ("predictions", "type_mismatch", 1),
        ("scores", "type_mismatch", 1),
    ]
    assert all(e["message"] for e in result.errors)
    batch = result.batch
    assert batch is not None
    assert batch.version == "default"
    assert batch.timestamps.tolist() == [1.0]


def test_null_timestamp_is_the_time_received_and_empty_id_is_none() -> None:
    body = json_body(model="m", timestamps=[None, 3.0], prediction_ids=["", "b"], predictions=[1, 2])
    batch = decode_json(body, no_kinds, now=NOW).batch
    assert batch is not None
    assert batch.timestamps.tolist() == [NOW, 3.0]
    assert batch.prediction_ids.tolist() == [None, "b"]


def test_non_finite_values_reject_their_events_in_arrow() -> None:
    body = arrow_body(
        {"timestamp": [1.0, math.nan, 3.0, 4.0], "prediction": [1.0, 1.0, math.inf, 0.0], "x": [1.0, 2.0, 3.0, -math.inf]}
    )
    result = decode_arrow(body, no_kinds, now=NOW, model="m")
    assert result.accepted == 1
    assert dict(result.rejected) == {"non_finite_value": 3}
    assert [e["field"] for e in result.errors] == ["timestamp", "x", "prediction"]


def test_known_kinds_reject_the_other_kind() -> None:
    def known(model: str, version: str) -> dict[str, Kind]:
        return {"x": "categorical", "ml.prediction": "numeric"}

    result = decode_arrow(
        arrow_body({"timestamp": [1.0, 2.0], "prediction": [1, 0], "x": [1.5, None]}), known, now=NOW, model="m"
    )
    assert result.accepted == 1
    assert dict(result.rejected) == {"type_mismatch": 1}
    assert result.new_kinds == {}
    assert result.batch is not None
    assert result.batch.features == {}


def test_first_accepted_event_fixes_a_kind() -> None:
    # The first event is rejected (non-finite score), so the second one fixes x as categorical.
    body = json_body(
        model="m", timestamps=[1, 2, 3], predictions=[0, 0, 0], scores=[1e999, 0.1, 0.2], features={"x": [1.0, "a", 2.0]}
    )
    result = decode_json(body, no_kinds, now=NOW)
    assert dict(result.rejected) == {"non_finite_value": 1, "type_mismatch": 1}
    assert result.new_kinds["x"] == "categorical"


def test_arrow_types_booleans_timestamps_and_dictionaries() -> None:
    table = {
        "timestamp": pa.array(np.array([1_700_000_000_000, 1_700_000_001_000], dtype="datetime64[ms]")),
        "prediction": [True, False],
        "plan": pa.array(["pro", "free"]).dictionary_encode(),
        "n": pa.array([3, None], type=pa.int32()),
    }
    result = decode_arrow(arrow_body(table), no_kinds, now=NOW, model="m", version="v2")
    batch = result.batch
    assert batch is not None
    assert batch.timestamps.tolist() == [1_700_000_000.0, 1_700_000_001.0]
    assert batch.predictions.values.tolist() == ["true", "false"]
    assert batch.features["plan"].values.tolist() == ["pro", "free"]
    assert batch.features["n"].kind == "numeric"
    assert np.isnan(batch.features["n"].values[1])


@pytest.mark.parametrize(
    ("body", "status", "reason", "field"),
    [
        (b"{nope", 400, "invalid_json", None),
        (b"[1, 2]", 400, "malformed", None),
        (json_body(timestamps=[1], predictions=[1]), 422, "missing_model_name", "model"),
        (json_body(model="x" * 129, timestamps=[1], predictions=[1]), 422, "name_too_long", "model"),
        (json_body(model="m", predictions=[1]), 422, "malformed", "timestamps"),
        (json_body(model="m", timestamps=[1, 2], predictions=[1]), 422, "unequal_lengths", "predictions"),
        (json_body(model="m", timestamps=[1], predictions=[1], features={"x": [1, 2]}), 422, "unequal_lengths", "features.x"),
        (json_body(model="m", timestamps=["yesterday"], predictions=[1]), 422, "malformed", "timestamps"),
        (json_body(model="m", timestamps=[1], predictions=[1], features=[1]), 422, "malformed", "features"),
        (json_body(model="m", timestamps=[1], predictions=[1], features={"x": 1}), 422, "malformed", "features.x"),
        (json_body(model="m", version=3, timestamps=[1], predictions=[1]), 422, "malformed", "version"),
    ],
)
def test_whole_request_errors_name_the_field(body: bytes, status: int, reason: str, field: str | None) -> None:
    with pytest.raises(ColumnError) as raised:
        decode_json(body, no_kinds, now=NOW)
    assert (raised.value.status, raised.value.reason, raised.value.field) == (status, reason, field)
    if field is not None:
        assert field.split(".")[-1] in raised.value.message


def test_arrow_whole_request_errors() -> None:
    good = arrow_body({"timestamp": [1.0], "prediction": [1.0]})
    with pytest.raises(ColumnError) as missing:
        decode_arrow(good, no_kinds, now=NOW, model=None)
    assert (missing.value.status, missing.value.field) == (422, "model")
    with pytest.raises(ColumnError) as garbage:
        decode_arrow(b"not arrow at all", no_kinds, now=NOW, model="m")
    assert (garbage.value.status, garbage.value.reason) == (400, "invalid_arrow")
    with pytest.raises(ColumnError) as no_prediction:
        decode_arrow(arrow_body({"timestamp": [1.0]}), no_kinds, now=NOW, model="m")
    assert no_prediction.value.field == "prediction"
    with pytest.raises(ColumnError) as bad_ids:
        decode_arrow(arrow_body({"timestamp": [1.0], "prediction": [1.0], "prediction_id": [[1]]}), no_kinds, now=NOW, model="m")
    assert bad_ids.value.field == "prediction_id"


def test_invalid_feature_name_rejects_events_that_carry_it() -> None:
    body = json_body(model="m", timestamps=[1, 2], predictions=[1, 1], features={"x" * 129: [None, 1.0], "ok": [1.0, 2.0]})
    result = decode_json(body, no_kinds, now=NOW)
    assert result.accepted == 1
    assert dict(result.rejected) == {"invalid_feature_name": 1}
    assert result.batch is not None
    assert list(result.batch.features) == ["ok"]


def test_all_rejected_gives_no_batch() -> None:
    result = decode_json(json_body(model="m", timestamps=[1], predictions=[[1]]), no_kinds, now=NOW)
    assert result.batch is None
    assert result.accepted == 0
    assert dict(result.rejected) == {"unsupported_value_type": 1}


def decode_either(form: str, columns: dict[str, Any], limits: IngestLimits = DEFAULT_LIMITS) -> EventsDecodeResult:
    """Decode the same columns sent as JSON or as an Arrow stream (JSON names its columns in the plural)."""
    if form == "arrow":
        return decode_arrow(arrow_body(columns), no_kinds, now=NOW, model="m", limits=limits)
    plural = {"timestamp": "timestamps", "prediction_id": "prediction_ids", "prediction": "predictions"}
    document: dict[str, Any] = {"model": "m", "features": {}}
    for name, values in columns.items():
        if name in plural:
            document[plural[name]] = values
        else:
            document["features"][name] = values
    return decode_json(json_body(**document), no_kinds, now=NOW, limits=limits)


@pytest.mark.parametrize("form", ["json", "arrow"])
def test_strings_past_max_string_length_reject_their_events_naming_the_limit(form: str) -> None:
    columns = {
        "timestamp": [1.0, 2.0, 3.0, 4.0, 5.0],
        "prediction_id": ["a", "b", "c" * 1025, "d", "é" * 1024],
        "prediction": ["ok", "ok", "ok", "n" * 1025, "é" * 1024],
        "plan": ["é" * 1024, "é" * 1025, "pro", "pro", "é" * 1024],
    }
    result = decode_either(form, columns)
    assert result.accepted == 2  # the strings at the limit pass
    assert dict(result.rejected) == {"value_too_long": 3}
    plural = form == "json"
    assert [(e["field"], e["reason"], e["rows"], e["message"]) for e in result.errors] == [
        (
            "prediction_ids" if plural else "prediction_id",
            "value_too_long",
            1,
            f"{'prediction_ids' if plural else 'prediction_id'!r} holds strings longer than 1024 characters (max_string_length)",
        ),
        (
            "features.plan" if plural else "plan",
            "value_too_long",
            1,
            f"{'features.plan' if plural else 'plan'!r} holds strings longer than 1024 characters (max_string_length)",
        ),
        (
            "predictions" if plural else "prediction",
            "value_too_long",
            1,
            f"{'predictions' if plural else 'prediction'!r} holds strings longer than 1024 characters (max_string_length)",
        ),
    ]
    assert result.batch is not None
    assert result.batch.prediction_ids.tolist() == ["a", "é" * 1024]
    assert result.batch.features["plan"].values.tolist() == ["é" * 1024, "é" * 1024]


@pytest.mark.parametrize("form", ["json", "arrow"])
def test_booleans_are_not_strings_for_the_length_limit(form: str) -> None:
    columns = {"timestamp": [1.0, 2.0], "prediction": [True, False], "flag": [False, True]}
    result = decode_either(form, columns, IngestLimits(max_string_length=3))
    assert result.accepted == 2
    assert not result.rejected


def test_a_long_string_in_a_mixed_json_column_is_too_long_before_it_is_the_wrong_kind() -> None:
    body = json_body(model="m", timestamps=[1, 2, 3], predictions=[1, 1, 1], features={"v": [1.0, "abcd", "abc"]})
    result = decode_json(body, no_kinds, now=NOW, limits=IngestLimits(max_string_length=3))
    assert [(e["field"], e["reason"], e["rows"]) for e in result.errors] == [
        ("features.v", "value_too_long", 1),
        ("features.v", "type_mismatch", 1),
    ]
