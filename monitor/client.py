"""A batching client for the columnar batch API (``POST /api/v1/events``), for model servers.

Prefer it to the OpenTelemetry path (:mod:`monitor.otel_helper`) when a process logs many
predictions per second and does not already run an OpenTelemetry pipeline: rows are buffered in
memory and sent as Arrow IPC batches by one background thread, so :meth:`DriftlineClient.log`
costs a lock and an append and never waits on the network.

Behaviour, in the order a row meets it:

* **Back-pressure.** At most ``max_queue`` rows wait to be sent. When the buffer is full,
  ``on_full="drop"`` (the default: monitoring must never break serving) drops the row, counts it
  in ``stats.dropped`` and makes ``log`` return ``False``; ``on_full="raise"`` raises
  :class:`QueueFull` instead.
* **Batching.** A batch leaves when ``batch_size`` rows are buffered, when the oldest buffered row
  is ``flush_interval`` seconds old, on :meth:`~DriftlineClient.force_flush` and on
  :meth:`~DriftlineClient.shutdown`. A batch whose columns Arrow cannot type (a feature given
  both numbers and strings) goes as JSON instead, so the server can reject only the odd rows.
* **Retries** (as the OpenTelemetry OTLP/HTTP exporter does): only 429, 502, 503, 504 and
  transport errors are retried, with exponential backoff (``backoff`` doubling per attempt, at
  most ``max_backoff``) times a random factor in ``[1 - jitter, 1 + jitter]``. A ``Retry-After``
  header replaces the backoff. Every batch has an overall ``deadline``: a retry that would wait
  past it is not made. Waits are on an event that :meth:`~DriftlineClient.shutdown` sets, so
  shutdown cuts them short. Other statuses (400, 401, 413, 415, 422) are not retried.
* **Counting.** ``stats.sent`` rows the server accepted, ``stats.rejected`` rows it refused
  (per-row errors, or a whole request refused with a 4xx), ``stats.dropped`` rows never delivered
  (queue full, retries exhausted, deadline passed, cut short by shutdown). ``stats.last_error``
  says why the latest rows were rejected or dropped.

Examples
--------
A mock transport stands in for the server here; in production leave ``transport`` unset.

>>> import httpx, pyarrow as pa
>>> def server(request):
...     rows = pa.ipc.open_stream(request.content).read_all().num_rows
...     return httpx.Response(200, json={"accepted": rows, "rejected": 0, "errors": []})
>>> client = DriftlineClient("http://driftline:4318", "churn", "v3", transport=httpx.MockTransport(server))
>>> client.log("p-1", 1, {"age": 31, "plan": "pro"}, score=0.91)
True
>>> client.log("p-2", 0, {"age": 45, "plan": "free"})
True
>>> client.force_flush(timeout=5)
True
>>> client.shutdown()
>>> client.stats.sent, client.stats.dropped
(2, 0)
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pyarrow as pa

__all__ = ["ARROW_MEDIA_TYPE", "RETRYABLE_STATUSES", "ClientStats", "DriftlineClient", "QueueFull"]

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_ARROW_FIXED = frozenset({"timestamp", "prediction_id", "prediction", "score"})

_log = logging.getLogger(__name__)

# One buffered row: timestamp (unix s), prediction id, prediction, score, features, monotonic enqueue time.
_Row = tuple[float, str, Any, float | None, Mapping[str, Any], float]


class QueueFull(RuntimeError):
    """``log`` found ``max_queue`` rows waiting (``on_full="raise"``); ``prediction_id`` names the row."""

    def __init__(self, prediction_id: str, max_queue: int) -> None:
        super().__init__(f"the Driftline client queue is full ({max_queue} rows); row {prediction_id!r} was not queued")
        self.prediction_id = prediction_id
        self.max_queue = max_queue


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Counters of a :class:`DriftlineClient`, read at one instant."""

    sent: int  #: rows the server accepted
    rejected: int  #: rows the server refused
    dropped: int  #: rows never delivered: queue full, retries exhausted, deadline, shutdown
    queued: int  #: rows waiting in the buffer now
    batches: int  #: requests answered 200
    retries: int  #: requests repeated after a retryable answer or a transport error
    last_error: str | None  #: why the latest rows were rejected or dropped


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    if integer and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{name}={value!r} must be an integer")
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds (a float is tolerated) or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


