"""Prometheus exposition: one custom collector that reads current state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.ingest_log import IngestLog
from monitor.pipeline import Pipeline
from monitor.stats import IngestStats

__all__ = ["DriftlineCollector"]


class DriftlineCollector(Collector):
    """Builds fresh ``driftline_*`` metric families from the pipeline and ingest state."""

    def __init__(self, pipeline: Pipeline, stats: IngestStats, log: IngestLog) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.log = log

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
