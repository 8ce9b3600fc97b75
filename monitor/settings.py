"""Driftline's one settings object.

Every option can be given, from lowest to highest precedence, as a default, in
the YAML file passed with ``--config``, as an environment variable
``DRIFTLINE_<NAME>``, or as a command-line flag / constructor argument.
``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.notifiers import build_notifier
from alerts.rules import AlertsConfig
from monitor.gpu_models import GpuModelRule
from monitor.kpi_config import AnomalySelector, KpiSpec

__all__ = ["Settings", "load_settings"]

from pydantic import BaseModel, ConfigDict

__all__ = ["KpiUnitSetting", "Settings", "load_settings"]

ENV_PREFIX = "DRIFTLINE_"


class KpiUnitSetting(BaseModel):
    """How one KPI is spoken of in correlation findings."""

    model_config = ConfigDict(extra="forbid")

    unit: str = Field("", max_length=40, description="Unit of the KPI's value, e.g. points, EUR/min.")
    value_per_unit_minute: float | None = Field(
        None, gt=0, description="What one unit of the KPI sustained for one minute is worth, in value_name."
    )
    value_name: str = Field("", max_length=40, description="What the value counts, e.g. orders.")


class Settings(BaseSettings):
    """All of Driftline's options, validated."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(4318, ge=0, le=65535, description="HTTP port (OTLP/HTTP's default).")
    db_url: str = Field("sqlite:///./driftline.db", description="SQLAlchemy URL: SQLite file or postgresql+psycopg://…")

    window_seconds: float = Field(300.0, gt=0, description="Width of tumbling drift windows, by event time.")
    allowed_lateness_seconds: float = Field(60.0, ge=0, description="How late an event may arrive and still count in its window.")
    idle_close_seconds: float | None = Field(
        None, gt=0, description="Close a model's open windows after this much wall-clock silence (default: window + lateness)."
    )
    reference_bins: int = Field(20, ge=2, le=1000, description="Quantile bins per numerical reference feature.")
    reference_sample_size: int = Field(5000, ge=10, description="Exact values kept per numerical reference feature.")
    reference_max_categories: int = Field(
        50, ge=1, description="Categories kept per categorical feature; the rest pool into __other__."
    )
    window_sample_size: int = Field(2048, ge=10, description="Reservoir size per numerical feature and window.")
    drift_alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise significance level for p-value drift tests.")
    family_method: Literal["bh", "bonferroni", "none"] = Field(
        "bh", description="Multiple-testing control across a model's features."
    )

    gpu_stale_seconds: float = Field(
        300.0, gt=0, description="A GPU metric older than this (by its own timestamp) is no longer exposed in /metrics."
    )

    dcgm_targets: list[str] = Field(
        [], description="Full URLs of NVIDIA dcgm-exporter metrics endpoints to scrape, e.g. http://node:9400/metrics."
    )
    dcgm_interval_seconds: float = Field(15.0, gt=0, description="How often each DCGM exporter target is scraped.")

    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest accepted request body, measured after decompression."
    )
    ingest_queue_size: int = Field(256, ge=1, description="Requests waiting for the ingest log before the server answers 503.")
    checkpoint_interval_seconds: float = Field(
        1.0, gt=0, description="How often pipeline state is checkpointed with its log offset."
    )
    log_retention_seconds: float = Field(
        3600.0, ge=0, description="How long processed ingest-log entries are kept (duplicate detection horizon)."
    )
    series_resolution_seconds: int = Field(
        60, ge=1, le=86400, description="Width of the buckets metric points are rolled up into (count, sum, min, max, last)."
    )
    series_retention_seconds: float = Field(
        30 * 86400.0, gt=0, description="How long rolled-up metric buckets are kept, by bucket start time."
    )

    # -- limits --
    max_records_per_request: int = Field(
        100_000, ge=1, description="Most log records, events or metric points one ingest request may carry."
    )
    max_models: int = Field(1000, ge=1, description="Most distinct models; events for a further model are refused.")
    max_versions_per_model: int = Field(50, ge=1, description="Most versions per model; further versions are refused.")
    max_features_per_model: int = Field(
        1000, ge=1, description="Most distinct feature names per model (all versions); events adding more are refused."
    )
    max_series_per_metric: int = Field(
        10_000, ge=1, description="Most label sets per metric name; points of further label sets are refused."
    )

    # -- notify --
    gate_min_samples: int = Field(
        200, ge=10, description="Rows a canary needs (and its stable version, to be compared) before the gate passes it."
    )
    gate_lookback_seconds: float = Field(
        900.0, gt=0, description="Event-time span of the newest rows the gate compares between canary and stable."
    )
    gate_sample_size: int = Field(5000, ge=100, description="Newest rows kept in memory per model version for the gate.")
    gate_alpha: float = Field(
        0.01, gt=0, lt=1, description="Family-wise significance of the gate's canary-vs-stable tests (Bonferroni)."
    )
    gate_min_effect: float = Field(
        0.1, gt=0, le=1, description="Smallest KS distance / Cramér's V / Cliff's delta that fails a canary."
    )
    gate_max_quality_drop: float = Field(
        0.02, ge=0, description="Largest quality loss of the canary against stable (same metric, absolute) that passes."
    )
    gate_recover_after: int = Field(
        3, ge=1, description="Consecutive passing evaluations a failed version needs before the gate passes it again."
    )
    gate_anomaly_series: str | None = Field(
        None, description="Series (labels model, version) of anomaly scores the gate fails on; unset: not used."
    )
    gate_anomaly_threshold: float = Field(1.0, description="Anomaly score at or above which the gate fails the version.")

    cors_origins: list[str] = Field(
        [], description="Browser origins allowed to call the API cross-origin (CORS); none by default."
    )

    # -- labels --
    label_window_seconds: float = Field(
        6 * 3600.0,
        gt=0,
        description="How long after its prediction (by event time) a label may arrive and still join it; "
        "a label whose prediction has not arrived waits this long.",
    )
    label_buffer_max_entries: int = Field(
        100_000, ge=1, description="Predictions (and, separately, waiting labels) kept for the join; the oldest go first."
    )
    quality_window_seconds: float = Field(
        300.0, gt=0, description="Width of the windows model quality is computed over, by the time labels join."
    )
    quality_task_types: dict[str, Literal["classification", "regression"]] = Field(
        {}, description="Task type per model name, instead of the one inferred from its predictions and labels."
    )
    quality_positive_classes: dict[str, str] = Field(
        {}, description="Positive class per model name for binary classification metrics (default: 1 or true, else inferred)."
    )

    # -- alerts --
    alerts: AlertsConfig | None = Field(
        None, description="Alert rules, receivers, routes and rollback policies (a YAML section; see docs/alerts.md)."
    )
    webhook_url: str | None = Field(
        None, description="Quick path: send every alert of the default rules to this URL as a signed webhook."
    )
    webhook_secret: SecretStr | None = Field(None, description="Quick path: the webhook's signing secret (whsec_…).")

    @model_validator(mode="after")
    def _quick_webhook(self) -> Settings:
        if self.webhook_url is not None:
            if self.webhook_secret is None:
                raise ValueError("webhook_secret: DRIFTLINE_WEBHOOK_URL needs DRIFTLINE_WEBHOOK_SECRET (whsec_…)")
            spec = {"type": "webhook", "url": self.webhook_url, "secret": self.webhook_secret.get_secret_value()}
            build_notifier("webhook", spec).shutdown()  # a bad URL or secret stops start-up, naming the field
        return self

    # -- kpi --
    kpi_prometheus_url: str | None = Field(
        None, description="Prometheus base URL (e.g. http://prometheus:9090) that KPIs with a `query` are pulled from."
    )
    kpi_pull_interval_seconds: float = Field(60.0, gt=0, description="How often each KPI `query` is evaluated.")
    kpis: list[KpiSpec] = Field(
        [],
        description=(
            "Business KPIs: `{name, metric, attributes, quantiles}` for an OTLP metric or `{name, query}` for a "
            "Prometheus pull; see docs/kpis.md."
        ),
    )
    anomaly_series: list[AnomalySelector] = Field(
        [{"name": "driftline.kpi"}, {"name": "hw.gpu.utilization"}, {"name": "driftline.model.latency"}],
        validate_default=True,
        description="Series scored for anomalies per closed bucket: `{name, labels}` each; see docs/kpis.md.",
    )
    anomaly_threshold: float | None = Field(
        None, gt=0, lt=1, description="Anomaly score at which a bucket is flagged (default: the detector's own, 0.59)."
    )
    anomaly_max_series: int = Field(
        200, ge=0, le=10000, description="Most series scored for anomalies; further ones are counted and skipped."
    )

    @field_validator("kpis")
    @classmethod
    def _kpis(cls, kpis: list[KpiSpec], info: ValidationInfo) -> list[KpiSpec]:
        seen: set[str] = set()
        for i, kpi in enumerate(kpis):
            if kpi.name in seen:
                raise ValueError(f"kpis[{i}].name {kpi.name!r} is used by an earlier KPI; names must be unique")
            seen.add(kpi.name)
            if kpi.query is not None and not info.data.get("kpi_prometheus_url"):
                raise ValueError(f"kpis[{i}] ({kpi.name!r}) has a query, so kpi_prometheus_url must be set")
        return kpis

    # -- gpu --
    gpu_models: list[GpuModelRule] = Field(
        [],
        description="Rules linking GPUs to models: [{model, version (optional), match: {service|pod|namespace|container|"
        "host|uuid|gpu|model_name: regex (full match)}}]; the first matching rule wins.",
    )
    gpu_idle_utilization: float = Field(
        0.05, ge=0, le=1, description="A GPU linked to a model counts as idle while its utilisation ratio is below this."
    )
    gpu_max_sample_gap_seconds: float = Field(
        120.0, gt=0, description="Longer gaps between two utilisation samples of a GPU are not counted as GPU time."
    )

    # -- correlate --
    correlation_enabled: bool = Field(
        True, description="Run the correlation engine (model metrics against KPIs) on a schedule inside the server."
    )
    correlation_interval_seconds: float = Field(900.0, gt=0, description="How often the scheduled correlation run starts.")
    correlation_lookback_seconds: float = Field(
        7 * 86400.0, gt=0, description="History each scheduled correlation run looks at, ending now."
    )
    correlation_step_seconds: float = Field(60.0, gt=0, description="Grid the series are aligned to before correlating.")
    correlation_max_lag_seconds: float = Field(
        3600.0, ge=0, description="Largest lag tested between a model metric and a KPI, in both directions."
    )
    correlation_alpha: float = Field(
        0.05, gt=0, lt=1, description="False discovery rate (Benjamini-Hochberg) across all pairs and lags."
    )
    correlation_min_strength: float = Field(
        0.1, ge=0, lt=1, description="Smallest |correlation| of the pre-whitened series reported as a link."
    )
    correlation_min_evidence_seconds: float = Field(
        6 * 3600.0, gt=0, description="A pair needs this much time with both series present before it is tested."
    )
    correlation_expire_seconds: float = Field(
        86400.0, gt=0, description="A finding expires when no run has confirmed it for this long."
    )
    correlation_seasons_seconds: list[float] = Field(
        [86400.0, 604800.0], description="Seasons removed before testing (used when the history spans two of them)."
    )
    correlation_kpi_units: dict[str, KpiUnitSetting] = Field(
        {},
        description=(
            'Per KPI: {"unit": "points", "value_per_unit_minute": 1.14, "value_name": "orders"}; '
            "the value turns a KPI change over an incident into a count."
        ),
    )

    # -- ingest limits --
    max_attributes_per_record: int = Field(
        256,
        ge=1,
        description=(
            "Most attributes one OTLP log record, or labels one metric data point (with its resource's), may carry; "
            "more rejects it (too_many_attributes)."
        ),
    )
    max_string_length: int = Field(
        1024,
        ge=1,
        description=(
            "Longest string value, in characters, that ingest reads (feature and label values, predictions, prediction "
            "ids, versions, metric labels); longer rejects its record (value_too_long)."
        ),
    )

    ingest_token: SecretStr | None = Field(None, description="Bearer token required by ingest endpoints when set.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token required by write endpoints when set; also accepted wherever another token is asked for."
    )
    read_token: SecretStr | None = Field(
        None, description="Bearer token required by read endpoints, /metrics included, when set."
    )

    @field_validator("ingest_token", "admin_token", "read_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        """``DRIFTLINE_READ_TOKEN=`` (empty, as templates often leave it) means no token, not an empty one."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def idle_close(self) -> float:
        """Seconds of silence after which open windows close anyway."""
        return self.idle_close_seconds or (self.window_seconds + self.allowed_lateness_seconds)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a YAML file, the environment and explicit overrides.

    Environment variables beat the file; ``overrides`` (command-line flags) beat both.
    Overrides whose value is ``None`` are ignored so unset flags fall through.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read config file {str(path)!r}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {str(path)!r} must hold a mapping of option: value")
        values = {str(key): value for key, value in loaded.items() if f"{ENV_PREFIX}{str(key).upper()}" not in os.environ}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return Settings(**values)


def markdown_reference() -> str:
    """The settings, then the ``alerts:`` section's schemas, as Markdown tables.

    ``docs/configuration.md`` is generated from it (a test keeps the two in sync).
    """
    from alerts.rules import AlertsConfig, Policy, Route, Rule

    lines = ["| option | environment variable | default | description |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else f"`{default}`"
        lines.append(f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | {shown} | {field.description or ''} |")
    for title, model in (
        ("alerts:", AlertsConfig),
        ("alerts.rules[]", Rule),
        ("alerts.routes[]", Route),
        ("alerts.policies.NAME", Policy),
    ):
        lines += ["", f"#### `{title}`", "", "| field | default | description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            default = field.get_default(call_default_factory=True) if not field.is_required() else None
            if field.is_required():
                shown = "(required)"
            elif default in (None, (), {}, []):
                shown = "(unset)"
            else:
                shown = "(empty)" if default == "" else f"`{default}`"
            lines.append(f"| `{key}` | {shown} | {(field.description or '').replace('|', '/')} |")
    return "\n".join(lines) + "\n"
