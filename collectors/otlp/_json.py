"""OTLP/JSON to protobuf, following the OTLP JSON mapping rules.

``google.protobuf.json_format`` already handles lowerCamelCase names, enums given
as integers and 64-bit integers given as strings. Two OTLP rules differ from the
canonical protobuf JSON mapping and are handled here:

* ``traceId``, ``spanId`` and ``parentSpanId`` are hex strings, not base64;
* receivers must ignore unknown fields.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from collectors.errors import DecodeError

__all__ = ["parse_json"]

M = TypeVar("M", bound=Message)

_HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _hex_ids_to_base64(node: Any, path: str) -> None:
    """Rewrite hex id fields in place so the canonical JSON parser reads the right bytes."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _HEX_ID_FIELDS and isinstance(value, str):
                    try:
                        raw = bytes.fromhex(value)
                    except ValueError:
                        raise DecodeError(
                            f"{where}.{key} must be a hex string, got {value[:40]!r}",
                            reason="invalid_json",
                        ) from None
                    item[key] = base64.b64encode(raw).decode("ascii")
                elif isinstance(value, (dict, list)):
                    stack.append((value, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def parse_json(body: bytes, message: M) -> M:
    """Parse an OTLP/JSON ``body`` into ``message`` and return it."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON: {exc}", reason="invalid_json") from None
    except RecursionError:
        raise DecodeError("JSON body is nested too deeply", reason="invalid_json") from None
    if not isinstance(document, dict):
        raise DecodeError(f"JSON body must be an object, got {type(document).__name__}", reason="invalid_json")
    _hex_ids_to_base64(document, "$")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
        raise DecodeError(f"body does not match the OTLP schema: {exc}", reason="invalid_json") from None
    except RecursionError:
        raise DecodeError("JSON body is nested too deeply", reason="invalid_json") from None
    return message
