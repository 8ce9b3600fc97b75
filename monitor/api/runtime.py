"""Everything a running server holds, built from settings in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from monitor.alerting import Alerting
from monitor.correlation.service import CorrelationScheduler
from monitor.gate import Gate, attach_gate
from monitor.ingest_log import IngestLog
from monitor.kinds import KindRegistry
from monitor.kpi_pull import KpiPuller
from monitor.limits import CardinalityGuard, Limits
from monitor.metrics import DriftlineCollector
from monitor.pipeline import Pipeline
from monitor.references import Profile, ReferenceStore, profile_from_dict, profile_kind
from monitor.scrape import DcgmScraper
from monitor.settings import Settings
from monitor.stats import IngestStats
from monitor.store import make_engine, migrate
from monitor.store.tables import references

__all__ = ["Runtime"]


@dataclass
class Runtime:
    """The server's components, wired together; ``start``/``stop`` bracket its life."""

    settings: Settings
    engine: Engine
    log: IngestLog
    pipeline: Pipeline
    references: ReferenceStore
    kinds: KindRegistry
    stats: IngestStats
    guard: CardinalityGuard
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    scraper: DcgmScraper | None = None
    gate: Gate | None = None
    alerting: Alerting | None = None
    kpi_puller: KpiPuller | None = None
    correlation: CorrelationScheduler | None = None

    @staticmethod
    def build(settings: Settings) -> Runtime:
        engine = make_engine(settings.db_url)
        log = IngestLog(engine, max_pending=settings.ingest_queue_size)
        reference_store = ReferenceStore()
        kinds = KindRegistry()
        stats = IngestStats()
        pipeline = Pipeline(engine, log, reference_store, kinds, settings)
        guard = CardinalityGuard(
            Limits(
                max_models=settings.max_models,
                max_versions_per_model=settings.max_versions_per_model,
                max_features_per_model=settings.max_features_per_model,
                max_series_per_metric=settings.max_series_per_metric,
            )
        )
        runtime = Runtime(settings, engine, log, pipeline, reference_store, kinds, stats, guard)
        runtime.correlation = CorrelationScheduler(engine, settings)
        runtime.alerting = Alerting.build(settings, engine, runtime.registry)
        runtime.registry.register(
            DriftlineCollector(
                pipeline,
                stats,
                log,
                gpu_stale_seconds=settings.gpu_stale_seconds,
                alerting=runtime.alerting,
                correlation=runtime.correlation,
            )
        )
        runtime.gate = attach_gate(settings, pipeline, runtime.registry)
        if settings.dcgm_targets:
            runtime.scraper = DcgmScraper(
                settings.dcgm_targets,
                log,
                stats,
                interval=settings.dcgm_interval_seconds,
                max_bytes=settings.max_body_bytes,
            )
            runtime.registry.register(runtime.scraper)
        if settings.kpi_prometheus_url and any(kpi.query for kpi in settings.kpis):
            runtime.kpi_puller = KpiPuller(
                settings.kpi_prometheus_url, settings.kpis, log, stats, interval=settings.kpi_pull_interval_seconds
            )
            runtime.registry.register(runtime.kpi_puller)
        return runtime

    def start(self) -> None:
        migrate(self.engine)
        self._load_references()
        self.log.start()
        self.pipeline.start()
        self.guard.seed(self.engine)  # after the replay, so what the log held is in the tables
        if self.scraper is not None:
            self.scraper.start()
        if self.alerting is not None:
            self.alerting.start()
        if self.kpi_puller is not None:
            self.kpi_puller.start()
        if self.correlation is not None:
            self.correlation.start()

    def stop(self) -> None:
        if self.alerting is not None:
            self.alerting.stop()
        if self.correlation is not None:
            self.correlation.stop()
        if self.scraper is not None:
            self.scraper.stop()
        if self.kpi_puller is not None:
            self.kpi_puller.stop()
        self.log.stop()
        self.pipeline.stop()
        self.engine.dispose()

    def _load_references(self) -> None:
        grouped: dict[tuple[str, str], dict[str, Profile]] = {}
        with self.engine.connect() as connection:
            for model, version, feature, profile in connection.execute(
                select(references.c.model, references.c.version, references.c.feature, references.c.profile)
            ):
                grouped.setdefault((model, version), {})[feature] = profile_from_dict(json.loads(profile))
        for (model, version), profiles in grouped.items():
            self.references.set(model, version, profiles)
            self.kinds.replace(model, version, {name: profile_kind(p) for name, p in profiles.items()})
