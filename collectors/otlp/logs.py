"""Decode OTLP log exports into inference and label batches.

``ml.inference`` records become :class:`~collectors.records.InferenceBatch` rows
grouped by (model, version); ``ml.label`` records become a
:class:`~collectors.records.LabelBatch`. LLM calls that carry ``gen_ai.*``
attributes are read as inference events of the model they name. Records that
cannot be used are rejected one by one, counted by reason, and reported back in
``partial_success``; the rest of the request is still accepted.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from collectors.errors import DecodeError
from collectors.otlp._body import Encoding
from collectors.otlp._json import parse_json
from collectors.records import Batch, Column, InferenceBatch, Kind, LabelBatch

__all__ = ["KindLookup", "LogsDecodeResult", "decode_logs", "parse_logs_request"]

#: Known column kinds of a (model, version): feature name -> kind. The prediction
#: column is checked under the key ``PREDICTION_KEY``.
KindLookup = Callable[[str, str], Mapping[str, Kind]]
PREDICTION_KEY = "ml.prediction"

INFERENCE_EVENT = "ml.inference"
LABEL_EVENT = "ml.label"
_FEATURE_PREFIX = "ml.feature."
_MAX_NAME_LENGTH = 128
DEFAULT_VERSION = "default"


@dataclass(slots=True)
class LogsDecodeResult:
    """What one OTLP logs request turned into."""

    batches: list[Batch] = field(default_factory=list)
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    #: kinds first seen in this request, per (model, version), to be registered
    new_kinds: dict[tuple[str, str], dict[str, Kind]] = field(default_factory=dict)

    def reject(self, reason: str, message: str) -> None:
        self.rejected[reason] += 1
        if not self.first_error:
            self.first_error = message


class _Rejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message


def parse_logs_request(body: bytes, encoding: Encoding) -> logs_service_pb2.ExportLogsServiceRequest:
    """Parse a decompressed body; raises :class:`DecodeError` on anything undecodable."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    if encoding == "json":
        return parse_json(body, request)
    try:
        request.ParseFromString(body)
    except Exception as exc:  # upb raises DecodeError, older runtimes other types
        raise DecodeError(f"body is not a valid ExportLogsServiceRequest: {exc}", reason="invalid_protobuf") from None
    return request


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


def _finite(name: str, value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise _Rejected("non_finite_value", f"attribute {name!r} must be a finite number, got {number}")
    return number


def decode_logs(
    request: logs_service_pb2.ExportLogsServiceRequest,
    known_kinds: KindLookup,
    *,
    now: float | None = None,
) -> LogsDecodeResult:
    """Flatten resource → scope → record into columnar batches, validating each record."""
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
                    if event == LABEL_EVENT:
                        pid, label = _label(attrs)
                        kind, value = label
                        if label_kind is None:
                            label_kind = kind
                        elif kind != label_kind:
                            raise _Rejected("type_mismatch", "ml.label values in one request must share one type")
                        label_ts.append(timestamp)
                        label_ids.append(pid)
                        label_values.append(value)
                    elif event == INFERENCE_EVENT or "gen_ai.request.model" in attrs or "gen_ai.response.model" in attrs:
                        _inference(attrs, timestamp, groups, known_kinds)
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


def _label(attrs: dict[str, Any]) -> tuple[str, tuple[Kind, object]]:
    pid_value = attrs.get("ml.prediction.id")
    pid = pid_value.string_value if pid_value is not None else ""
    if not pid:
        raise _Rejected("missing_prediction_id", "ml.label records need a non-empty ml.prediction.id")
    if "ml.label" not in attrs:
        raise _Rejected("missing_label", "ml.label records need an ml.label attribute")
    kind, value = _scalar(attrs["ml.label"])
    if kind is None:
        raise _Rejected("missing_label", "ml.label records need an ml.label attribute")
    if kind == "numeric":
        value = _finite("ml.label", value)
    return pid, (kind, value)


def _inference(
    attrs: dict[str, Any],
    timestamp: float,
    groups: dict[tuple[str, str], _Group],
    known_kinds: KindLookup,
) -> None:
    model_value = attrs.get("ml.model.name") or attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
    model = model_value.string_value if model_value is not None else ""
    if not model:
        raise _Rejected("missing_model_name", "ml.inference records need a non-empty string ml.model.name")
    if len(model) > _MAX_NAME_LENGTH:
        raise _Rejected("name_too_long", f"ml.model.name is longer than {_MAX_NAME_LENGTH} characters")
    version_value = attrs.get("ml.model.version")
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
