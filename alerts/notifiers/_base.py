"""What the HTTP notifiers share: one pooled client, shutdown and flush semantics."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx

from alerts._http import attempt
from alerts.model import Result

__all__ = ["HttpNotifier"]


class HttpNotifier:
    """Base of the HTTP notifiers: a pooled client with timeouts and no redirects.

    Each ``send`` is one synchronous attempt, so there is nothing to flush; after
    :meth:`shutdown` every send fails as retryable, so the outbox keeps the
    notification for the next start.
    """

    def __init__(self, name: str, *, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._closed = threading.Event()

    def _post(self, url: str, content: bytes, headers: Mapping[str, str]) -> Result:
        shut_down = Result(ok=False, retryable=True, detail=f"notifier {self.name!r} is shut down")
        if self._closed.is_set():
            return shut_down
        try:
            return attempt(self._client, "POST", url, content=content, headers=headers)
        except RuntimeError:  # the client was closed by a concurrent shutdown()
            return shut_down

    def shutdown(self) -> None:
        self._closed.set()
        self._client.close()

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        return True
