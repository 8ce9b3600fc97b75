"""Process-local ingest counters, read by the Prometheus collector."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["IngestStats"]


class IngestStats:
    """Accepted and rejected record counts by signal and reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()

    def accept(self, signal: str, count: int) -> None:
        if count:
            with self._lock:
                self.records[signal] += count

    def reject(self, signal: str, reason: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.rejected[(signal, reason)] += count

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        with self._lock:
            return dict(self.records), dict(self.rejected)
