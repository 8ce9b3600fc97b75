"""An in-memory notifier: records what it was asked to send; failures can be scripted."""

from __future__ import annotations

import threading
from collections import deque

from alerts.model import Notification, Result

__all__ = ["MemoryNotifier"]


class MemoryNotifier:
    """Keeps every delivered notification in :attr:`sent`.

    >>> from alerts.model import Notification, Result
    >>> notifier = MemoryNotifier("test")
    >>> notifier.fail_next(Result(ok=False, retryable=True, status_code=503))
    >>> batch = Notification(id="n1", receiver="test", group_key="g", alerts=(), created_at=0.0)
    >>> notifier.send(batch).ok, notifier.send(batch).ok, [n.id for n in notifier.sent]
    (False, True, ['n1'])
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self._scripted: deque[Result] = deque()
        self._lock = threading.Lock()

    def fail_next(self, *results: Result) -> None:
        """Answer the next ``len(results)`` sends with these results instead of delivering."""
        with self._lock:
            self._scripted.extend(results)

    def send(self, batch: Notification) -> Result:
        with self._lock:
            self.attempts += 1
            if self._scripted:
                return self._scripted.popleft()
            self.sent.append(batch)
            return Result(ok=True)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        return True
