"""What the deploy/ tests share: paths, YAML loading and the metric names Driftline exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from support import ROOT

DEPLOY = ROOT / "deploy"

#: The metric families of CONTRACT.md ("Prometheus metrics"), with the names Prometheus stores
#: (counters with ``_total``). Families that today's server declares are also checked at run time.
CONTRACT_METRICS = frozenset(
    {
        "driftline_feature_drift_score",
        "driftline_feature_drift_p_value",
        "driftline_feature_drift_detected",
        "driftline_model_predictions_total",
        "driftline_model_quality",
        "driftline_ingest_records_total",
        "driftline_ingest_rejected_total",
        "driftline_gpu_utilization_ratio",
        "driftline_gpu_memory_used_bytes",
        "driftline_gpu_power_watts",
        "driftline_gpu_temperature_celsius",
        "driftline_kpi_value",
        "driftline_correlation",
        "driftline_alerts_firing",
    }
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
