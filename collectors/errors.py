"""Errors raised while decoding collector input.

Every error carries the HTTP status the receiver should answer with and a short
``reason`` used as the label of ``driftline_ingest_rejected_total``.
"""

from __future__ import annotations

__all__ = ["DecodeError", "PayloadTooLarge", "UnsupportedMediaType"]


class DecodeError(ValueError):
    """A request body that cannot be turned into records.

    Parameters
    ----------
    message:
        Human-readable explanation naming the field and the rule that failed.
    reason:
        Machine-readable rejection reason (a Prometheus label value).
    status:
        The HTTP status code to answer with.
    """

    def __init__(self, message: str, *, reason: str = "malformed", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


class PayloadTooLarge(DecodeError):
    """The body, raw or decompressed, exceeds the configured cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"request body exceeds the limit of {limit} bytes (measured after decompression)",
            reason="too_large",
            status=413,
        )
        self.limit = limit


class UnsupportedMediaType(DecodeError):
    """The Content-Type or Content-Encoding is not one the receiver speaks."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="unsupported_media_type", status=415)
