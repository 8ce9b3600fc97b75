"""The pipeline: consume the ingest log, keep windows, close them, test them, checkpoint.

One thread owns all window state. It reads committed log entries in order and,
every ``checkpoint_interval`` (or when a window closes), writes in *one*
transaction: the closed windows, their drift results, and a checkpoint holding
the open-window state together with the last log offset it includes. After a
crash, :meth:`Pipeline.start` restores that checkpoint and replays the log past
its offset, so every acknowledged event is counted exactly once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from collectors.gpu import from_otlp_metrics
from collectors.records import Batch, InferenceBatch, LabelBatch, MetricBatch
from detectors.distribution import DriftTestResult
from monitor.anomaly import AnomalyReading, AnomalyWatch, load_anomaly_state, write_anomaly_state
from monitor.drift import FeatureDrift, evaluate_window
from monitor.gpu_models import GpuLinker, GpuLinks
from monitor.gpu_state import GpuLatest, GpuReading
from monitor.ingest_log import IngestLog, decode_entry
from monitor.kinds import KindRegistry
from monitor.kpi import KpiDeriver
from monitor.kpi_config import KpiSpec
from monitor.labels import LabelConfig, LabelCounts, LabelMonitor, QualityStatus, QualityWindow, quality_points, write_quality
from monitor.model_series import ModelSeries
from monitor.references import ReferenceStore
from monitor.series import Bucket, SeriesRollup, prune_series, write_buckets
from monitor.settings import Settings
from monitor.statecodec import pack, unpack
from monitor.store.tables import checkpoints, drift_results, features, models, windows
from monitor.windows import ClosedWindow, ModelWindows, WindowSet

__all__ = ["EvaluateOutcome", "Pipeline"]

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "pipeline"
_PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class EvaluateOutcome:
    """What an on-demand evaluation closed and found."""

    closed: list[WindowSet]
    results: list[FeatureDrift]
    has_reference: bool


@dataclass(slots=True)
class _State:
    offset: int = 0
    models: dict[tuple[str, str], ModelWindows] = field(default_factory=dict)
    predictions: dict[tuple[str, str], int] = field(default_factory=dict)
    gpu: GpuLatest = field(default_factory=GpuLatest)
    series: SeriesRollup = field(default_factory=lambda: SeriesRollup(60, 60.0))
    labels: LabelMonitor | None = None
    kpi: KpiDeriver = field(default_factory=lambda: KpiDeriver([]))
    model_series: ModelSeries = field(default_factory=ModelSeries)
    gpu_links: GpuLinks = field(default_factory=GpuLinks)

    def to_bytes(self) -> bytes:
        document = {
            "offset": self.offset,
            "models": [w.state_dict() for w in self.models.values()],
            "predictions": [[m, v, n] for (m, v), n in self.predictions.items()],
            "gpu": self.gpu.state_dict(),
            "series": self.series.state_dict(),
            "labels": None if self.labels is None else self.labels.state_dict(),
            "kpi": self.kpi.state_dict(),
            "model_series": self.model_series.state_dict(),
            "gpu_links": self.gpu_links.state_dict(),
        }
        return pack(document)

    @staticmethod
    def from_bytes(
        blob: bytes, series_resolution: int, series_lateness: float, labels: LabelConfig, now: float, kpis: Sequence[KpiSpec] = ()
    ) -> _State:
        document = unpack(blob)
        state = _State(offset=int(document["offset"]))
        for item in document["models"]:
            windows_ = ModelWindows.from_state(item)
            state.models[(windows_.model, windows_.version)] = windows_
        state.predictions = {(m, v): int(n) for m, v, n in document["predictions"]}
        state.gpu = GpuLatest.from_state(document.get("gpu", []))
        state.series = SeriesRollup.from_state(document.get("series"), series_resolution, series_lateness)
        state.labels = LabelMonitor.from_state(document.get("labels"), labels, now=now)
        state.kpi = KpiDeriver(kpis)
        state.kpi.load_state(document.get("kpi"))
        state.model_series = ModelSeries.from_state(document.get("model_series"))
        state.gpu_links = GpuLinks.from_state(document.get("gpu_links"))
        return state


@dataclass(slots=True)
class _Evaluate:
    model: str
    version: str
    future: Future[EvaluateOutcome]


class Pipeline:
    """Single consumer of the ingest log; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        log_: IngestLog,
        references: ReferenceStore,
        kinds: KindRegistry,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.log = log_
        self.references = references
        self.kinds = kinds
        self.settings = settings
        self.clock = clock
        self._state = _State(
            series=SeriesRollup(settings.series_resolution_seconds, settings.allowed_lateness_seconds),
            kpi=KpiDeriver(settings.kpis),
        )
        self._label_config = LabelConfig.from_settings(settings)
        self._state.labels = LabelMonitor(self._label_config, now=clock())
        self.anomaly = AnomalyWatch(
            settings.anomaly_series, threshold=settings.anomaly_threshold, max_series=settings.anomaly_max_series
        )
        self._gpu_linker = GpuLinker(
            settings.gpu_models, idle_utilization=settings.gpu_idle_utilization, max_gap=settings.gpu_max_sample_gap_seconds
        )
        self._pending_closed: list[ClosedWindow] = []
        self._pending_results: list[tuple[str, str, FeatureDrift]] = []
        self._pending_features: list[tuple[str, str, str, str]] = []
        self._pending_series: list[Bucket] = []
        self._pending_quality: list[QualityWindow] = []
        # Even while a checkpoint is moving series buckets from memory to the table, odd
        # otherwise: readers of series_points use it to avoid counting a bucket twice.
        self.series_generation = 0
        self._known_features: set[tuple[str, str, str]] = set()
        self._known_models: set[tuple[str, str]] = set()
        self._commands: queue.Queue[_Evaluate] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dirty = False
        self._live_ready = False  # True once the log has been drained since the feed was last complete
        self._last_checkpoint = 0.0
        self._last_prune = 0.0
        self._lock = threading.Lock()  # guards the read-only views below
        self.latest: dict[tuple[str, str], dict[str, FeatureDrift]] = {}
        self.processed_offset = 0
        self.checkpoint_seconds = 0.0
        self.errors = 0
        # Called on the pipeline thread with every inference batch applied (the gate's recent rows).
        self.inference_listeners: list[Callable[[InferenceBatch], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Restore the checkpoint, replay the log past it, then follow new entries."""
        self._restore()
        self._catch_up()
        self._checkpoint(force=True)
        self._thread = threading.Thread(target=self._run, name="driftline-pipeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.log.appended.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._catch_up()
        self._checkpoint(force=True)

    # -- public views (any thread) -----------------------------------------------------------
    def evaluate(self, model: str, version: str) -> Future[EvaluateOutcome]:
        """Ask the pipeline thread to include everything logged so far and close the model's windows."""
        future: Future[EvaluateOutcome] = Future()
        self._commands.put(_Evaluate(model, version, future))
        self.log.appended.set()
        return future

    def open_windows(self, model: str, version: str) -> list[dict[str, Any]]:
        with self._lock:
            windows_ = self._state.models.get((model, version))
            return (
                []
                if windows_ is None
                else [{"window_start": w.start, "window_end": w.end, "n": w.n} for w in windows_.open.values()]
            )

    def predictions_total(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._state.predictions)

    def late_total(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {key: w.late for key, w in self._state.models.items()}

    def gpu_readings(self, *, now: float, stale_after: float) -> list[GpuReading]:
        """Fresh GPU values for ``/metrics``."""
        with self._lock:
            return list(self._state.gpu.readings(now=now, stale_after=stale_after))

    def kpi_values(self) -> dict[str, tuple[float, float]]:
        """Newest value per KPI: ``{kpi: (timestamp, value)}``."""
        with self._lock:
            return dict(self._state.kpi.latest)

    def anomaly_readings(self) -> tuple[list[AnomalyReading], int]:
        """Latest anomaly score per watched series, and the buckets skipped past the series cap."""
        with self._lock:
            return self.anomaly.readings(), self.anomaly.skipped

    def gpu_links(self) -> GpuLinks:
        """A copy of the GPU ↔ model join state (linked GPUs, totals, latest headroom)."""
        with self._lock:
            return self._state.gpu_links.copy()

    def series_buckets(self, name: str) -> tuple[int, list[Bucket]]:
        """Buckets of ``name`` not yet in ``series_points`` (open or awaiting the checkpoint).

        Returns them with :attr:`series_generation`; a reader that sees the same even
        generation before and after reading the table saw each bucket exactly once.
        """
        with self._lock:
            pending = [b.copy() for b in self._pending_series if b.name == name]
            return self.series_generation, pending + self._state.series.snapshot(name)

    def label_counts(self) -> LabelCounts:
        with self._lock:
            return self._labels.counts()

    def quality(self) -> list[QualityStatus]:
        with self._lock:
            return self._labels.statuses()

    @property
    def _labels(self) -> LabelMonitor:
        assert self._state.labels is not None  # set in __init__ and by every restore
        return self._state.labels

    def latest_results(self) -> dict[tuple[str, str], list[FeatureDrift]]:
        with self._lock:
            return {key: list(results.values()) for key, results in self.latest.items()}

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.log.appended.wait(timeout=0.25)
            self.log.appended.clear()
            try:
                self._step()
            except Exception:  # never let one bad step kill the consumer; it retries from its offset
                self.errors += 1
                log.exception("pipeline step failed; retrying from offset %d", self._state.offset)
                time.sleep(0.5)

    def _step(self) -> None:
        self._catch_up(limit_entries=2048)
        now = self.clock()
        for windows_ in list(self._state.models.values()):
            with self._lock:
                due = windows_.due(now, self.settings.idle_close)
            self._close(windows_, due)
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            self._run_evaluate(command)
        with self._lock:
            if self._state.series.close_due(now):
                self._dirty = True
            if self._live_ready:  # the join clock runs on with the wall clock only once the log is drained
                self._quality_closed(self._labels.tick(now))
        self._checkpoint()
        if now - self._last_prune >= _PRUNE_EVERY_SECONDS:
            self._last_prune = now
            self.log.prune(self._state.offset, now - self.settings.log_retention_seconds)
            with self.engine.begin() as connection:
                prune_series(connection, now - self.settings.series_retention_seconds)

    def _run_evaluate(self, command: _Evaluate) -> None:
        try:
            self._catch_up()
            key = (command.model, command.version)
            windows_ = self._state.models.get(key)
            closed: list[WindowSet] = []
            before = len(self._pending_results)
            if windows_ is not None:
                with self._lock:
                    closed = windows_.close_all()
                self._close(windows_, closed)
            results = [item[2] for item in self._pending_results[before:]]
            self._checkpoint(force=True)
            has_reference = self.references.get(*key) is not None
            command.future.set_result(EvaluateOutcome(closed, results, has_reference))
        except Exception as exc:
            command.future.set_exception(exc)

    def _catch_up(self, limit_entries: int | None = None) -> None:
        """Apply committed log entries past the current offset.

        Entries handed over in memory by the log writer are applied directly while
        that feed is complete; otherwise (on start, or after the feed overflowed)
        they are read back from the log.
        """
        live, lost = self.log.live.take()
        if not lost and self._live_ready:
            for offset, batches in live:
                if offset > self._state.offset:
                    self._advance(offset, batches)
            return
        applied = 0
        while limit_entries is None or applied < limit_entries:
            entries = self.log.read(self._state.offset, limit=256)
            for offset, payload in entries:
                self._advance(offset, decode_entry(payload))
            applied += len(entries)
            if len(entries) < 256:  # the log is drained: the live feed can take over
                self._live_ready = True
                return
        # Stopped early with more in the log: keep reading it until drained.
        self._live_ready = False

    def _advance(self, offset: int, batches: Sequence[Batch]) -> None:
        self._apply(batches)
        with self._lock:
            self._state.offset = offset
        self.processed_offset = offset
        self._dirty = True

    def _apply(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            if isinstance(batch, InferenceBatch):
                self._apply_inference(batch)
            elif isinstance(batch, LabelBatch):
                with self._lock:
                    self._quality_closed(self._labels.add_labels(batch, now=self.clock()))
            elif isinstance(batch, MetricBatch):
                samples, _ = from_otlp_metrics(batch)  # points that are not GPU telemetry are skipped
                with self._lock:
                    if samples:
                        self._state.gpu.add(samples)
                        self._gpu_linker.observe(self._state.gpu_links, self._state.series, samples)
                    self._state.series.add_many(batch.names, batch.attributes, batch.timestamps, batch.values)
                    kpis = self._state.kpi.derive(batch)
                    if kpis is not None:
                        self._state.series.add_many(kpis.names, kpis.attributes, kpis.timestamps, kpis.values)

    def _apply_inference(self, batch: InferenceBatch) -> None:
        key = (batch.model, batch.version)
        kinds = {name: column.kind for name, column in batch.features.items()}
        self.kinds.register(batch.model, batch.version, kinds)
        with self._lock:
            windows_ = self._state.models.get(key)
            if windows_ is None:
                windows_ = self._state.models[key] = ModelWindows(
                    batch.model, batch.version, self.settings.window_seconds, self.settings.allowed_lateness_seconds
                )
            windows_.add(batch, self.references.get(*key), self.settings.window_sample_size, now=self.clock())
            self._state.predictions[key] = self._state.predictions.get(key, 0) + len(batch)
            self._quality_closed(self._labels.add_predictions(batch, now=self.clock()))
            self._state.model_series.observe(
                self._state.series, batch.model, batch.version, batch.timestamps, batch.latencies, batch.scores
            )
        for name, kind in kinds.items():
            self._new_feature(batch.model, batch.version, name, kind)
        for listener in self.inference_listeners:
            listener(batch)

    def _quality_closed(self, closed: list[QualityWindow]) -> None:
        """Closed quality windows go to the time series store at once (under the lock)."""
        if closed:
            self._state.series.add_many(*quality_points(closed))
            self._dirty = True

    def _new_feature(self, model: str, version: str, name: str, kind: str) -> None:
        if (model, version, name) not in self._known_features:
            self._known_features.add((model, version, name))
            self._pending_features.append((model, version, name, kind))

    def _close(self, windows_: ModelWindows, closed: list[WindowSet]) -> None:
        reference = self.references.get(windows_.model, windows_.version)
        now = self.clock()
        for window in closed:
            self._pending_closed.append(ClosedWindow(windows_.model, windows_.version, window, now))
            if reference:
                for result in evaluate_window(
                    window, reference, alpha=self.settings.drift_alpha, method=self.settings.family_method
                ):
                    self._pending_results.append((windows_.model, windows_.version, result))
            self._dirty = True

    # -- persistence ---------------------------------------------------------------------------
    def _restore(self) -> None:
        with self.engine.connect() as connection:
            row = connection.execute(select(checkpoints.c.state).where(checkpoints.c.name == CHECKPOINT_NAME)).first()
            if row is not None:
                self._state = _State.from_bytes(
                    bytes(row[0]),
                    self.settings.series_resolution_seconds,
                    self.settings.allowed_lateness_seconds,
                    self._label_config,
                    self.clock(),
                    self.settings.kpis,
                )
            self.anomaly.restore(load_anomaly_state(connection))
            self._known_models = {(m, v) for m, v in connection.execute(select(models.c.model, models.c.version))}
            for model, version, name, kind in connection.execute(
                select(features.c.model, features.c.version, features.c.feature, features.c.kind)
            ):
                self._known_features.add((model, version, name))
                self.kinds.register(model, version, {name: kind})
            self.latest = _load_latest(connection)
        self.processed_offset = self._state.offset

    def _checkpoint(self, force: bool = False) -> None:
        now = self.clock()
        if not self._dirty and not force:
            return
        if not force and not self._pending_closed and now - self._last_checkpoint < self.settings.checkpoint_interval_seconds:
            return
        started = time.perf_counter()
        with self._lock:
            # Closed buckets leave the state before it is serialised: the same transaction
            # writes them to series_points, so each is stored exactly once.
            closed = self._state.series.take_closed()
            self._pending_series.extend(closed)
            self._pending_series.extend(self.anomaly.observe(closed))
            anomaly_rows = self.anomaly.changed_rows()
            series = list(self._pending_series)
            self._pending_quality.extend(self._labels.take_closed())
            blob = self._state.to_bytes()
            offset = self._state.offset
            new_models = [key for key in self._state.models if key not in self._known_models]
            self.series_generation += 1  # odd: these buckets may be in the table and in memory at once
        try:
            self._write_checkpoint(now, blob, offset, new_models, series, anomaly_rows)
        except BaseException:
            with self._lock:
                self.series_generation += 1  # nothing written: the buckets stay pending, in memory only
            raise
        self._known_models.update(new_models)
        with self._lock:
            self.anomaly.mark_written()
            self._pending_series = []
            self.series_generation += 1
            for model, version, result in self._pending_results:
                self.latest.setdefault((model, version), {})[result.feature] = result
        self._pending_features = []
        self._pending_closed = []
        self._pending_results = []
        self._pending_quality = []
        self._dirty = False
        self._last_checkpoint = now
        self.checkpoint_seconds = time.perf_counter() - started

    def _write_checkpoint(
        self,
        now: float,
        blob: bytes,
        offset: int,
        new_models: list[tuple[str, str]],
        series: list[Bucket],
        anomaly_rows: dict[str, bytes],
    ) -> None:
        with self.engine.begin() as connection:
            write_buckets(connection, series)
            write_quality(connection, self._pending_quality, now)
            write_anomaly_state(connection, anomaly_rows, offset=offset, now=now)
            for model, version in new_models:
                connection.execute(insert(models).values(model=model, version=version, created_at=now))
            for model, version, name, kind in self._pending_features:
                connection.execute(insert(features).values(model=model, version=version, feature=name, kind=kind))
            for closed in self._pending_closed:
                connection.execute(
                    insert(windows).values(
                        model=closed.model,
                        version=closed.version,
                        window_start=closed.window.start,
                        window_end=closed.window.end,
                        n=closed.window.n,
                        closed_at=closed.closed_at,
                        summary=json.dumps(closed.window.summary()),
                    )
                )
            if self._pending_results:
                connection.execute(
                    insert(drift_results),
                    [
                        {"model": model, "version": version, "created_at": now, **result.to_dict()}
                        for model, version, result in self._pending_results
                    ],
                )
            updated = connection.execute(
                update(checkpoints)
                .where(checkpoints.c.name == CHECKPOINT_NAME)
                .values(log_offset=offset, state=blob, updated_at=now)
            )
            if not updated.rowcount:
                connection.execute(
                    insert(checkpoints).values(name=CHECKPOINT_NAME, log_offset=offset, state=blob, updated_at=now)
                )


def _load_latest(connection: Connection) -> dict[tuple[str, str], dict[str, FeatureDrift]]:
    """Latest stored drift result per (model, version, feature)."""
    newest = select(func.max(drift_results.c.id)).group_by(
        drift_results.c.model, drift_results.c.version, drift_results.c.feature
    )
    latest: dict[tuple[str, str], dict[str, FeatureDrift]] = {}
    rows = connection.execute(select(drift_results).where(drift_results.c.id.in_(newest))).mappings()
    for row in rows:
        result = DriftTestResult(
            test=row["test"],
            statistic=row["statistic"],
            p_value=row["p_value"],
            effect_size=row["effect_size"],
            threshold=row["threshold"],
            drift_detected=bool(row["drift_detected"]),
            n_reference=0,
            n_current=row["n"],
        )
        latest.setdefault((row["model"], row["version"]), {})[row["feature"]] = FeatureDrift(
            row["feature"], result, row["window_start"], row["window_end"]
        )
    return latest
