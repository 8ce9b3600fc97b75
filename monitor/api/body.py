"""Reading request bodies under a size cap, and committing decoded batches to the log."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from fastapi import Request

from collectors.errors import DecodeError, PayloadTooLarge
from collectors.records import Batch
from monitor.api.runtime import Runtime
from monitor.ingest_log import LogOverloaded

__all__ = ["Unavailable", "commit_batches", "read_capped", "unavailable_detail"]

#: What SQLite ("database or disk is full"), the OS and PostgreSQL say when storage has no room.
_OUT_OF_SPACE = ("disk is full", "no space left on device", "could not extend file", "diskfull")


class Unavailable(Exception):
    """The ingest log cannot take the request now; answer 503 with Retry-After."""

    def __init__(self, message: str, *, retry_after: int, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.reason = reason


def unavailable_detail(exc: BaseException) -> str:
    """Why the store refused a write, in words an operator can act on; never the driver's text.

    >>> unavailable_detail(OSError(28, "No space left on device"))
    'the store is out of space'
    >>> unavailable_detail(ConnectionRefusedError())
    'ConnectionRefusedError'
    """
    text = f"{type(exc).__name__} {exc}".lower()
    return "the store is out of space" if any(marker in text for marker in _OUT_OF_SPACE) else type(exc).__name__


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise DecodeError("Content-Length must be a non-negative integer", reason="malformed")
        if int(declared) > limit:
            raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def commit_batches(runtime: Runtime, signal: str, body: bytes, batches: Sequence[Batch]) -> bool:
    """Durably append ``batches``; returns True when this exact request was already logged.

    The digest of the decoded request identifies a retry of a request whose
    response was lost, so it is acknowledged again without being stored twice.
    """
    digest = hashlib.sha256(signal.encode() + b"\0" + body).hexdigest()
    try:
        future = runtime.log.append_batches(digest, batches)
    except LogOverloaded as exc:
        raise Unavailable(str(exc), retry_after=1, reason="overloaded") from None
    try:
        result = await asyncio.wrap_future(future)
    except Exception as exc:
        raise Unavailable(
            f"the ingest log is unavailable: {unavailable_detail(exc)}", retry_after=5, reason="store_unavailable"
        ) from None
    return result.duplicate
