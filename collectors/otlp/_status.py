"""OTLP/HTTP response bodies: success with partial_success, and google.rpc.Status errors."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from collectors.otlp._body import Encoding

__all__ = ["encode_message", "error_body"]

# google.rpc.Code values used for OTLP/HTTP failures.
_RPC_CODE_BY_HTTP = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}


def encode_message(message: Message, encoding: Encoding) -> bytes:
    """Serialise a response message in the request's encoding."""
    if encoding == "json":
        return str(json_format.MessageToJson(message, indent=None)).encode()
    return bytes(message.SerializeToString())


def error_body(http_status: int, text: str, encoding: Encoding) -> bytes:
    """A ``google.rpc.Status`` body naming what was wrong."""
    status = status_pb2.Status(code=_RPC_CODE_BY_HTTP.get(http_status, 2), message=text)
    return encode_message(status, encoding)
