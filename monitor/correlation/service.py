"""Running the engine against the store: on demand and on a schedule inside the server."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from monitor.correlation.engine import EngineConfig, Progress, RunResult, correlate
from monitor.correlation.findings import Finding
from monitor.correlation.impact import KpiUnit
from monitor.correlation.store import list_findings, load_inputs, save_run
from monitor.settings import Settings

__all__ = ["CorrelationScheduler", "RunCancelled", "engine_config", "run_correlation"]

log = logging.getLogger(__name__)


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's parameters in grid cells, from the ``correlation_*`` settings."""
    step = settings.correlation_step_seconds
    return EngineConfig(
        max_lag=round(settings.correlation_max_lag_seconds / step),
        periods=tuple(p / step for p in settings.correlation_seasons_seconds if p >= 4 * step),
        alpha=settings.correlation_alpha,
        min_overlap=max(10, math.ceil(settings.correlation_min_evidence_seconds / step)),
        min_strength=settings.correlation_min_strength,
        units={k: KpiUnit(u.unit, u.value_per_unit_minute, u.value_name) for k, u in settings.correlation_kpi_units.items()},
    )


def run_correlation(
    engine: Engine,
    settings: Settings,
    since: float,
    until: float,
    *,
    now: float | None = None,
    progress: Progress | None = None,
    store: bool = True,
) -> RunResult:
    """Correlate everything stored in ``[since, until)`` and (with ``store``) save the findings."""
    with engine.connect() as connection:
        inputs = load_inputs(
            connection, since, until, step=settings.correlation_step_seconds, resolution=settings.series_resolution_seconds,
            kpi_sources={kpi.metric for kpi in settings.kpis if kpi.metric is not None},
        )  # fmt: skip
    result = correlate(inputs.grid, inputs.model_series, inputs.kpis, engine_config(settings), progress=progress)
    if store:
        with engine.begin() as connection:
            stamp = time.time() if now is None else now
            save_run(connection, result, now=stamp, expire_after=settings.correlation_expire_seconds)
    return result


class RunCancelled(Exception):
    """The scheduler was stopped while a run was in progress: the run was abandoned, nothing stored."""


class CorrelationScheduler:
    """Runs the engine every ``correlation_interval_seconds`` over the last ``correlation_lookback_seconds``.

    Runs are serialised (a scheduled run and an on-demand one never overlap); a failing run is
    logged and counted, and the next one is tried at the next interval.
    """

    def __init__(self, engine: Engine, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.runs = 0
        self.errors = 0
        self.last_run_seconds = 0.0
        self._active: list[Finding] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the stored active findings; start the schedule unless ``correlation_enabled`` is off."""
        self._refresh()
        if self.settings.correlation_enabled:
            self._thread = threading.Thread(target=self._loop, name="driftline-correlate", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def active(self) -> list[Finding]:
        """Active findings, best first (what ``driftline_correlation`` exports)."""
        return list(self._active)

    def run_once(self, since: float | None = None, until: float | None = None) -> RunResult:
        """One run over ``[since, until)`` (default: the lookback ending now); findings are stored."""
        with self._lock:
            now = self.clock()
            end = now if until is None else until
            start = end - self.settings.correlation_lookback_seconds if since is None else since
            began = time.perf_counter()
            result = run_correlation(self.engine, self.settings, start, end, now=now, progress=self._unless_stopped)
            self.last_run_seconds = time.perf_counter() - began
            self.runs += 1
            self._refresh()
            return result

    def _refresh(self) -> None:
        with self.engine.connect() as connection:
            stored, _ = list_findings(connection, status="active", limit=10_000)
        self._active = [s.finding for s in stored]

    def _unless_stopped(self, _stage: str, _done: int, _total: int) -> None:
        """Progress hook of every run: a stopping server abandons its run at the next step."""
        if self._stop.is_set():
            raise RunCancelled("the server is stopping")

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.correlation_interval_seconds):
            try:
                self.run_once()
            except RunCancelled:
                return
            except Exception:
                self.errors += 1
                log.exception("correlation run failed; retrying at the next interval")
