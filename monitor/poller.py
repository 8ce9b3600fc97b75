"""Loops that fetch something over HTTP on a schedule, one thread per source.

The DCGM scraper and the KPI pull share the mechanics: a thread per source, a fixed
interval counted from each attempt's start, ``up`` per source, an unexpected error
counted instead of ending the loop, and a stop that waits a bounded time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import httpx

from monitor.stats import IngestStats

__all__ = ["Poller"]

_logger = logging.getLogger(__name__)


class Poller:
    """Subclasses set :attr:`signal` and :attr:`failure_reason` and implement :meth:`poll_once`."""

    signal = ""
    failure_reason = ""

    def __init__(self, sources: Sequence[str], stats: IngestStats, *, interval: float, timeout: float | None) -> None:
        self.sources = list(dict.fromkeys(sources))
        self.stats = stats
        self.interval = interval
        self.timeout = timeout if timeout is not None else min(10.0, interval)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._up: dict[str, float] = {}
        self._lock = threading.Lock()

    def poll_once(self, client: httpx.Client, source: str) -> bool:
        """Fetch and log ``source`` once; True when it worked."""
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        for source in self.sources:
            thread = threading.Thread(target=self._run, args=(source,), name=f"driftline-{self.signal}-{source}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        """Signal every loop and wait up to ``timeout`` s in all; a request in flight is abandoned."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = []

    def up(self) -> dict[str, float]:
        """1 per source whose latest attempt worked, else 0."""
        with self._lock:
            return dict(self._up)

    def _run(self, source: str) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    ok = self.poll_once(client, source)
                except Exception:  # never let one bad attempt end the loop
                    _logger.exception("%s poll of %s failed unexpectedly", self.signal, source)
                    self.stats.reject(self.signal, self.failure_reason)
                    ok = False
                with self._lock:
                    self._up[source] = 1.0 if ok else 0.0
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
