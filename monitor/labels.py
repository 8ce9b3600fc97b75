"""Late labels end to end: join them to predictions, score the pairs per window, watch the errors.

The pipeline thread owns one :class:`LabelMonitor`, checkpointed with the rest of its state.
Predictions and labels go into a :class:`~monitor.label_join.JoinBuffer`; each joined pair
is scored for its (model, version):

* the **task** is inferred from the first pairs (:func:`monitor.quality.infer_task`) unless
  ``quality_task_types`` names it for the model;
* the pair's **error** (0/1 for classification, absolute error for regression) feeds a
  streaming detector: DDM for error rates; ADWIN for absolute errors, whose scale is unknown
  in advance (ADWIN's bound adapts to the observed variance, where DDM's binomial bound and
  HDDM's [0, 1] range do not apply);
* pairs are gathered in tumbling **quality windows** of ``quality_window_seconds`` of join
  clock (the time at which they joined); a window closes once the join clock passes its end,
  and its metrics (:mod:`monitor.quality`) are stored, exposed and written to the time series
  ``driftline.model.quality``.

The join clock is the newest event time seen. When traffic stops, it runs on with the wall
clock from the moment it last moved (:meth:`LabelMonitor.tick`), so waiting labels and the
last window still close; replayed history keeps its own event times.

Examples
--------
>>> import numpy as np
>>> from collectors.records import Column, InferenceBatch, LabelBatch
>>> monitor = LabelMonitor(LabelConfig(window=3600.0, capacity=1000, quality_window=60.0))
>>> ids = np.array([f"p{i}" for i in range(4)], dtype=object)
>>> predicted = Column("categorical", np.array(["yes", "no", "no", "yes"], dtype=object))
>>> scores = np.array([0.9, 0.2, 0.4, 0.6])
>>> predictions = InferenceBatch("churn", "v1", np.arange(4.0), ids, predicted, scores, np.full(4, np.nan))
>>> monitor.add_predictions(predictions, now=0.0)
[]
>>> labels = LabelBatch(np.full(4, 30.0), ids, Column("categorical", np.array(["yes", "no", "yes", "no"], dtype=object)))
>>> monitor.add_labels(labels, now=0.0)
[]
>>> [window] = monitor.tick(now=31.0)  # the join clock passes 60: the window [0, 60) closes
>>> window.task, window.n, window.metrics["accuracy"], window.metrics["roc_auc"]
('classification', 4, 0.5, 0.75)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, insert

from collectors.records import InferenceBatch, LabelBatch
from detectors.streaming import ADWIN, DDM, StreamDetector
from monitor.label_join import JoinBuffer, Joined
from monitor.quality import TaskType, class_names, classification_metrics, infer_task, regression_metrics
from monitor.settings import Settings
from monitor.store.tables import quality_windows

__all__ = [
    "QUALITY_SERIES",
    "LabelConfig",
    "LabelCounts",
    "LabelMonitor",
    "QualityStatus",
    "QualityWindow",
    "quality_points",
    "write_quality",
]

#: Series name of the quality metrics in the time series store (labels model, version, metric).
QUALITY_SERIES = "driftline.model.quality"
_MAX_CLASSES = 1000  # past two classes a model is multiclass; the rest need not be remembered

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """The options of the label join and quality windows (``label_*`` and ``quality_*`` settings)."""

    window: float
    capacity: int
    quality_window: float
    task_types: Mapping[str, TaskType] = field(default_factory=dict)
    positive_classes: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def from_settings(settings: Settings) -> LabelConfig:
        return LabelConfig(
            window=settings.label_window_seconds,
            capacity=settings.label_buffer_max_entries,
            quality_window=settings.quality_window_seconds,
            task_types=dict(settings.quality_task_types),
            positive_classes=dict(settings.quality_positive_classes),
        )


@dataclass(frozen=True, slots=True)
class QualityWindow:
    """Quality of one (model, version) over one closed window of joined pairs."""

    model: str
    version: str
    task: TaskType
    window_start: float
    window_end: float
    n: int
    metrics: dict[str, float]
    drift_detected: bool  # the error-stream detector alarmed inside this window


@dataclass(frozen=True, slots=True)
class LabelCounts:
    """The join's counters, for ``/metrics``."""

    outcomes: dict[str, int]  # labels by outcome: joined, invalid, duplicate, expired, unjoined
    pending: int  # labels waiting for their prediction
    buffered: int  # predictions in the join buffer
    evicted: int  # predictions evicted from the full buffer before any label came


