"""Column kinds (numeric or categorical) per (model, version), for type checks at ingest."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from collectors.records import Kind

__all__ = ["KindRegistry"]


class KindRegistry:
    """Thread-safe map (model, version) -> column name -> kind.

    The first value seen for a column (or its reference profile) fixes its kind;
    later records that disagree are rejected as ``type_mismatch``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], dict[str, Kind]] = {}

    def lookup(self, model: str, version: str) -> Mapping[str, Kind]:
        with self._lock:
            return dict(self._kinds.get((model, version), {}))

    def register(self, model: str, version: str, kinds: Mapping[str, Kind]) -> None:
        with self._lock:
            known = self._kinds.setdefault((model, version), {})
            for name, kind in kinds.items():
                known.setdefault(name, kind)

    def replace(self, model: str, version: str, kinds: Mapping[str, Kind]) -> None:
        """Make ``kinds`` authoritative (a new reference profile was uploaded)."""
        with self._lock:
            self._kinds.setdefault((model, version), {}).update(kinds)

    def models(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._kinds)