class DriftlineClient:
    """Send inference rows to Driftline's columnar API in batches, from a background thread.

    Parameters
    ----------
    api_url
        The server's base URL, e.g. ``http://driftline:4318``.
    model, version
        The model every row belongs to (one client per deployed model version).
    token
        Sent as ``Authorization: Bearer <token>``; needed when the server sets
        ``DRIFTLINE_INGEST_TOKEN``.
    batch_size
        Rows per request. Larger: fewer requests and less CPU per row, more memory and a larger
        body (keep it under the server's ``max_body_bytes``).
    flush_interval
        Seconds the oldest buffered row may wait. Smaller: fresher data, more, smaller requests.
    max_queue
        Rows that may wait to be sent. Larger: rides out longer outages, more memory.
    on_full
        ``"drop"`` (count and return ``False``) or ``"raise"`` (:class:`QueueFull`) when the
        buffer holds ``max_queue`` rows.
    timeout
        Seconds for one HTTP request.
    deadline
        Seconds one batch may take, retries and waits included. Larger: survives longer
        outages, but a stuck batch holds back the ones behind it for longer.
    jitter
        Random spread of each backoff wait, a fraction in ``[0, 1]`` (0: exact waits, for tests).
    backoff, max_backoff
        First retry wait in seconds (doubled per attempt) and its cap.
    transport
        An ``httpx`` transport, e.g. ``httpx.MockTransport`` in tests.
    """

    def __init__(
        self,
        api_url: str,
        model: str,
        version: str,
        *,
        token: str | None = None,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        on_full: Literal["drop", "raise"] = "drop",
        timeout: float = 10.0,
        deadline: float = 60.0,
        jitter: float = 0.2,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"model={model!r} must be a non-empty string")
        if not isinstance(version, str) or not version:
            raise ValueError(f"version={version!r} must be a non-empty string")
        _positive("batch_size", batch_size, integer=True)
        _positive("max_queue", max_queue, integer=True)
        for name, value in (
            ("flush_interval", flush_interval),
            ("timeout", timeout),
            ("deadline", deadline),
            ("backoff", backoff),
            ("max_backoff", max_backoff),
        ):
            _positive(name, value)
        if on_full not in ("drop", "raise"):
            raise ValueError(f"on_full={on_full!r} must be 'drop' or 'raise'")
        if not (isinstance(jitter, int | float) and 0 <= jitter <= 1):
            raise ValueError(f"jitter={jitter!r} must be a number in [0, 1]")
        self.api_url = api_url.rstrip("/")
        self.model = model
        self.version = version
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.on_full = on_full
        self.timeout = timeout
        self.deadline = deadline
        self.jitter = jitter
        self.backoff = backoff
        self.max_backoff = max_backoff
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, transport=transport, timeout=timeout)
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._buffer: list[_Row] = []
        self._logged = 0  # rows accepted by log(), ever
        self._taken = 0  # rows taken out of the buffer by the sender
        self._done = 0  # rows sent, rejected or dropped after being taken
        self._flush_to = 0  # send without waiting until _taken reaches this
        self._closing = False
        self._stop = threading.Event()  # set by shutdown: cuts retry waits short
        self._sent = self._rejected = self._dropped = self._batches = self._retries = 0
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="driftline-client", daemon=True)
        self._thread.start()

    # -- public surface ---------------------------------------------------------------------------

    def log(
        self,
        prediction_id: str,
        prediction: Any,
        features: Mapping[str, Any],
        score: float | None = None,
        timestamp: float | None = None,
    ) -> bool:
        """Buffer one prediction; ``False`` if it was dropped because the buffer is full.

        ``timestamp`` is unix seconds (default: now). Feature values are numbers, strings or
        booleans; ``None`` is a missing value.
        """
        stamp = time.time() if timestamp is None else timestamp
        with self._cond:
            if self._closing:
                self._dropped += 1
                self._last_error = "log() after shutdown()"
                return False
            if len(self._buffer) >= self.max_queue:
                if self.on_full == "raise":
                    raise QueueFull(prediction_id, self.max_queue)
                self._dropped += 1
                self._last_error = f"queue full ({self.max_queue} rows)"
                return False
            self._buffer.append((stamp, prediction_id, prediction, score, features, time.monotonic()))
            self._logged += 1
            if len(self._buffer) == 1 or len(self._buffer) >= self.batch_size:
                self._cond.notify_all()
        return True

    @property
    def stats(self) -> ClientStats:
        """The counters now."""
        with self._cond:
            return ClientStats(
                sent=self._sent,
                rejected=self._rejected,
                dropped=self._dropped,
                queued=len(self._buffer),
                batches=self._batches,
                retries=self._retries,
                last_error=self._last_error,
            )

    def force_flush(self, timeout: float | None = None) -> bool:
        """Send every row logged so far; ``True`` when all were handled within ``timeout`` seconds.

        Handled means sent, rejected or dropped: read ``stats`` to tell which.
        """
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._logged
            self._flush_to = max(self._flush_to, target)
            self._cond.notify_all()
            while self._done < target:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting rows, send what is buffered (one attempt per batch, no retry waits), close.

        Rows still unsent after ``timeout`` seconds are dropped with the daemon thread.
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._stop.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._http.close()

    def __enter__(self) -> DriftlineClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()

    # -- the sender thread ------------------------------------------------------------------------

    def _next_batch(self) -> list[_Row] | None:
        """Wait until a batch is due and take it; ``None`` when shut down and empty."""
        with self._cond:
            while True:
                n = len(self._buffer)
                if n == 0 and self._closing:
                    return None
                wait: float | None = None
                if n:
                    age = time.monotonic() - self._buffer[0][5]
                    if n >= self.batch_size or self._closing or self._flush_to > self._taken or age >= self.flush_interval:
                        batch = self._buffer[: self.batch_size]
                        del self._buffer[: self.batch_size]
                        self._taken += len(batch)
                        return batch
                    wait = self.flush_interval - age
                self._cond.wait(wait)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                sent, rejected, error = self._deliver(batch)
            except Exception as exc:  # never let one bad batch kill the sender
                _log.exception("Driftline client: a batch of %d rows failed", len(batch))
                sent, rejected, error = 0, 0, f"{type(exc).__name__}: {exc}"
            dropped = len(batch) - sent - rejected
            with self._cond:
                self._sent += sent
                self._rejected += rejected
                self._dropped += dropped
                if error is not None:
                    self._last_error = error
                self._done += len(batch)
                self._cond.notify_all()

    def _encode(self, rows: list[_Row]) -> tuple[bytes, str, dict[str, str]]:
        """The request body: Arrow IPC, or JSON columns when Arrow cannot carry the batch.

        JSON is used when a column mixes value types (the server then rejects only the odd rows)
        or a feature is named like one of the fixed Arrow columns.
        """
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row[4]))
        timestamps = [r[0] for r in rows]
        ids = [r[1] for r in rows]
        predictions = [r[2] for r in rows]
        scores = [r[3] for r in rows]
        has_scores = any(s is not None for s in scores)
        features = {name: [r[4].get(name) for r in rows] for name in names}
        if _ARROW_FIXED.isdisjoint(names):
            try:
                arrays = {
                    "timestamp": pa.array(timestamps, type=pa.float64()),
                    "prediction_id": pa.array(ids, type=pa.string()),
                    "prediction": pa.array(predictions),
                    **({"score": pa.array(scores, type=pa.float64())} if has_scores else {}),
                    **{name: pa.array(values) for name, values in features.items()},
                }
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
            else:
                sink = pa.BufferOutputStream()
                table = pa.table(arrays)
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                return sink.getvalue().to_pybytes(), ARROW_MEDIA_TYPE, {"model": self.model, "version": self.version}
        document = {
            "model": self.model,
            "version": self.version,
            "timestamps": timestamps,
            "prediction_ids": ids,
            "predictions": predictions,
            **({"scores": scores} if has_scores else {}),
            "features": features,
        }
        return json.dumps(document, default=str).encode(), "application/json", {}

    def _deliver(self, rows: list[_Row]) -> tuple[int, int, str | None]:
        """POST one batch with retries: (accepted, rejected, error or None)."""
        body, media, params = self._encode(rows)
        end = time.monotonic() + self.deadline
        attempt = 0
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return 0, 0, f"deadline of {self.deadline} s passed"
            retry_after: float | None = None
            try:
                response = self._http.post(
                    f"{self.api_url}/api/v1/events",
                    content=body,
                    params=params,
                    headers={"Content-Type": media},
                    timeout=min(self.timeout, remaining),
                )
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    answer = response.json()
                    with self._cond:
                        self._batches += 1
                    accepted, rejected = int(answer.get("accepted", 0)), int(answer.get("rejected", 0))
                    first = next(iter(answer.get("errors") or []), None)
                    return accepted, rejected, (f"rejected: {first.get('message')}" if first else None)
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRYABLE_STATUSES:
                    return 0, len(rows), error
                retry_after = _retry_after(response.headers.get("retry-after"))
            if self._stop.is_set():
                return 0, 0, f"{error} (not retried: shutting down)"
            if retry_after is None:
                delay = min(self.backoff * 2**attempt, self.max_backoff)
                delay *= self._random.uniform(1 - self.jitter, 1 + self.jitter)
            else:
                delay = retry_after
            if time.monotonic() + delay >= end:
                return 0, 0, f"{error} (gave up: the next retry would pass the {self.deadline} s deadline)"
            _log.debug("Driftline client: %s; retrying in %.2f s", error, delay)
            if self._stop.wait(delay):
                return 0, 0, f"{error} (not retried: shutting down)"
            attempt += 1
            with self._cond:
                self._retries += 1
