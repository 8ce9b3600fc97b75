"""Load for fault tests: senders that retry each batch until it is acknowledged, like an exporter."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import httpx

from support import inference, log_record, logs_request

PER_BATCH = 50


def batch_body(model: str, lane: int, seq: int) -> bytes:
    records = [
        log_record(inference(model, "v1", f"{lane}-{seq}-{i}", {"x": float((seq * PER_BATCH + i) % 97), "lane": f"l{lane}"}))
        for i in range(PER_BATCH)
    ]
    return logs_request(records).SerializeToString()


class RetryingSender(threading.Thread):
    """POSTs numbered batches, each until it gets a 200, and records every status it saw.

    ``bodies(seq)`` gives batch ``seq`` (None: there are no more); each batch holds
    ``per_batch`` events. Without an end it streams until :meth:`finish`.
    """

    def __init__(
        self,
        url: str,
        bodies: Callable[[int], bytes | None],
        *,
        per_batch: int = PER_BATCH,
        pause: float = 0.02,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.bodies = bodies
        self.per_batch = per_batch
        self.pause = pause
        self.timeout = timeout
        self.acknowledged = 0  # events in batches answered 200
        self.statuses: collections.Counter[int | str] = collections.Counter()
        self.retry_after: set[str] = set()
        self.refusals: list[str] = []  # bodies of the first few non-200 answers
        self.stopping = threading.Event()

    @classmethod
    def stream(cls, url: str, model: str, lane: int) -> RetryingSender:
        """An endless stream of :func:`batch_body` batches for ``model`` on ``lane``."""
        return cls(url, lambda seq: batch_body(model, lane, seq))

    @property
    def failures(self) -> int:
        """Attempts not answered 200 (refusals and transport errors)."""
        return sum(count for status, count in self.statuses.items() if status != 200)

    def run(self) -> None:
        seq = 0
        with httpx.Client(timeout=self.timeout) as client:
            while not self.stopping.is_set():
                body = self.bodies(seq)
                if body is None:
                    return
                while True:  # a batch once started is sent until acknowledged, even when stopping
                    try:
                        response = client.post(
                            f"{self.url}/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"}
                        )
                        self.statuses[response.status_code] += 1
                        if response.status_code == 200:
                            break
                        if len(self.refusals) < 5:
                            self.refusals.append(response.text)
                        if "retry-after" in response.headers:
                            self.retry_after.add(response.headers["retry-after"])
                    except httpx.TransportError as exc:
                        self.statuses[type(exc).__name__] += 1
                    time.sleep(0.05)
                self.acknowledged += self.per_batch
                seq += 1
                time.sleep(self.pause)

    def finish(self, timeout: float = 120) -> None:
        self.stopping.set()
        self.join(timeout=timeout)
        assert not self.is_alive(), "a batch was never acknowledged"


def all_statuses(senders: list[RetryingSender]) -> collections.Counter[int | str]:
    """Every status (or transport error) the senders saw so far, counted."""
    return sum((s.statuses for s in senders), start=collections.Counter[int | str]())