@dataclass(frozen=True, slots=True)
class QualityStatus:
    """What is known now about one (model, version)'s quality."""

    model: str
    version: str
    task: TaskType
    latest: QualityWindow | None
    drift_detected: bool  # alarm in the latest closed window or in the open one
    alarms: int
    last_alarm_at: float | None  # join clock of the latest alarm
    open_n: int


class _ModelQuality:
    """Task, error detector and open window of one (model, version)."""

    def __init__(self, task: TaskType, positive: str | None) -> None:
        self.task = task
        self.positive = positive  # fixed once known (configured, or decided on the first binary window)
        self.classes: set[str] = set()
        # DDM fixes its reference minimum right after its warm-up (and after each alarm); one
        # taken from 30 values (river's default) raises false alarms on low, steady error rates.
        self.detector: StreamDetector = DDM(warm_start=100) if task == "classification" else ADWIN()
        self.start = math.nan  # open window's start; NaN while no window is open
        self.truth: list[npt.NDArray[Any]] = []
        self.predicted: list[npt.NDArray[Any]] = []
        self.scores: list[Floats] = []
        self.alarm_in_window = False
        self.alarms = 0
        self.last_alarm_at: float | None = None

    @property
    def open_n(self) -> int:
        return sum(part.shape[0] for part in self.truth)

    def add(self, pairs: Joined, clock: float, width: float) -> int:
        """Score ``pairs`` into the open window; returns how many could not be scored."""
        truth: npt.NDArray[Any]
        predicted: npt.NDArray[Any]
        if self.task == "classification":
            truth = _classes(pairs.label_values, pairs.label_texts)
            predicted = _classes(pairs.prediction_values, pairs.prediction_texts)
            valid = (truth != None) & (predicted != None)  # noqa: E711 - elementwise comparison
            truth, predicted = truth[valid], predicted[valid]
            errors = (truth != predicted).astype(np.float64)
            if len(self.classes) <= _MAX_CLASSES:
                self.classes.update(np.unique(np.concatenate([truth, predicted]).astype(str)).tolist())
        else:
            truth, predicted = pairs.label_values, pairs.prediction_values
            valid = np.isfinite(truth) & np.isfinite(predicted)
            truth, predicted = truth[valid], predicted[valid]
            errors = np.abs(predicted - truth)
        if errors.size:
            if math.isnan(self.start):
                self.start = math.floor(clock / width) * width
            if self.detector.update_many(errors).size:
                self.alarm_in_window = True
                self.alarms += 1
                self.last_alarm_at = clock
            self.truth.append(truth)
            self.predicted.append(predicted)
            self.scores.append(pairs.scores[valid])
        return int((~valid).sum())

    def close(self, key: tuple[str, str], width: float) -> QualityWindow:
        truth, predicted, scores = np.concatenate(self.truth), np.concatenate(self.predicted), np.concatenate(self.scores)
        if self.task == "classification":
            if self.positive is None and len(self.classes) == 2:
                self.positive = _positive_class(self.classes, predicted, scores)
            positive = self.positive if len(self.classes) <= 2 else None
            metrics = classification_metrics(truth, predicted, scores, positive=positive)
        else:
            metrics = regression_metrics(truth, predicted)
        metrics = {name: value for name, value in metrics.items() if math.isfinite(value)}  # e.g. rmse overflow
        window = QualityWindow(
            key[0], key[1], self.task, self.start, self.start + width, truth.shape[0], metrics, self.alarm_in_window
        )
        self.start = math.nan
        self.truth, self.predicted, self.scores = [], [], []
        self.alarm_in_window = False
        return window

    def state_dict(self) -> dict[str, Any]:
        open_ = bool(self.truth)
        truth = np.concatenate(self.truth) if open_ else np.zeros(0)
        predicted = np.concatenate(self.predicted) if open_ else np.zeros(0)
        categorical = self.task == "classification"
        return {
            "task": self.task,
            "positive": self.positive,
            "classes": sorted(self.classes),
            "detector": self.detector.state_dict(),
            "start": self.start,
            "truth": truth.tolist() if categorical else truth,
            "predicted": predicted.tolist() if categorical else predicted,
            "scores": np.concatenate(self.scores) if open_ else np.zeros(0),
            "alarm_in_window": self.alarm_in_window,
            "alarms": self.alarms,
            "last_alarm_at": self.last_alarm_at,
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> _ModelQuality:
        quality = _ModelQuality(state["task"], state["positive"])
        quality.classes = set(state["classes"])
        detector_class = DDM if quality.task == "classification" else ADWIN
        quality.detector = detector_class.from_state(state["detector"])
        quality.start = float(state["start"])
        if quality.task == "classification":
            truth, predicted = np.array(state["truth"], dtype=object), np.array(state["predicted"], dtype=object)
        else:
            truth, predicted = np.asarray(state["truth"], dtype=np.float64), np.asarray(state["predicted"], dtype=np.float64)
        if truth.size:
            quality.truth, quality.predicted, quality.scores = [truth], [predicted], [np.asarray(state["scores"])]
        quality.alarm_in_window = bool(state["alarm_in_window"])
        quality.alarms = int(state["alarms"])
        quality.last_alarm_at = state["last_alarm_at"]
        return quality


def _classes(values: Floats, texts: Objects) -> Objects:
    """Class names of a pair column whose entries are numeric or categorical."""
    out = class_names(values)
    has_text = texts != None  # noqa: E711 - elementwise comparison
    if has_text.any():
        out[has_text] = class_names(texts[has_text])
    return out


def _configured_positive(config: LabelConfig, model: str) -> str | None:
    """The configured positive class of ``model`` as a class name (``true`` is ``1``), if any."""
    positive = config.positive_classes.get(model)
    return None if positive is None else str(class_names(np.array([positive], dtype=object))[0])


def _positive_class(classes: set[str], predicted: Objects, scores: Floats) -> str:
    """The class that scores are about: ``1`` (or ``true``) when present, else the predicted
    class with the higher mean score, else the greater name (scikit-learn's default)."""
    if "1" in classes:
        return "1"
    low, high = sorted(classes)
    scored = np.isfinite(scores)
    on_high, on_low = scored & (predicted == high), scored & (predicted == low)
    if on_high.any() and on_low.any() and scores[on_low].mean() > scores[on_high].mean():
        return low
    return high


class LabelMonitor:
    """Join buffer, per-model quality and closed windows; owned by the pipeline thread."""

    def __init__(self, config: LabelConfig, *, now: float = 0.0) -> None:
        self.config = config
        self.buffer = JoinBuffer(config.window, config.capacity)
        self.models: dict[tuple[str, str], _ModelQuality] = {}
        self.latest: dict[tuple[str, str], QualityWindow] = {}
        self.joined = 0
        self.invalid = 0  # joined, but the pair could not be scored (missing or mistyped values)
        self._closed: list[QualityWindow] = []  # closed, not yet taken by the checkpoint
        self._mark = (self.buffer.clock, now)  # join clock and wall clock when events last moved it

    # -- input (each returns the windows it closed) -----------------------------------------
    # Event times may move the join clock at most one label window past the wall clock ``now``.
    def add_predictions(self, batch: InferenceBatch, *, now: float) -> list[QualityWindow]:
        return self._after(self.buffer.add_predictions(batch, horizon=now + self.config.window), now)

    def add_labels(self, batch: LabelBatch, *, now: float) -> list[QualityWindow]:
        return self._after(self.buffer.add_labels(batch, horizon=now + self.config.window), now)

    def tick(self, now: float) -> list[QualityWindow]:
        """Let the join clock run on with the wall clock while no event moves it."""
        clock, wall = self._mark
        if math.isfinite(clock):
            self.buffer.advance(clock + max(0.0, now - wall))
        return self._close_due()

    def take_closed(self) -> list[QualityWindow]:
        """Windows closed since the last call (the caller stores them)."""
        closed, self._closed = self._closed, []
        return closed

    # -- views ----------------------------------------------------------------------------------
    def outcomes(self) -> dict[str, int]:
        """Labels by outcome: joined, invalid, duplicate, expired, unjoined."""
        return {"joined": self.joined, "invalid": self.invalid, **self.buffer.counts}

    def counts(self) -> LabelCounts:
        return LabelCounts(self.outcomes(), self.buffer.pending, self.buffer.entries, self.buffer.evicted)

    def statuses(self) -> list[QualityStatus]:
        out = []
        for key, quality in sorted(self.models.items()):
            latest = self.latest.get(key)
            drift = quality.alarm_in_window or (latest is not None and latest.drift_detected)
            out.append(
                QualityStatus(key[0], key[1], quality.task, latest, drift, quality.alarms, quality.last_alarm_at, quality.open_n)
            )
        return out

    # -- internals ------------------------------------------------------------------------------
    def _after(self, joined: Joined, now: float) -> list[QualityWindow]:
        if self.buffer.clock != self._mark[0]:
            self._mark = (self.buffer.clock, now)
        closed = self._close_due()
        if joined.size:
            self._score(joined)
        return closed

    def _score(self, joined: Joined) -> None:
        codes, starts = np.unique(joined.model, return_index=True)
        for code in codes[np.argsort(starts)].tolist():  # models in order of their first pair
            rows = np.flatnonzero(joined.model == code)
            pairs = joined.take(rows)
            key = self.buffer.models[code]
            quality = self.models.get(key)
            if quality is None:
                quality = self.models[key] = self._new_model(key, pairs)
            invalid = quality.add(pairs, self.buffer.clock, self.config.quality_window)
            self.invalid += invalid
            self.joined += rows.size - invalid

    def _new_model(self, key: tuple[str, str], pairs: Joined) -> _ModelQuality:
        task = self.config.task_types.get(key[0])
        if task is None:
            categorical = bool((pairs.prediction_texts != None).any() or (pairs.label_texts != None).any())  # noqa: E711
            values = np.isfinite(pairs.prediction_values) & np.isfinite(pairs.label_values)
            has_scores = bool(np.isfinite(pairs.scores).any())
            task = infer_task(categorical, has_scores, pairs.prediction_values[values], pairs.label_values[values])
        return _ModelQuality(task, _configured_positive(self.config, key[0]))

    def _close_due(self) -> list[QualityWindow]:
        clock, width = self.buffer.clock, self.config.quality_window
        closed = []
        for key, quality in self.models.items():
            if quality.start + width <= clock:  # False while no window is open (NaN)
                window = quality.close(key, width)
                self.latest[key] = window
                closed.append(window)
        self._closed.extend(closed)
        return closed

    # -- checkpoint state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "buffer": self.buffer.state_dict(),
            "joined": self.joined,
            "invalid": self.invalid,
            "models": [[m, v, q.state_dict()] for (m, v), q in self.models.items()],
            "latest": [asdict(w) for w in self.latest.values()],
            "closed": [asdict(w) for w in self._closed],
        }

    @staticmethod
    def from_state(state: dict[str, Any] | None, config: LabelConfig, *, now: float) -> LabelMonitor:
        """Rebuild from :meth:`state_dict`; the wall-clock run of the join clock restarts at ``now``."""
        monitor = LabelMonitor(config, now=now)
        if not state:
            return monitor
        monitor.buffer = JoinBuffer.from_state(state["buffer"], config.window, config.capacity)
        monitor.joined, monitor.invalid = int(state["joined"]), int(state["invalid"])
        monitor.models = {(m, v): _ModelQuality.from_state(item) for m, v, item in state["models"]}
        for (model, _), quality in monitor.models.items():  # a positive class configured since wins
            quality.positive = _configured_positive(config, model) or quality.positive
        for item in state["latest"]:
            window = QualityWindow(**item)
            monitor.latest[(window.model, window.version)] = window
        monitor._closed = [QualityWindow(**item) for item in state["closed"]]
        monitor._mark = (monitor.buffer.clock, now)
        return monitor


def quality_points(windows: list[QualityWindow]) -> tuple[list[str], list[str], Floats, Floats]:
    """Windows as points of the ``driftline.model.quality`` series, stamped with the window start."""
    names, labels, stamps, values = [], [], [], []
    for window in windows:
        for metric, value in window.metrics.items():
            names.append(QUALITY_SERIES)
            attributes = {"metric": metric, "model": window.model, "version": window.version}
            labels.append(json.dumps(attributes, sort_keys=True, separators=(",", ":")))
            stamps.append(window.window_start)
            values.append(value)
    return names, labels, np.array(stamps, dtype=np.float64), np.array(values, dtype=np.float64)


def write_quality(connection: Connection, windows: list[QualityWindow], now: float) -> None:
    """Store closed quality windows (inside the pipeline's checkpoint transaction)."""
    if windows:
        connection.execute(
            insert(quality_windows),
            [
                {
                    "model": w.model,
                    "version": w.version,
                    "task": w.task,
                    "window_start": w.window_start,
                    "window_end": w.window_end,
                    "n": w.n,
                    "metrics": json.dumps(w.metrics),
                    "drift_detected": w.drift_detected,
                    "created_at": now,
                }
                for w in windows
            ],
        )
