"""Serialized ``ExportLogsServiceRequest`` bytes to flat columns, natively (ptars, Rust).

Only the fields the logs decoder reads are declared, in a private slimmed copy of
the OTLP schema with the same field numbers and wire types; ptars skips every
other field as unknown without building it. Strings are declared as ``bytes`` and
viewed as strings afterwards (upb has already checked they are UTF-8), and nested
``AnyValue`` payloads (``array_value``, ``kvlist_value``) as ``bytes`` too: the
decoder only needs to know they are there, to reject them.

The result is one row per log record and one row per attribute, in request
order. This module does not validate: :func:`collectors.otlp.logs.parse_logs_request`
(upb) stays the judge of what is a valid request, and ptars is only given bytes
that upb accepted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from google.protobuf import descriptor_pb2, descriptor_pool

__all__ = ["MEMBERS", "AmbiguousValue", "FlatLogs", "flatten_logs"]

#: ``AnyValue`` members in field-number order; ``FlatLogs.member`` holds 1 + index, 0 for none.
MEMBERS = (
    "string_value",
    "bool_value",
    "int_value",
    "double_value",
    "array_value",
    "kvlist_value",
    "bytes_value",
    "string_value_strindex",
)
_PACKAGE = "driftline.otlp_logs_slim"
_Field = descriptor_pb2.FieldDescriptorProto


class AmbiguousValue(Exception):
    """An ``AnyValue`` sent with several members of its oneof set.

    Protobuf keeps the last one; ptars keeps them all, so the request must be
    re-encoded canonically (upb keeps one member) before it is flattened.
    """


@dataclass(frozen=True, slots=True)
class FlatLogs:
    """Log records and their attributes as columns (``E`` attributes over ``R`` records)."""

    time_unix_nano: npt.NDArray[np.uint64]  # (R,)
    observed_time_unix_nano: npt.NDArray[np.uint64]  # (R,)
    event_name: pa.StringArray  # (R,)
    record: npt.NDArray[np.intp]  # (E,) the record each attribute belongs to, non-decreasing
    attribute_offsets: npt.NDArray[np.intp]  # (R + 1,) record r has attributes [offsets[r], offsets[r + 1])
    key: pa.StringArray  # (E,)
    member: npt.NDArray[np.int8]  # (E,) 1 + index into MEMBERS of the member set, 0 when none
    string_value: pa.StringArray  # (E,) null unless member is string_value
    bool_value: npt.NDArray[np.bool_]  # (E,) meaningful where member is bool_value
    int_value: npt.NDArray[np.int64]  # (E,) meaningful where member is int_value
    double_value: npt.NDArray[np.float64]  # (E,) meaningful where member is double_value

    @property
    def records(self) -> int:
        return int(self.time_unix_nano.shape[0])


def _field(name: str, number: int, kind: Any, *, repeated: bool = False, message: str = "") -> _Field:
    label = _Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL
    field = _Field(name=name, number=number, type=kind, label=label)
    if message:
        field.type_name = f".{_PACKAGE}.{message}"
    return field


@functools.cache
def _handler() -> Any:
    """The ptars handler of the slim schema, built on first use (never at import)."""
    import ptars

    proto = descriptor_pb2.FileDescriptorProto(name="driftline/otlp_logs_slim.proto", package=_PACKAGE, syntax="proto3")
    message = _Field.TYPE_MESSAGE
    proto.message_type.add(name="Request", field=[_field("resource_logs", 1, message, repeated=True, message="ResourceLogs")])
    proto.message_type.add(name="ResourceLogs", field=[_field("scope_logs", 2, message, repeated=True, message="ScopeLogs")])
    proto.message_type.add(name="ScopeLogs", field=[_field("log_records", 2, message, repeated=True, message="LogRecord")])
    proto.message_type.add(
        name="LogRecord",
        field=[
            _field("time_unix_nano", 1, _Field.TYPE_FIXED64),
            _field("attributes", 6, message, repeated=True, message="KeyValue"),
            _field("observed_time_unix_nano", 11, _Field.TYPE_FIXED64),
            _field("event_name", 12, _Field.TYPE_BYTES),
        ],
    )
    proto.message_type.add(
        name="KeyValue", field=[_field("key", 1, _Field.TYPE_BYTES), _field("value", 2, message, message="AnyValue")]
    )
    kinds = (
        _Field.TYPE_BYTES,  # string_value: see below
        _Field.TYPE_BOOL,
        _Field.TYPE_INT64,
        _Field.TYPE_DOUBLE,
        _Field.TYPE_BYTES,  # ArrayValue, not read
        _Field.TYPE_BYTES,  # KeyValueList, not read
        _Field.TYPE_BYTES,
        _Field.TYPE_INT32,
    )
    members = [_field(name, i + 1, kind) for i, (name, kind) in enumerate(zip(MEMBERS, kinds, strict=True))]
    for member in members:
        member.oneof_index = 0  # the oneof gives each member presence (null when not set)
    proto.message_type.add(name="AnyValue", field=members).oneof_decl.add(name="value")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return ptars.HandlerPool([pool.FindFileByName(proto.name)]).get_for_message(pool.FindMessageTypeByName(f"{_PACKAGE}.Request"))


def _primitive(array: pa.Array, dtype: type[Any]) -> npt.NDArray[Any]:
    """The values buffer of a fixed-width array as numpy, null slots included (zero copy)."""
    buffer = array.buffers()[1]
    if buffer is None:  # an empty array may have no buffer
        return np.zeros(len(array), dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype, count=len(array), offset=array.offset * np.dtype(dtype).itemsize)


def _bits(array: pa.Array, buffer: int) -> npt.NDArray[np.uint8]:
    """A bitmap buffer of ``array`` (0: validity, 1: the values of a bool array) as 0/1 bytes."""
    bitmap = array.buffers()[buffer]
    if bitmap is None:  # no validity bitmap: nothing is null (an empty array may have no buffers at all)
        return np.full(len(array), buffer == 0, dtype=np.uint8)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)]


def flatten_logs(body: bytes) -> FlatLogs:
    """Flatten a serialized request (already accepted by upb) into :class:`FlatLogs`.

    Raises :class:`AmbiguousValue` when an ``AnyValue`` has more than one member,
    and ``ValueError`` when ptars cannot read the bytes.
    """
    batch = _handler().list_to_record_batch([body])
    records = batch.column(0).flatten().field("scope_logs").flatten().field("log_records").flatten()
    attributes = records.field("attributes")
    flat = attributes.flatten()
    value = flat.field("value")
    member = np.zeros(len(flat), dtype=np.uint8)
    count = np.zeros(len(flat), dtype=np.uint8)
    for index, name in enumerate(MEMBERS):
        child = value.field(name)
        if child.null_count == len(child):
            continue
        present = _bits(child, 0)
        member += present * np.uint8(index + 1)
        count += present
    if value.null_count:  # a KeyValue without a value has no member either
        present = _bits(value, 0)
        member *= present
        count *= present
    if len(count) and int(count.max()) > 1:
        raise AmbiguousValue("an AnyValue has more than one member of its oneof set")
    offsets = np.asarray(attributes.offsets.to_numpy(), dtype=np.intp)
    offsets -= offsets[0]
    return FlatLogs(
        time_unix_nano=_primitive(records.field("time_unix_nano"), np.uint64),
        observed_time_unix_nano=_primitive(records.field("observed_time_unix_nano"), np.uint64),
        event_name=records.field("event_name").view(pa.string()),
        record=np.repeat(np.arange(len(records), dtype=np.intp), np.diff(offsets)),
        attribute_offsets=offsets,
        key=flat.field("key").view(pa.string()),
        member=member.view(np.int8),
        string_value=value.field("string_value").view(pa.string()),
        bool_value=_bits(value.field("bool_value"), 1).view(np.bool_),
        int_value=_primitive(value.field("int_value"), np.int64),
        double_value=_primitive(value.field("double_value"), np.float64),
    )
