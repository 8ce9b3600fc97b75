"""The configuration of business KPIs and of anomaly-watched series (validated at start-up).

Kept apart from :mod:`monitor.kpi` so that :mod:`monitor.settings` can use these models
without importing the numerical code.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["KPI_SERIES", "AnomalySelector", "KpiSpec", "quantile_suffix"]

#: Series name of every KPI value in the time series store (label ``kpi=<name>``).
KPI_SERIES = "driftline.kpi"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")


def quantile_suffix(q: float) -> str:
    """The KPI name suffix of a histogram quantile.

    Examples
    --------
    >>> [quantile_suffix(q) for q in (0.5, 0.95, 0.999)]
    ['.p50', '.p95', '.p99.9']
    """
    return f".p{round(q * 100, 6):g}"


class KpiSpec(BaseModel):
    """One business KPI: which OTLP metric (or PromQL query) gives its values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="KPI name: the `kpi` label of `driftline.kpi` and of `driftline_kpi_value`.")
    metric: str | None = Field(None, min_length=1, max_length=255, description="OTLP metric whose points are this KPI's values.")
    attributes: dict[str, str] = Field(
        {}, description="Only points whose attributes (resource ones included) equal these values count."
    )
    quantiles: list[float] = Field([], description="Histogram metrics: quantiles to derive besides the mean.")
    query: str | None = Field(
        None, min_length=1, max_length=4096, description="PromQL query answered by `kpi_prometheus_url`, pulled as this KPI."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"name {value!r} must start with a letter or '_' and hold at most 100 letters, digits, '_', '.', ':' or '-'"
            )
        return value

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: list[float]) -> list[float]:
        for q in value:
            if not 0.0 < q < 1.0:
                raise ValueError(f"quantile {q} must be strictly between 0 and 1")
        if len(set(value)) != len(value):
            raise ValueError(f"quantiles {value} must not repeat")
        return value

    @model_validator(mode="after")
    def _source(self) -> Self:
        if (self.metric is None) == (self.query is None):
            raise ValueError(f"KPI {self.name!r} needs exactly one of 'metric' (OTLP) or 'query' (Prometheus pull)")
        if self.query is not None and (self.attributes or self.quantiles):
            raise ValueError(f"KPI {self.name!r}: 'attributes' and 'quantiles' apply to 'metric' only, not to 'query'")
        return self


class AnomalySelector(BaseModel):
    """Series to watch for anomalies: a series name and optional label values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=255, description="Series name, e.g. driftline.kpi or hw.gpu.utilization.")
    labels: dict[str, str] = Field({}, description="Only series whose labels equal these values.")
