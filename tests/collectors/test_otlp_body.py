"""Tests for collectors.otlp._body: Content-Type and Content-Encoding handling."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import zlib

import numpy as np
import pytest

from collectors.errors import DecodeError, PayloadTooLarge, UnsupportedMediaType
from collectors.otlp import decompress, media_type

# Incompressible, seeded payload: compressed size ~ raw size, so caps are really exercised.
PAYLOAD = np.random.default_rng(7).bytes(4096)
MiB = 1024 * 1024


# --- media types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/protobuf", "protobuf"),
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON ; charset=UTF-8", "json"),
        ("  application/x-protobuf;foo=bar", "protobuf"),
    ],
)
def test_media_type_maps_supported_types_ignoring_parameters(content_type: str, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize("content_type", [None, "", "   "])
def test_missing_content_type_is_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match=r"\(missing\)") as caught:
        media_type(content_type)
    assert caught.value.status == 415
    assert caught.value.reason == "unsupported_media_type"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/jsonx", "json"])
def test_unknown_content_type_is_415_naming_it(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=re.escape(repr(content_type))) as caught:
        media_type(content_type + "; charset=utf-8")
    assert caught.value.status == 415


# --- encodings ----------------------------------------------------------------


@pytest.mark.parametrize("content_encoding", [None, "", "identity", " Identity "])
def test_identity_returns_body_unchanged(content_encoding: str | None) -> None:
    assert decompress(PAYLOAD, content_encoding, limit=MiB) == PAYLOAD


@pytest.mark.parametrize("content_encoding", ["gzip", "GZIP", " gzip "])
def test_gzip_is_undone(content_encoding: str) -> None:
    assert decompress(gzip.compress(PAYLOAD), content_encoding, limit=MiB) == PAYLOAD


def test_deflate_is_undone() -> None:
    assert decompress(zlib.compress(PAYLOAD), "deflate", limit=MiB) == PAYLOAD


@pytest.mark.parametrize("content_encoding", ["br", "zstd", "compress", "gzip, br", "x-gzip"])
def test_unknown_encoding_is_415_naming_it(content_encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="Content-Encoding") as caught:
        decompress(gzip.compress(PAYLOAD), content_encoding, limit=MiB)
    assert caught.value.status == 415
    assert content_encoding in caught.value.message


# --- size caps ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzipped (about 50 kB), built without holding 50 MB at once."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    parts = [compressor.compress(chunk) for _ in range(50)]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bomb_is_refused_as_too_large(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < MiB  # the wire size alone would pass the cap
    with pytest.raises(PayloadTooLarge) as caught:
        decompress(gzip_bomb, "gzip", limit=MiB)
    assert caught.value.limit == MiB
    assert caught.value.status == 413
    assert caught.value.reason == "too_large"


def test_gzip_bomb_is_refused_before_inflating_it(gzip_bomb: bytes) -> None:
    # A decoder that inflated everything and only then compared sizes would peak near 50 MB.
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decompress(gzip_bomb, "gzip", limit=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB


@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate"])
def test_body_exactly_at_limit_is_accepted_one_more_byte_is_not(encoding: str) -> None:
    def encode(raw: bytes) -> bytes:
        return {"identity": raw, "gzip": gzip.compress(raw), "deflate": zlib.compress(raw)}[encoding]

    limit = len(PAYLOAD)
    assert decompress(encode(PAYLOAD), encoding, limit=limit) == PAYLOAD
    with pytest.raises(PayloadTooLarge):
        decompress(encode(PAYLOAD + b"x"), encoding, limit=limit)


def test_limit_applies_to_decompressed_size_not_wire_size() -> None:
    raw = bytes(10_000)  # compresses to a few dozen bytes
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(raw), "gzip", limit=9_999)
    assert decompress(gzip.compress(raw), "gzip", limit=10_000) == raw


# --- corrupt streams ----------------------------------------------------------


@pytest.mark.parametrize("cut", [10, 100, -8, -1])
def test_truncated_gzip_is_bad_compression(cut: int) -> None:
    body = gzip.compress(PAYLOAD)
    with pytest.raises(DecodeError) as caught:
        decompress(body[:cut], "gzip", limit=MiB)
    assert caught.value.reason == "bad_compression"
    assert caught.value.status == 400
    assert not isinstance(caught.value, PayloadTooLarge)


def test_truncated_deflate_is_bad_compression() -> None:
    with pytest.raises(DecodeError, match="truncated") as caught:
        decompress(zlib.compress(PAYLOAD)[:-10], "deflate", limit=MiB)
    assert caught.value.reason == "bad_compression"


@pytest.mark.parametrize("body", [b"", b"not gzip at all", PAYLOAD])
def test_garbage_declared_as_gzip_is_bad_compression(body: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decompress(body, "gzip", limit=MiB)
    assert caught.value.reason == "bad_compression"


def test_corrupted_gzip_checksum_is_bad_compression() -> None:
    body = bytearray(gzip.compress(PAYLOAD))
    body[-6] ^= 0xFF  # inside the CRC32 trailer
    with pytest.raises(DecodeError, match="not valid gzip") as caught:
        decompress(bytes(body), "gzip", limit=MiB)
    assert caught.value.reason == "bad_compression"


def test_data_after_the_gzip_stream_is_refused_not_dropped() -> None:
    # A second gzip member used to be silently discarded (data loss); now it is a clear 400.
    body = gzip.compress(b"first") + gzip.compress(b"second")
    with pytest.raises(DecodeError, match=r"^\d+ bytes follow the end of the gzip stream") as caught:
        decompress(body, "gzip", limit=MiB)
    assert caught.value.reason == "bad_compression"
    with pytest.raises(DecodeError, match="follow the end of the deflate stream"):
        decompress(zlib.compress(b"first") + b"junk", "deflate", limit=MiB)


def test_zero_padding_after_gzip_stream_is_allowed() -> None:
    assert decompress(gzip.compress(PAYLOAD) + bytes(16), "gzip", limit=MiB) == PAYLOAD
