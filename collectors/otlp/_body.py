"""Request body handling shared by every OTLP signal: media type and decompression."""

from __future__ import annotations

import zlib
from typing import Literal

from collectors.errors import DecodeError, PayloadTooLarge, UnsupportedMediaType

__all__ = ["Encoding", "decompress", "media_type"]

Encoding = Literal["protobuf", "json"]

_MEDIA_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}


def media_type(content_type: str | None) -> Encoding:
    """Map a Content-Type header to the OTLP encoding, ignoring parameters like charset."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return _MEDIA_TYPES[base]
    except KeyError:
        raise UnsupportedMediaType(
            f"Content-Type {base or '(missing)'!r} is not supported; use application/x-protobuf or application/json"
        ) from None


def decompress(body: bytes, content_encoding: str | None, *, limit: int) -> bytes:
    """Undo ``Content-Encoding`` without ever holding more than ``limit`` bytes.

    The cap is enforced on the decompressed size, so a small gzip bomb is refused
    after reading at most ``limit + 1`` bytes of output. Bytes after the end of
    the compressed stream (a second gzip member included) are refused rather than
    silently dropped; zero padding after a gzip stream is allowed, as ``gzip -d`` does.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLarge(limit)
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or identity")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(limit)
        out += inflater.flush()
    except zlib.error as exc:
        raise DecodeError(f"body is not valid {encoding} data: {exc}", reason="bad_compression") from None
    if len(out) > limit:
        raise PayloadTooLarge(limit)
    if not inflater.eof:
        raise DecodeError(f"{encoding} stream is truncated", reason="bad_compression")
    trailing = inflater.unused_data.lstrip(b"\x00") if encoding == "gzip" else inflater.unused_data
    if trailing:
        # Decoding further gzip members would make the cost quadratic in their number.
        raise DecodeError(
            f"{len(trailing)} bytes follow the end of the {encoding} stream; send one {encoding} stream per request",
            reason="bad_compression",
        )
    return out
