"""Response schemas of the management API (separate from the storage tables)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "DriftReport",
    "DriftResultOut",
    "FeatureProfileOut",
    "ModelVersionOut",
    "ModelsPage",
    "ReferenceOut",
    "SeriesOut",
    "SeriesPage",
    "SeriesPointOut",
    "WindowOut",
    "WindowsPage",
]


class ModelVersionOut(BaseModel):
    model: str
    version: str
    created_at: float
    has_reference: bool
    predictions_total: int
    features_drifting: int
    features_tested: int
    status: str = Field(description="'no_reference', 'waiting' (no window tested yet), 'ok' or 'drift'.")


class ModelsPage(BaseModel):
    items: list[ModelVersionOut]
    total: int
    limit: int
    offset: int


class FeatureProfileOut(BaseModel):
    feature: str
    kind: str
    n: int
    nulls: int


class ReferenceOut(BaseModel):
    model: str
    version: str
    rows: int
    features: list[FeatureProfileOut]


class DriftResultOut(BaseModel):
    feature: str
    test: str
    statistic: float
    p_value: float | None
    effect_size: float
    threshold: float
    drift_detected: bool
    window_start: float
    window_end: float
    n: int


class DriftReport(BaseModel):
    model: str
    version: str
    drift_detected: bool = Field(description="True when any feature drifted in its latest window.")
    results: list[DriftResultOut]


class WindowOut(BaseModel):
    window_start: float
    window_end: float
    n: int
    open: bool
    closed_at: float | None = None


class WindowsPage(BaseModel):
    model: str
    version: str
    open: list[WindowOut]
    closed: list[WindowOut]
    total_closed: int
    limit: int
    offset: int


class SeriesPointOut(BaseModel):
    t: float = Field(description="Bucket start, unix seconds; the bucket covers [t, t + resolution).")
    count: int
    sum: float
    min: float
    max: float
    last: float = Field(description="The value with the newest timestamp in the bucket.")
    mean: float


class SeriesOut(BaseModel):
    labels: dict[str, Any] = Field(description="The series' attribute set (resource and data-point attributes).")
    points: list[SeriesPointOut]


class SeriesPage(BaseModel):
    name: str
    start: float
    end: float
    resolution: int = Field(description="Bucket width in seconds.")
    series: list[SeriesOut]
    total: int = Field(description="Series matching the filters, before pagination.")
    limit: int
    offset: int
