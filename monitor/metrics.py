"""Prometheus exposition: one custom collector that reads current state at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.gpu import GpuMetric
from monitor.alerting import Alerting
from monitor.correlation.service import CorrelationScheduler
from monitor.gpu_models import ALL_VERSIONS
from monitor.gpu_state import COUNTERS
from monitor.ingest_log import IngestLog
from monitor.kpi import label_text
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
        alerting: Alerting | None = None,
        correlation: CorrelationScheduler | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.log = log
        self.gpu_stale_seconds = gpu_stale_seconds
        self.alerting = alerting
        self.correlation = correlation

    def _alert_families(self) -> Iterator[Metric]:
        """Firing alerts per rule and severity, and the outbox's depth and dead letters."""
        if self.alerting is None:
            return
        firing = GaugeMetricFamily(
            "driftline_alerts_firing", "Alerts firing now, per rule and severity.", labels=["alertname", "severity"]
        )
        for (alertname, severity), count in sorted(self.alerting.engine.firing_counts().items()):
            firing.add_metric([alertname, severity], count)
        yield firing
        counts = self.alerting.outbox.counts()
        yield GaugeMetricFamily(
            "driftline_outbox_pending", "Notifications and actions waiting for (re)delivery.", value=counts["pending"]
        )
        yield CounterMetricFamily(
            "driftline_outbox_dead", "Notifications and actions given up on (retries exhausted or refused).", value=counts["dead"]
        )
        yield CounterMetricFamily(
            "driftline_alerts_evaluation_errors", "Alert evaluations that failed.", value=self.alerting.errors
        )

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

    def _label_families(self) -> Iterator[Metric]:
        """Label join outcomes and model quality on joined labels (see monitor.labels)."""
        counts = self.pipeline.label_counts()
        labels = CounterMetricFamily("driftline_labels", "ml.label events by join outcome.", labels=["outcome"])
        for outcome, count in counts.outcomes.items():
            labels.add_metric([outcome], count)
        yield labels
        yield GaugeMetricFamily("driftline_labels_pending", "Labels waiting for their prediction.", value=counts.pending)
        yield GaugeMetricFamily("driftline_label_buffer_entries", "Predictions kept for joining labels.", value=counts.buffered)
        yield CounterMetricFamily(
            "driftline_label_buffer_evicted",
            "Predictions evicted from a full join buffer before any label came.",
            value=counts.evicted,
        )
        quality = GaugeMetricFamily(
            "driftline_model_quality",
            "Quality of the latest closed window of joined labels (accuracy, f1, mae ...).",
            labels=["model", "version", "metric"],
        )
        drift = GaugeMetricFamily(
            "driftline_model_quality_drift_detected",
            "1 when the error-stream detector alarmed in the latest closed quality window or the open one, else 0.",
            labels=["model", "version"],
        )
        for status in self.pipeline.quality():
            drift.add_metric([status.model, status.version], 1.0 if status.drift_detected else 0.0)
            if status.latest is not None:
                for metric, value in sorted(status.latest.metrics.items()):
                    quality.add_metric([status.model, status.version, metric], value)
        yield from (quality, drift)

    def _kpi_families(self) -> Iterator[Metric]:
        """``driftline_kpi_value{kpi}`` and the anomaly scores of watched series."""
        kpi = GaugeMetricFamily("driftline_kpi_value", "Newest value of each business KPI.", labels=["kpi"])
        for name, (_, value) in sorted(self.pipeline.kpi_values().items()):
            kpi.add_metric([name], value)
        yield kpi
        readings, skipped = self.pipeline.anomaly_readings()
        score = GaugeMetricFamily(
            "driftline_anomaly_score",
            "Anomaly score in [0, 1] of the latest closed bucket of each watched series.",
            labels=["series", "labels"],
        )
        detected = GaugeMetricFamily(
            "driftline_anomaly_detected",
            "1 when the latest closed bucket of a watched series scored at or above the threshold, else 0.",
            labels=["series", "labels"],
        )
        for reading in readings:
            source = ",".join(f"{key}={label_text(value)}" for key, value in sorted(reading.labels.items()))
            score.add_metric([reading.series, source], reading.score)
            detected.add_metric([reading.series, source], 1.0 if reading.detected else 0.0)
        yield from (score, detected)
        yield CounterMetricFamily(
            "driftline_anomaly_skipped_buckets",
            "Buckets of watched series not scored because anomaly_max_series series are scored already.",
            value=skipped,
        )

    def _model_gpu_families(self) -> Iterator[Metric]:
        """GPU efficiency per model version from the GPU ↔ model join (formulas in docs/gpu.md)."""
        links = self.pipeline.gpu_links()
        predictions = self.pipeline.predictions_total()
        labels = ["model", "version"]
        seconds = CounterMetricFamily(
            "driftline_model_gpu_seconds", "GPU-seconds of the GPUs linked to the model.", labels=labels
        )
        idle = CounterMetricFamily(
            "driftline_model_gpu_idle_seconds",
            "GPU-seconds of linked GPUs whose utilisation was below gpu_idle_utilization.",
            labels=labels,
        )
        per_1k = GaugeMetricFamily(
            "driftline_model_gpu_seconds_per_1k_predictions",
            "GPU-seconds per 1,000 predictions since the state began (all versions for version '*').",
            labels=labels,
        )
        headroom = GaugeMetricFamily(
            "driftline_model_gpu_memory_headroom_bytes",
            "Smallest latest memory headroom (limit - used) over the model's fresh linked GPUs.",
            labels=labels,
        )
        for (model, version), (gpu_seconds, idle_seconds) in sorted(links.totals.items()):
            seconds.add_metric([model, version], gpu_seconds)
            idle.add_metric([model, version], idle_seconds)
            served = sum(n for (m, v), n in predictions.items() if m == model and version in (v, ALL_VERSIONS))
            if served:
                per_1k.add_metric([model, version], 1000.0 * gpu_seconds / served)
        now = time.time()
        for (model, version), per_gpu in sorted(links.headroom.items()):
            fresh = [value for t, value in per_gpu.values() if now - t <= self.gpu_stale_seconds]
            if fresh:
                headroom.add_metric([model, version], min(fresh))
        yield from (seconds, idle, per_1k, headroom)

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
        yield from self._label_families()
        yield from self._alert_families()
        yield from self._kpi_families()

        yield from self._model_gpu_families()
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
