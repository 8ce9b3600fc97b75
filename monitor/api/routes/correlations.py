"""Ranked model-metric -> KPI findings of the correlation engine (see monitor.correlation)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from monitor.api.deps import AdminAuth, ReadAuth, RuntimeDep
from monitor.correlation.service import CorrelationScheduler, RunCancelled
from monitor.correlation.store import StoredFinding, list_findings

#: The longest range an on-demand run may cover, in scheduled lookbacks.
MAX_RUN_LOOKBACKS = 4

router = APIRouter(prefix="/api/v1/correlations", tags=["correlations"])


class UnitOut(BaseModel):
    unit: str
    value_per_unit_minute: float | None
    value_name: str


class IncidentOut(BaseModel):
    start: float
    end: float
    kpi_change: float = Field(description="Estimated KPI change over the incident, in the KPI's unit.")
    low: float
    high: float
    value: float | None = Field(description="The change's worth over the incident (KPI units x minutes x value per unit-minute).")
    value_low: float | None
    value_high: float | None


class CorrelationOut(BaseModel):
    metric: str = Field(description="Model-side series, e.g. driftline.model.latency{model=m,version=v1}.")
    kpi: str
    model: str | None
    version: str | None
    metric_label: str
    direction: Literal["model_leads", "kpi_leads"]
    method: Literal["correlation", "event"] = Field(
        description="correlation: the lagged cross-correlation found the link; event: one incident's onset was "
        "followed by a KPI shift larger than at (almost) any earlier moment (placebo test)."
    )
    status: Literal["active", "expired"]
    lag_seconds: float = Field(description="How long after the metric moves the KPI follows (or precedes, kpi_leads).")
    strength: float = Field(
        description="Signed correlation of the pre-whitened series at the lag (event: the shift's partial correlation "
        "with the KPI given its trend)."
    )
    p_value: float = Field(description="Fisher z on the effective sample size (event: the placebo rank).")
    q_value: float = Field(
        description="Benjamini-Hochberg adjusted p-value across all pairs and lags of the run (event: across the "
        "run's incident onsets and KPIs)."
    )
    n: int
    granger_p: float | None = Field(description="F-test: the metric's past improves the KPI's forecast.")
    reverse_p: float | None = Field(description="F-test the other way round: the KPI's past improves the metric's.")
    reverse_warning: bool
    effect: float | None = Field(description="KPI change per unit of the metric, at the lag.")
    effect_low: float | None
    effect_high: float | None
    unit: UnitOut
    events_model: int = Field(description="Change points found in the metric.")
    events_matched: int = Field(description="Of them, followed by a KPI change point at the lag.")
    event_effect: float | None = Field(
        description="KPI change per unit of metric change across the metric's change points (event study)."
    )
    placebos: int = Field(description="Event findings: earlier positions the KPI shift was compared with (0 otherwise).")
    exceeded_by: int = Field(description="Event findings: of them, where the KPI shifted at least as much.")
    evidence: int = Field(description="Lines of evidence that agree: correlation, Granger, matched events (event: 1).")
    score: float
    evidence_start: float
    evidence_end: float
    incident: IncidentOut | None
    sentence: str
    first_seen: float
    last_confirmed: float
    expired_at: float | None


class CorrelationPage(BaseModel):
    items: list[CorrelationOut]
    total: int
    limit: int
    offset: int


class CorrelationRunOut(BaseModel):
    tests: int = Field(description="Tests run: the pair-lags of the correlation family plus the incident event tests.")
    pairs_tested: int
    findings: int


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _out(stored: StoredFinding) -> CorrelationOut:
    f = stored.finding
    incident = None
    if f.incident is not None:
        i = f.incident
        incident = IncidentOut(
            start=i.start, end=i.end, kpi_change=i.kpi_change, low=i.low, high=i.high,
            value=_finite(i.value), value_low=_finite(i.value_low), value_high=_finite(i.value_high),
        )  # fmt: skip
    return CorrelationOut(
        metric=f.metric, kpi=f.kpi, model=f.model, version=f.version, metric_label=f.metric_label,
        direction=f.direction, method=f.method, status=f.status, lag_seconds=f.lag_seconds, strength=f.strength,
        p_value=f.p_value, q_value=f.q_value, n=f.n, granger_p=_finite(f.granger_p), reverse_p=_finite(f.reverse_p),
        reverse_warning=f.reverse_warning, effect=_finite(f.effect), effect_low=_finite(f.effect_low),
        effect_high=_finite(f.effect_high),
        unit=UnitOut(unit=f.unit.unit, value_per_unit_minute=f.unit.value_per_unit_minute, value_name=f.unit.value_name),
        events_model=f.events_model, events_matched=f.events_matched, event_effect=_finite(f.event_effect),
        placebos=f.placebos, exceeded_by=f.exceeded_by, evidence=f.evidence, score=f.score,
        evidence_start=f.evidence_start, evidence_end=f.evidence_end,
        incident=incident, sentence=stored.sentence, first_seen=stored.first_seen,
        last_confirmed=stored.last_confirmed, expired_at=stored.expired_at,
    )  # fmt: skip


@router.get("", dependencies=[ReadAuth])
def get_correlations(
    runtime: RuntimeDep,
    model: Annotated[str | None, Query(max_length=128, description="Only findings about this model.")] = None,
    kpi: Annotated[str | None, Query(max_length=160, description="Only findings about this KPI.")] = None,
    status: Annotated[Literal["active", "expired", "all"], Query(description="Which findings.")] = "active",
    limit: Annotated[int, Query(ge=1, le=1000, description="Findings per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Findings to skip.")] = 0,
) -> CorrelationPage:
    """Model-metric -> KPI findings, best first (lines of evidence, then strength)."""
    with runtime.engine.connect() as connection:
        stored, total = list_findings(
            connection, model=model, kpi=kpi, status=None if status == "all" else status, limit=limit, offset=offset
        )
    return CorrelationPage(items=[_out(s) for s in stored], total=total, limit=limit, offset=offset)


@router.post("/run", dependencies=[AdminAuth])
def run_correlations(
    runtime: RuntimeDep,
    since: Annotated[float | None, Query(description="Range start, unix seconds (default: until - lookback).")] = None,
    until: Annotated[float | None, Query(description="Range end, unix seconds (default: now).")] = None,
) -> CorrelationRunOut:
    """Run the correlation engine now over [since, until) and store its findings."""
    scheduler: CorrelationScheduler | None = runtime.correlation
    if scheduler is None:
        raise HTTPException(503, "the correlation engine is not part of this server")
    lookback = runtime.settings.correlation_lookback_seconds
    end = scheduler.clock() if until is None else until
    start = end - lookback if since is None else since
    if not start < end:  # also refuses NaN
        raise HTTPException(422, f"since {start} must be before until {end}")
    if end - start > MAX_RUN_LOOKBACKS * lookback:  # the grid the run allocates grows with the range
        raise HTTPException(
            422,
            f"since..until may span at most {MAX_RUN_LOOKBACKS} x correlation_lookback_seconds"
            f" ({MAX_RUN_LOOKBACKS * lookback:g} s)",
        )
    try:
        result = scheduler.run_once(start, end)
    except RunCancelled:
        raise HTTPException(503, "the server is stopping; run it again once it is back", headers={"Retry-After": "5"}) from None
    return CorrelationRunOut(tests=result.tests, pairs_tested=len(result.tested), findings=len(result.findings))
