"""The durable ingest log: an acknowledged batch is a committed row.

Receivers hand decoded batches to :meth:`IngestLog.append`; one writer thread
commits everything waiting in a single transaction (group commit) and only then
resolves the callers' futures, so a response is never sent for data that is
not on disk. Each entry carries a digest of the request that produced it: an
exporter retrying a request whose response it lost is recognised and
acknowledged again without being stored twice.
"""

from __future__ import annotations

import collections
import io
import queue
import struct
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Engine, delete, func, select, text

from collectors.records import Batch, batch_from_arrow
from monitor.store.tables import ingest_log

__all__ = ["AppendResult", "IngestLog", "LiveFeed", "LogOverloaded", "decode_entry", "encode_entry"]

_LENGTH = struct.Struct("<I")
# Plain SQL that SQLite (3.35+) and PostgreSQL both accept: one statement per entry,
# a duplicate digest returns no row instead of raising.
_INSERT = text(
    "INSERT INTO ingest_log (received_at, digest, records, payload) VALUES (:received_at, :digest, :records, :payload) "
    'ON CONFLICT (digest) DO NOTHING RETURNING "offset"'
)
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


class LogOverloaded(RuntimeError):
    """More requests are waiting for the log than the configured queue holds."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    offset: int
    duplicate: bool


@dataclass(slots=True)
class _Pending:
    digest: str
    records: int
    payload: bytes
    future: Future[AppendResult]
    batches: Sequence[Batch] | None


class LiveFeed:
    """Committed entries handed to the pipeline in memory, in commit order.

    The log stays the source of truth: the pipeline reads from it on start, and
    whenever this feed could not keep everything (``lost``). While the feed is
    complete, the pipeline takes the decoded batches from here and skips reading
    back and decoding what it was just handed. Only the writer thread appends,
    right after each commit, so the order is the offset order.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: collections.deque[tuple[int, Sequence[Batch]]] = collections.deque()
        self.lost = False

    def push(self, offset: int, batches: Sequence[Batch] | None) -> None:
        with self._lock:
            if batches is None or len(self._entries) >= self.capacity:
                self.lost = True
                self._entries.clear()
            elif not self.lost:
                self._entries.append((offset, batches))

    def take(self) -> tuple[list[tuple[int, Sequence[Batch]]], bool]:
        """Everything queued, and whether entries were lost since the last call (then read the log)."""
        with self._lock:
            entries, lost = list(self._entries), self.lost
            self._entries.clear()
            self.lost = False
            return entries, lost


def encode_entry(batches: Sequence[Batch]) -> bytes:
    """Serialise batches as length-prefixed Arrow IPC streams (lz4-compressed buffers)."""
    out = io.BytesIO()
    for batch in batches:
        record_batch = batch.to_arrow()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, record_batch.schema, options=_IPC_OPTIONS) as writer:
            writer.write_batch(record_batch)
        data = sink.getvalue().to_pybytes()
        out.write(_LENGTH.pack(len(data)))
        out.write(data)
    return out.getvalue()


def decode_entry(payload: bytes) -> list[Batch]:
    """Inverse of :func:`encode_entry`."""
    batches: list[Batch] = []
    view = memoryview(payload)
    position = 0
    while position < len(view):
        (length,) = _LENGTH.unpack_from(view, position)
        position += _LENGTH.size
        with pa.ipc.open_stream(pa.py_buffer(view[position : position + length])) as reader:
            for record_batch in reader:
                batches.append(batch_from_arrow(record_batch))
        position += length
    return batches


class IngestLog:
    """Append-only log of accepted batches in the ``ingest_log`` table."""

    def __init__(self, engine: Engine, *, max_pending: int = 256, max_group: int = 64) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.engine = engine
        self.max_pending = max_pending
        self.max_group = max_group
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self.appended = threading.Event()  # set after every commit; the pipeline waits on it
        self.live = LiveFeed(capacity=4 * max_pending)
        self.commits = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="driftline-ingest-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def append(self, digest: str, records: int, payload: bytes, batches: Sequence[Batch] | None = None) -> Future[AppendResult]:
        """Queue an entry; the future resolves once it is committed (or found committed).

        ``batches`` are the decoded form of ``payload``; when given they are handed
        to the pipeline through :attr:`live` after the commit.
        """
        future: Future[AppendResult] = Future()
        try:
            self._queue.put_nowait(_Pending(digest, records, payload, future, batches))
        except queue.Full:
            raise LogOverloaded(f"{self.max_pending} requests are already waiting for the ingest log") from None
        return future

    def append_batches(self, digest: str, batches: Sequence[Batch]) -> Future[AppendResult]:
        """Encode ``batches`` and :meth:`append` them: what every ingest path calls."""
        return self.append(digest, sum(len(b) for b in batches), encode_entry(batches), batches)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        try:
            results = self._write(group)
        except Exception as exc:  # the database is down or full: fail these requests, keep serving
            for item in group:
                item.future.set_exception(exc)
            return
        self.commits += 1
        for item, result in zip(group, results, strict=True):
            if not result.duplicate:
                self.live.push(result.offset, item.batches)
        self.appended.set()
        for item, result in zip(group, results, strict=True):
            item.future.set_result(result)

    def _write(self, group: list[_Pending]) -> list[AppendResult]:
        now = time.time()
        results: list[AppendResult] = []
        with self.engine.begin() as connection:
            for item in group:
                params = {"received_at": now, "digest": item.digest, "records": item.records, "payload": item.payload}
                offset = connection.execute(_INSERT, params).scalar()
                if offset is None:  # the digest is logged already: a retry whose answer was lost
                    existing = select(ingest_log.c.offset).where(ingest_log.c.digest == item.digest)
                    results.append(AppendResult(int(connection.execute(existing).scalar_one()), duplicate=True))
                else:
                    results.append(AppendResult(int(offset), duplicate=False))
        return results

    def read(self, after: int, limit: int = 256) -> list[tuple[int, bytes]]:
        """Entries with offset > ``after``, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(ingest_log.c.offset, ingest_log.c.payload)
                .where(ingest_log.c.offset > after)
                .order_by(ingest_log.c.offset)
                .limit(limit)
            )
            return [(int(offset), bytes(payload)) for offset, payload in rows]

    def head(self) -> int:
        """The newest committed offset (0 when empty)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.coalesce(func.max(ingest_log.c.offset), 0))).scalar_one())

    def prune(self, upto: int, older_than: float) -> int:
        """Delete processed entries before ``upto`` received before ``older_than``.

        The entry at ``upto`` itself is kept so offsets never restart after a prune.
        """
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(ingest_log).where(ingest_log.c.offset < upto, ingest_log.c.received_at < older_than)
            )
            return int(result.rowcount or 0)
