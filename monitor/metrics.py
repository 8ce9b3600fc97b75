"""Prometheus exposition: one custom collector that reads current state at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.gpu import GpuMetric
from monitor.correlation.service import CorrelationScheduler
from monitor.gpu_state import COUNTERS
from monitor.ingest_log import IngestLog
from monitor.pipeline import Pipeline
from monitor.stats import IngestStats

__all__ = ["DriftlineCollector"]

_GPU_LABELS = ["host", "gpu", "uuid", "model_name"]


class DriftlineCollector(Collector):
    """Builds fresh ``driftline_*`` metric families from the pipeline and ingest state."""

    def __init__(
        self,
        pipeline: Pipeline,
        stats: IngestStats,
        log: IngestLog,
        *,
        gpu_stale_seconds: float = 300.0,
        correlation: CorrelationScheduler | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.log = log
        self.gpu_stale_seconds = gpu_stale_seconds
        self.correlation = correlation

    def _correlation_families(self) -> Iterator[Metric]:
        """``driftline_correlation{metric,kpi}``: signed strength of each active model-leads finding."""
        if self.correlation is None:
            return
        strength = GaugeMetricFamily(
            "driftline_correlation",
            "Signed strength (pre-whitened correlation at the finding's lag) of an active model metric -> KPI finding.",
            labels=["metric", "kpi"],
        )
        for finding in self.correlation.active():
            if finding.direction == "model_leads":
                strength.add_metric([finding.metric, finding.kpi], finding.strength)
        yield strength
        yield CounterMetricFamily("driftline_correlation_runs", "Correlation runs completed.", value=self.correlation.runs)
        yield CounterMetricFamily("driftline_correlation_errors", "Correlation runs that failed.", value=self.correlation.errors)
        yield GaugeMetricFamily(
            "driftline_correlation_run_duration_seconds",
            "Duration of the latest correlation run.",
            value=self.correlation.last_run_seconds,
        )

    def _gpu_families(self) -> Iterator[Metric]:
        """``driftline_gpu_<metric>`` per GPU (or MIG slice), labels host, gpu, uuid, model_name."""
        families: dict[GpuMetric, GaugeMetricFamily | CounterMetricFamily] = {}
        for reading in self.pipeline.gpu_readings(now=time.time(), stale_after=self.gpu_stale_seconds):
            family = families.get(reading.metric)
            if family is None:
                name = f"driftline_gpu_{reading.metric.value}"
                documentation = f"GPU {reading.metric.value.replace('_', ' ')} (latest value per device)."
                if reading.metric in COUNTERS:
                    family = CounterMetricFamily(name.removesuffix("_total"), documentation, labels=_GPU_LABELS)
                else:
                    family = GaugeMetricFamily(name, documentation, labels=_GPU_LABELS)
                families[reading.metric] = family
            family.add_metric([reading.host, reading.gpu, reading.uuid, reading.model_name], reading.value)
        yield from families.values()

    def collect(self) -> Iterator[Metric]:
        score = GaugeMetricFamily(
            "driftline_feature_drift_score",
            "Drift test statistic of the latest closed window.",
            labels=["model", "version", "feature", "test"],
        )
        p_value = GaugeMetricFamily(
            "driftline_feature_drift_p_value",
            "P-value of the latest drift test (tests that have one).",
            labels=["model", "version", "feature", "test"],
        )
        detected = GaugeMetricFamily(
            "driftline_feature_drift_detected",
            "1 when the latest window drifted from the reference, else 0.",
            labels=["model", "version", "feature"],
        )
        for (model, version), results in sorted(self.pipeline.latest_results().items()):
            for item in results:
                r = item.result
                score.add_metric([model, version, item.feature, r.test], r.statistic)
                if r.p_value is not None:
                    p_value.add_metric([model, version, item.feature, r.test], r.p_value)
                detected.add_metric([model, version, item.feature], 1.0 if r.drift_detected else 0.0)
        yield from (score, p_value, detected)

        predictions = CounterMetricFamily(
            "driftline_model_predictions", "Predictions received per model version.", labels=["model", "version"]
        )
        for (model, version), count in sorted(self.pipeline.predictions_total().items()):
            predictions.add_metric([model, version], count)
        yield predictions

        yield from self._gpu_families()
        yield from self._correlation_families()

        late = CounterMetricFamily(
            "driftline_pipeline_late_events", "Events that arrived after their window had closed.", labels=["model", "version"]
        )
        for (model, version), count in sorted(self.pipeline.late_total().items()):
            late.add_metric([model, version], count)
        yield late

        accepted, rejected = self.stats.snapshot()
        records = CounterMetricFamily("driftline_ingest_records", "Records accepted, by signal.", labels=["signal"])
        for signal, count in sorted(accepted.items()):
            records.add_metric([signal], count)
        yield records
        rejections = CounterMetricFamily(
            "driftline_ingest_rejected", "Records or requests rejected, by signal and reason.", labels=["signal", "reason"]
        )
        for (signal, reason), count in sorted(rejected.items()):
            rejections.add_metric([signal, reason], count)
        yield rejections

        yield GaugeMetricFamily("driftline_ingest_log_pending", "Requests waiting for the ingest log.", value=self.log.pending)
        yield GaugeMetricFamily(
            "driftline_pipeline_offset", "Last ingest-log offset the pipeline has applied.", value=self.pipeline.processed_offset
        )
        yield GaugeMetricFamily(
            "driftline_pipeline_checkpoint_duration_seconds",
            "Duration of the latest checkpoint.",
            value=self.pipeline.checkpoint_seconds,
        )
        yield CounterMetricFamily(
            "driftline_pipeline_errors", "Pipeline steps that failed and were retried.", value=self.pipeline.errors
        )
