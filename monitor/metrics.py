"""Prometheus exposition: one custom collector that reads current state at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.gpu import GpuMetric
from monitor.gpu_models import ALL_VERSIONS
from monitor.gpu_state import COUNTERS
from monitor.ingest_log import IngestLog
from monitor.pipeline import Pipeline
from monitor.stats import IngestStats

__all__ = ["DriftlineCollector"]

_GPU_LABELS = ["host", "gpu", "uuid", "model_name"]


class DriftlineCollector(Collector):
    """Builds fresh ``driftline_*`` metric families from the pipeline and ingest state."""

    def __init__(self, pipeline: Pipeline, stats: IngestStats, log: IngestLog, *, gpu_stale_seconds: float = 300.0) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.log = log
        self.gpu_stale_seconds = gpu_stale_seconds

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
        yield from self._model_gpu_families()

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
