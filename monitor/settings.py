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
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    ingest_token: SecretStr | None = Field(None, description="Bearer token required by ingest endpoints when set.")
    admin_token: SecretStr | None = Field(None, description="Bearer token required by write endpoints when set.")
    read_token: SecretStr | None = Field(
        None, description="Bearer token required by read endpoints, /metrics included, when set."
    )

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
    """The settings as a Markdown table (``docs/configuration.md`` is generated from it)."""
    lines = ["| option | environment variable | default | description |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else f"`{default}`"
        lines.append(f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines) + "\n"
