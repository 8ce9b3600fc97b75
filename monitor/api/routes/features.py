"""Per-feature views: drift results over time and reference-vs-current distributions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from detectors.sketches import CategoricalReference, NumericReference
from monitor.api.deps import ReadAuth, RuntimeDep
from monitor.api.routes.models import Offset
from monitor.api.routes.models import _resolve_version as resolve_version
from monitor.api.schemas import DriftResultOut
from monitor.references import Profile
from monitor.store.tables import drift_results, windows

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class DriftHistoryPage(BaseModel):
    model: str
    version: str
    items: list[DriftResultOut] = Field(description="Drift results, oldest window first.")
    total: int
    limit: int
    offset: int


class ReferenceDistributionOut(BaseModel):
    kind: str = Field(description="'numeric' or 'categorical'.")
    n: int
    edges: list[float] | None = Field(None, description="Numbers: interior bin edges; counts has one more entry.")
    categories: list[str] | None = Field(None, description="Categories: names, the last one '__other__'.")
    counts: list[int]
    min: float | None = Field(None, description="Numbers: smallest value of the reference sample (bounds the first bin).")
    max: float | None = Field(None, description="Numbers: largest value of the reference sample (bounds the last bin).")


class CurrentDistributionOut(BaseModel):
    window_start: float
    window_end: float
    n: int
    counts: list[int] = Field(description="Counts on the reference's bins or categories.")
    min: float | None = None
    max: float | None = None


class DistributionOut(BaseModel):
    model: str
    version: str
    feature: str
    reference: ReferenceDistributionOut
    current: CurrentDistributionOut | None = Field(description="The newest closed window; null before one has closed.")


HistoryLimit = Annotated[int, Query(ge=1, le=10_000, description="Page size (results, oldest first).")]


@router.get("/{model}/drift/history", dependencies=[ReadAuth])
def get_drift_history(
    model: str,
    runtime: RuntimeDep,
    version: str | None = None,
    feature: Annotated[str | None, Query(description="Only this feature (default: all).")] = None,
    start: Annotated[float | None, Query(description="Windows ending after this, unix seconds.")] = None,
    end: Annotated[float | None, Query(description="Windows ending at or before this, unix seconds.")] = None,
    limit: HistoryLimit = 1000,
    offset: Offset = 0,
) -> DriftHistoryPage:
    """Every stored drift result of a model version (optionally one feature), oldest window first."""
    version = resolve_version(runtime, model, version)
    where = [drift_results.c.model == model, drift_results.c.version == version]
    if feature is not None:
        where.append(drift_results.c.feature == feature)
    if start is not None:
        where.append(drift_results.c.window_end > start)
    if end is not None:
        where.append(drift_results.c.window_end <= end)
    with runtime.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(drift_results).where(*where)).scalar_one())
        rows = (
            connection.execute(
                select(drift_results)
                .where(*where)
                .order_by(drift_results.c.window_end, drift_results.c.feature, drift_results.c.id)
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
    return DriftHistoryPage(
        model=model,
        version=version,
        items=[DriftResultOut.model_validate(dict(row)) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _reference_out(profile: Profile) -> ReferenceDistributionOut:
    if isinstance(profile, NumericReference):
        sample = profile.sample
        return ReferenceDistributionOut(
            kind="numeric",
            n=profile.n,
            edges=profile.edges.tolist(),
            counts=profile.counts.tolist(),
            min=float(sample.min()) if sample.size else None,
            max=float(sample.max()) if sample.size else None,
        )
    return ReferenceDistributionOut(
        kind="categorical", n=profile.n, categories=[*profile.categories, "__other__"], counts=profile.counts.tolist()
    )


def _current_out(profile: Profile, row: Any) -> CurrentDistributionOut | None:
    """The newest closed window's counts on the reference's bins or categories, if it has them."""
    summary = json.loads(row["summary"]).get(row["feature"])
    if summary is None:
        return None
    window = {"window_start": row["window_start"], "window_end": row["window_end"], "n": int(summary["n"])}
    if isinstance(profile, CategoricalReference) and summary.get("kind") == "categorical":
        # The summary keeps the window's 20 most frequent categories; the rest pool into __other__.
        counts = profile.align(summary["top"])
        counts[-1] += int(summary["n"]) - int(counts.sum())
        return CurrentDistributionOut(**window, counts=counts.tolist())
    bins = summary.get("bins")
    if isinstance(profile, NumericReference) and summary.get("kind") == "numeric" and bins and len(bins) == profile.counts.size:
        return CurrentDistributionOut(**window, counts=bins, min=summary.get("min"), max=summary.get("max"))
    return None


@router.get("/{model}/distribution", dependencies=[ReadAuth])
def get_distribution(
    model: str,
    runtime: RuntimeDep,
    feature: Annotated[str, Query(min_length=1, max_length=160, description="Feature name.")],
    version: str | None = None,
) -> DistributionOut:
    """A feature's reference histogram (or category counts) beside the newest closed window's, on the same bins."""
    version = resolve_version(runtime, model, version)
    profile = (runtime.references.get(model, version) or {}).get(feature)
    if profile is None:
        raise HTTPException(404, f"model {model!r} version {version!r} has no reference profile for feature {feature!r}")
    newest = (
        select(windows.c.window_start, windows.c.window_end, windows.c.summary)
        .where(windows.c.model == model, windows.c.version == version)
        .order_by(windows.c.window_end.desc(), windows.c.id.desc())
        .limit(1)
    )
    with runtime.engine.connect() as connection:
        row = connection.execute(newest).mappings().first()
    current = None if row is None else _current_out(profile, {**row, "feature": feature})
    return DistributionOut(model=model, version=version, feature=feature, reference=_reference_out(profile), current=current)
