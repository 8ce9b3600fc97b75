"""Decode OTLP log exports into inference and label batches.

``ml.inference`` records become :class:`~collectors.records.InferenceBatch` rows
grouped by (model, version); ``ml.label`` records become a
:class:`~collectors.records.LabelBatch`. LLM calls that carry ``gen_ai.*``
attributes are read as inference events of the model they name. Records that
cannot be used are rejected one by one, counted by reason, and reported back in
``partial_success``; the rest of the request is still accepted.

Rules, per record:

* a record with more than ``max_attributes_per_record`` attributes (256 by default,
  counted as sent) is rejected as ``too_many_attributes`` before anything is read;
* the event name is ``LogRecord.event_name``, or the ``event.name`` attribute when
  that is empty; ``ml.label`` records are labels; ``ml.inference`` records, and
  records naming a ``gen_ai.request.model`` or ``gen_ai.response.model``, are
  inference events; anything else is rejected as ``unknown_event``;
* the model is ``ml.model.name``, else ``gen_ai.request.model``, else
  ``gen_ai.response.model`` (a non-empty string of at most 128 characters); the
  version is ``ml.model.version`` (at most 128 characters too, else
  ``name_too_long``), ``"default"`` when missing or empty;
* a string that is read (version, prediction id, feature and prediction values,
  a label) of more than ``max_string_length`` characters (1024 by default) rejects
  its record as ``value_too_long``; attributes that are not read are never judged;
* features are the ``ml.feature.<name>`` and ``gen_ai.usage.*`` attributes (names of
  1-128 characters), the prediction is ``ml.prediction``; int and double values are
  numeric, string and bool values (``"true"``/``"false"``) categorical; array,
  kvlist, bytes and string-table values are rejected, as are NaN and infinities; a
  null value counts as missing; ``ml.prediction.score`` and ``ml.latency`` must be
  numbers;
* a feature or prediction column keeps the kind it was first given (by an earlier
  request or by the first accepted record of this one); a value of the other kind
  rejects its record;
* a label needs a non-empty ``ml.prediction.id`` and an ``ml.label``; the labels of
  one request share the kind of the first accepted one;
* the timestamp is ``time_unix_nano``, else ``observed_time_unix_nano``, else the
  time the request was received.

Within a record, attributes behave like a dict: a repeated key keeps its last
value, at the place of its first occurrence.

The first failing check names the reason; a rejected record contributes no values
and registers no kinds.

How: the validity of a body is judged by upb (the protobuf runtime); the same bytes
are then flattened natively into columns (:mod:`collectors.otlp._wire`, ptars),
and every rule above runs as numpy masks over whole columns
(:mod:`collectors.otlp._columnar`); no Python code runs per record or per
attribute.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from collectors.errors import DecodeError
from collectors.limits import DEFAULT_LIMITS, IngestLimits
from collectors.otlp._body import Encoding
from collectors.otlp._columnar import DEFAULT_VERSION, INFERENCE_EVENT, LABEL_EVENT, PREDICTION_KEY, decode_flat
from collectors.otlp._json import parse_json
from collectors.otlp._wire import AmbiguousValue, flatten_logs
from collectors.records import Batch, Kind

__all__ = [
    "DEFAULT_VERSION",
    "INFERENCE_EVENT",
    "LABEL_EVENT",
    "PREDICTION_KEY",
    "KindLookup",
    "LogsDecodeResult",
    "decode_logs",
    "decode_logs_bytes",
    "parse_logs_request",
]

#: Known column kinds of a (model, version): feature name -> kind. The prediction
#: column is checked under the key ``PREDICTION_KEY``.
KindLookup = Callable[[str, str], Mapping[str, Kind]]


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


def decode_logs_bytes(
    body: bytes,
    known_kinds: KindLookup,
    *,
    encoding: Encoding = "protobuf",
    now: float | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> LogsDecodeResult:
    """Parse and flatten a decompressed body: what a receiver calls.

    Raises :class:`DecodeError` exactly where :func:`parse_logs_request` does.
    A protobuf body is flattened as it came, without being serialized again.

    Examples
    --------
    >>> from opentelemetry.proto.logs.v1 import logs_pb2
    >>> from opentelemetry.proto.common.v1 import common_pb2
    >>> attrs = {"ml.model.name": "churn", "ml.feature.plan": "pro"}
    >>> record = logs_pb2.LogRecord(
    ...     event_name="ml.inference",
    ...     time_unix_nano=1_700_000_000_000_000_000,
    ...     attributes=[common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in attrs.items()],
    ... )
    >>> request = logs_service_pb2.ExportLogsServiceRequest(
    ...     resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])]
    ... )
    >>> result = decode_logs_bytes(request.SerializeToString(), lambda model, version: {})
    >>> batch = result.batches[0]
    >>> batch.model, batch.version, batch.features["plan"].values.tolist(), batch.timestamps.tolist()
    ('churn', 'default', ['pro'], [1700000000.0])
    >>> result.new_kinds
    {('churn', 'default'): {'plan': 'categorical'}}
    """
    received = time.time() if now is None else now
    request = parse_logs_request(body, encoding)  # upb judges validity, as it always has
    if encoding == "protobuf":
        del request  # not needed any more: freeing it now lets what follows reuse its memory
        return _decode(body, lambda: parse_logs_request(body, "protobuf").SerializeToString(), known_kinds, received, limits)
    wire = request.SerializeToString()
    return _decode(wire, lambda: wire, known_kinds, received, limits)


def decode_logs(
    request: logs_service_pb2.ExportLogsServiceRequest,
    known_kinds: KindLookup,
    *,
    now: float | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> LogsDecodeResult:
    """Flatten an already parsed request (serializes it once; receivers use :func:`decode_logs_bytes`)."""
    received = time.time() if now is None else now
    wire = request.SerializeToString()
    return _decode(wire, lambda: wire, known_kinds, received, limits)


def _decode(
    wire: bytes, canonical: Callable[[], bytes], known_kinds: KindLookup, received: float, limits: IngestLimits
) -> LogsDecodeResult:
    """Flatten ``wire`` (bytes upb accepted) and decode its records.

    ``canonical`` gives the request as upb re-encodes it, for the rare bytes that
    ptars reads otherwise (an AnyValue with two members set, where protobuf keeps
    the last one); upb's own encoding always reads the same in both.
    """
    try:
        flat = flatten_logs(wire)
    except (AmbiguousValue, ValueError):
        flat = flatten_logs(canonical())
    result = LogsDecodeResult()
    decode_flat(flat, known_kinds, received, result, limits)
    return result
