"""Tumbling event-time windows per (model, version), holding mergeable feature state.

A row belongs to the window ``[k·width, (k+1)·width)`` containing its timestamp.
A window closes once the watermark (the newest event time seen) passes its end
by the allowed lateness, or when the model has been silent for ``idle_close``
seconds of wall-clock time, or on demand. Rows for a window that has already
closed are *late*: they are counted and dropped, never silently.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from collectors.records import FloatArray, InferenceBatch, Kind, ObjectArray
from detectors.sketches import CategoricalReference, CategoricalWindow, NumericReference, NumericWindow
from monitor.references import Profile

__all__ = ["ClosedWindow", "ModelWindows", "WindowSet", "new_feature_window"]

FeatureWindow = NumericWindow | CategoricalWindow


@dataclass(slots=True)
class WindowSet:
    """All feature windows of one model version over one time window."""

    start: float
    end: float
    n: int = 0
    features: dict[str, FeatureWindow] = field(default_factory=dict)

    def add(self, batch: InferenceBatch, rows: np.ndarray | slice, reference: dict[str, Profile] | None, capacity: int) -> None:
        columns = dict(batch.features)
        columns["ml.prediction"] = batch.predictions
        for name, column in columns.items():
            values = column.values[rows]
            window = self.features.get(name)
            if window is None:
                window = self.features[name] = new_feature_window(
                    column.kind, (reference or {}).get(name), capacity, seed=len(self.features)
                )
            if isinstance(window, NumericWindow):
                if column.kind == "numeric":
                    window.update(cast("FloatArray", values))
            elif column.kind == "categorical":
                window.update(cast("ObjectArray", values))
        self.n += int(batch.timestamps[rows].shape[0])

    def summary(self) -> dict[str, Any]:
        """Per-feature counts, nulls, moments and reference-binned counts for storage with a closed window."""
        out: dict[str, Any] = {}
        for name, window in self.features.items():
            if isinstance(window, NumericWindow):
                out[name] = {
                    "kind": "numeric",
                    "n": window.n,
                    "nulls": window.nulls,
                    "mean": window.mean,
                    "std": window.std,
                    "min": window.minimum if window.n else None,
                    "max": window.maximum if window.n else None,
                    # counts on the reference's bin edges, for the dashboard's distribution overlay
                    "bins": None if window.bins is None else window.bins.tolist(),
                }
            else:
                top = sorted(window.counts.items(), key=lambda item: -item[1])[:20]
                out[name] = {"kind": "categorical", "n": window.n, "nulls": window.nulls, "top": dict(top)}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "n": self.n,
            "features": {
                name: {"kind": "numeric" if isinstance(w, NumericWindow) else "categorical", "state": w.state_dict()}
                for name, w in self.features.items()
            },
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> WindowSet:
        features: dict[str, FeatureWindow] = {}
        for name, item in state["features"].items():
            if item["kind"] == "numeric":
                features[name] = NumericWindow.from_state(item["state"])
            else:
                features[name] = CategoricalWindow.from_state(item["state"])
        return WindowSet(start=float(state["start"]), end=float(state["end"]), n=int(state["n"]), features=features)


def new_feature_window(kind: Kind, profile: Profile | None, capacity: int, seed: int) -> FeatureWindow:
    """The sketch a window keeps for one feature: binned against its reference when there is one."""
    if kind == "numeric":
        edges = profile.edges if isinstance(profile, NumericReference) else None
        return NumericWindow(edges=edges, capacity=capacity, seed=seed)
    if isinstance(profile, CategoricalReference):
        return CategoricalWindow(max_distinct=max(1000, len(profile.categories)))
    return CategoricalWindow()


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    model: str
    version: str
    window: WindowSet
    closed_at: float


@dataclass(slots=True)
class ModelWindows:
    """Open windows of one (model, version) and its event-time watermark."""

    model: str
    version: str
    width: float
    lateness: float
    open: dict[float, WindowSet] = field(default_factory=dict)
    watermark: float = -math.inf
    closed_until: float = -math.inf  # windows ending at or before this are closed
    last_seen: float | None = None  # the caller's clock at the last row (or first check), for idle closing
    late: int = 0

    def add(
        self, batch: InferenceBatch, reference: dict[str, Profile] | None, capacity: int, *, now: float | None = None
    ) -> None:
        """Route each row to its window; rows for closed windows count as late.

        ``now`` is the clock :meth:`due` is later called with (the pipeline's); wall time if omitted.
        """
        self.last_seen = time.time() if now is None else now
        starts = np.floor(batch.timestamps / self.width) * self.width
        unique, inverse = np.unique(starts, return_inverse=True)
        if unique.size <= 1:
            groups: list[np.ndarray | slice] = [slice(None)] * unique.size
        else:  # row indices per window in one pass, not one scan of the batch per window
            order = np.argsort(inverse, kind="stable")
            groups = list(np.split(order, np.cumsum(np.bincount(inverse))[:-1]))
        for start, rows in zip(unique.tolist(), groups, strict=True):
            if start + self.width <= self.closed_until:
                self.late += len(batch) if isinstance(rows, slice) else int(rows.size)
                continue
            window = self.open.get(start)
            if window is None:
                window = self.open[start] = WindowSet(start=start, end=start + self.width)
            window.add(batch, rows, reference, capacity)
        if len(batch):
            self.watermark = max(self.watermark, float(batch.timestamps.max()))

    def due(self, now: float, idle_close: float) -> list[WindowSet]:
        """Pop windows whose end the watermark passed by the lateness, or all when idle."""
        complete = [s for s, w in self.open.items() if w.end + self.lateness <= self.watermark]
        closed = [self._close(start, final=True) for start in sorted(complete)]
        if self.last_seen is None:  # restored from a checkpoint: the idle timer starts now
            self.last_seen = now
        if now - self.last_seen >= idle_close:
            closed += self.close_all()
        return closed

    def close_all(self) -> list[WindowSet]:
        """Close every open window early (on demand or after silence).

        An early close is not final: rows that still arrive for the same time
        range open a new partial window instead of being dropped as late.
        """
        return [self._close(start, final=False) for start in sorted(self.open)]

    def _close(self, start: float, *, final: bool) -> WindowSet:
        window = self.open.pop(start)
        if final:
            self.closed_until = max(self.closed_until, window.end)
        return window

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "width": self.width,
            "lateness": self.lateness,
            "watermark": None if math.isinf(self.watermark) else self.watermark,
            "closed_until": None if math.isinf(self.closed_until) else self.closed_until,
            "late": self.late,
            "open": [w.state_dict() for w in self.open.values()],
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> ModelWindows:
        windows = ModelWindows(
            model=state["model"],
            version=state["version"],
            width=float(state["width"]),
            lateness=float(state["lateness"]),
            watermark=-math.inf if state["watermark"] is None else float(state["watermark"]),
            closed_until=-math.inf if state["closed_until"] is None else float(state["closed_until"]),
            late=int(state["late"]),
        )
        for item in state["open"]:
            window = WindowSet.from_state(item)
            windows.open[window.start] = window
        return windows
