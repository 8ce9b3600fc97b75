"""OTLP/HTTP decoding, independent of any web framework."""

from collectors.otlp._body import Encoding, decompress, media_type
from collectors.otlp._status import encode_message, error_body
from collectors.otlp.logs import KindLookup, LogsDecodeResult, decode_logs, decode_logs_bytes, parse_logs_request
from collectors.otlp.metrics import MetricsDecodeResult, decode_metrics, parse_metrics_request

__all__ = [
    "Encoding",
    "KindLookup",
    "LogsDecodeResult",
    "MetricsDecodeResult",
    "decode_logs",
    "decode_logs_bytes",
    "decode_metrics",
    "decompress",
    "encode_message",
    "error_body",
    "media_type",
    "parse_logs_request",
    "parse_metrics_request",
]
