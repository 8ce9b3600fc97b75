"""An in-memory rollback action: records the alerts it ran for (and dry runs separately)."""

from __future__ import annotations

import threading

from alerts.model import Alert, Result

__all__ = ["RecordingAction"]


class RecordingAction:
    """Keeps the alerts it ran for in :attr:`runs` and dry runs in :attr:`dry_runs`.

    >>> from alerts.model import Alert
    >>> action = RecordingAction("abort")
    >>> alert = Alert("f1", "FeatureDrift", "firing", "critical", {}, {}, 0.0)
    >>> action.run(alert, dry_run=True).ok, len(action.runs), len(action.dry_runs)
    (True, 0, 1)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.runs: list[Alert] = []
        self.dry_runs: list[Alert] = []
        self._lock = threading.Lock()

    def run(self, alert: Alert, *, dry_run: bool = False) -> Result:
        with self._lock:
            (self.dry_runs if dry_run else self.runs).append(alert)
        return Result(ok=True, detail="dry run" if dry_run else "recorded")
