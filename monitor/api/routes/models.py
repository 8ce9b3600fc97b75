"""Models, versions, reference profiles, windows and drift results."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, func, insert, select

from monitor.api.body import read_capped
from monitor.api.deps import AdminAuth, ReadAuth, RuntimeDep
from monitor.api.runtime import Runtime
from monitor.api.schemas import (
    DriftReport,
    DriftResultOut,
    FeatureProfileOut,
    ModelsPage,
    ModelVersionOut,
    ReferenceOut,
    WindowOut,
    WindowsPage,
)
from monitor.drift import FeatureDrift
from monitor.references import Profile, TableFormatError, build_profiles, profile_kind, read_table
from monitor.store.tables import drift_results, models, references, windows

router = APIRouter(prefix="/api/v1/models", tags=["models"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]
_MAX_REFERENCE_BYTES = 512 * 1024 * 1024


def _versions(runtime: Runtime, model: str) -> list[str]:
    with runtime.engine.connect() as connection:
        stored = {v for (v,) in connection.execute(select(models.c.version).where(models.c.model == model))}
        stored |= {v for (v,) in connection.execute(select(references.c.version).where(references.c.model == model))}
    # Versions seen by the ingest path but not yet checkpointed count too.
    stored |= {v for m, v in runtime.kinds.models() if m == model}
    return sorted(stored)


def _resolve_version(runtime: Runtime, model: str, version: str | None) -> str:
    known = _versions(runtime, model)
    if version is None:
        if not known:
            raise HTTPException(404, f"model {model!r} is unknown: no events or reference received for it")
        if len(known) > 1:
            raise HTTPException(400, f"model {model!r} has several versions {known}; pass ?version=")
        return known[0]
    if version not in known:
        raise HTTPException(404, f"model {model!r} has no version {version!r}; known versions: {known}")
    return version


@router.get("", dependencies=[ReadAuth])
def list_models(runtime: RuntimeDep, limit: Limit = 100, offset: Offset = 0) -> ModelsPage:
    """Every model version with its drift status, newest first."""
    with runtime.engine.connect() as connection:
        rows = {
            (m, v): created for m, v, created in connection.execute(select(models.c.model, models.c.version, models.c.created_at))
        }
        for m, v, created in connection.execute(
            select(references.c.model, references.c.version, func.min(references.c.created_at)).group_by(
                references.c.model, references.c.version
            )
        ):
            rows.setdefault((m, v), created)
    for m, v in runtime.kinds.models():  # seen by ingest, not yet checkpointed
        rows.setdefault((m, v), time.time())
    predictions = runtime.pipeline.predictions_total()
    latest = runtime.pipeline.latest_results()
    items = []
    for (model, version), created in sorted(rows.items(), key=lambda item: (-item[1], item[0])):
        results = latest.get((model, version), [])
        drifting = sum(1 for r in results if r.result.drift_detected)
        has_reference = runtime.references.get(model, version) is not None
        status = "no_reference" if not has_reference else "waiting" if not results else "drift" if drifting else "ok"
        items.append(
            ModelVersionOut(
                model=model,
                version=version,
                created_at=created,
                has_reference=has_reference,
                predictions_total=predictions.get((model, version), 0),
                features_drifting=drifting,
                features_tested=len(results),
                status=status,
            )
        )
    return ModelsPage(items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset)


@router.put("/{model}/versions/{version}/reference", dependencies=[AdminAuth])
async def put_reference(model: str, version: str, request: Request, runtime: RuntimeDep) -> ReferenceOut:
    """Upload a reference sample (CSV, Parquet or JSON records) and build its feature profiles."""
    if not model or len(model) > 128 or not version or len(version) > 128:
        raise HTTPException(422, "model and version must be 1-128 characters")
    data = await read_capped(request, _MAX_REFERENCE_BYTES)
    settings = runtime.settings

    def build() -> tuple[int, dict[str, Profile]]:
        table = read_table(data, request.headers.get("content-type"))
        return table.num_rows, build_profiles(
            table,
            n_bins=settings.reference_bins,
            sample_size=settings.reference_sample_size,
            max_categories=settings.reference_max_categories,
        )

    try:
        rows, profiles = await run_in_threadpool(build)
    except TableFormatError as exc:
        raise HTTPException(422, str(exc)) from None
    refusal = runtime.guard.admit_model(model, version, profiles)
    if refusal is not None:
        raise HTTPException(422, refusal.message)
    await run_in_threadpool(_store_reference, runtime, model, version, profiles)
    runtime.references.set(model, version, profiles)
    runtime.kinds.replace(model, version, {name: profile_kind(p) for name, p in profiles.items()})
    return ReferenceOut(
        model=model,
        version=version,
        rows=rows,
        features=[
            FeatureProfileOut(feature=name, kind=profile_kind(p), n=p.n, nulls=p.nulls) for name, p in sorted(profiles.items())
        ],
    )


def _store_reference(runtime: Runtime, model: str, version: str, profiles: dict[str, Profile]) -> None:
    now = time.time()
    with runtime.engine.begin() as connection:
        connection.execute(delete(references).where(references.c.model == model, references.c.version == version))
        connection.execute(
            insert(references),
            [
                {
                    "model": model,
                    "version": version,
                    "feature": name,
                    "kind": profile_kind(p),
                    "profile": json.dumps(p.to_dict()),
                    "n": p.n,
                    "created_at": now,
                }
                for name, p in profiles.items()
            ],
        )


def _report(model: str, version: str, results: list[FeatureDrift]) -> DriftReport:
    ordered = sorted(results, key=lambda r: (not r.result.drift_detected, -r.result.effect_size, r.feature))
    out = [DriftResultOut.model_validate(r.to_dict()) for r in ordered]
    return DriftReport(model=model, version=version, drift_detected=any(r.drift_detected for r in out), results=out)


@router.get("/{model}/drift", dependencies=[ReadAuth])
def get_drift(model: str, runtime: RuntimeDep, version: str | None = None) -> DriftReport:
    """Latest drift result per feature, drifting features first."""
    version = _resolve_version(runtime, model, version)
    newest = (
        select(func.max(drift_results.c.id))
        .where(drift_results.c.model == model, drift_results.c.version == version)
        .group_by(drift_results.c.feature)
    )
    with runtime.engine.connect() as connection:
        rows = connection.execute(select(drift_results).where(drift_results.c.id.in_(newest))).mappings().all()
    results = [DriftResultOut.model_validate(dict(row)) for row in rows]
    results.sort(key=lambda r: (not r.drift_detected, -r.effect_size, r.feature))
    return DriftReport(model=model, version=version, drift_detected=any(r.drift_detected for r in results), results=results)


@router.post("/{model}/evaluate", dependencies=[AdminAuth])
async def evaluate(model: str, runtime: RuntimeDep, version: str | None = None) -> DriftReport:
    """Close the current window now (after everything acknowledged so far) and return its drift results."""
    version = await run_in_threadpool(_resolve_version, runtime, model, version)
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(runtime.pipeline.evaluate(model, version)), timeout=120)
    except TimeoutError:
        raise HTTPException(
            503, "the pipeline did not finish the evaluation within 120 s", headers={"Retry-After": "5"}
        ) from None
    if not outcome.has_reference:
        raise HTTPException(
            409,
            f"model {model!r} version {version!r} has no reference profile; upload one with "
            f"PUT /api/v1/models/{model}/versions/{version}/reference",
        )
    if not outcome.closed:
        return get_drift(model, runtime, version)
    return _report(model, version, outcome.results)


@router.get("/{model}/windows", dependencies=[ReadAuth])
def get_windows(
    model: str, runtime: RuntimeDep, version: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> WindowsPage:
    """Open windows and closed windows (newest first) with their event counts."""
    version = _resolve_version(runtime, model, version)
    where = (windows.c.model == model, windows.c.version == version)
    with runtime.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(windows).where(*where)).scalar_one())
        rows = (
            connection.execute(
                select(windows.c.window_start, windows.c.window_end, windows.c.n, windows.c.closed_at)
                .where(*where)
                .order_by(windows.c.window_start.desc(), windows.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
    return WindowsPage(
        model=model,
        version=version,
        open=[WindowOut(open=True, **w) for w in runtime.pipeline.open_windows(model, version)],
        closed=[WindowOut(open=False, **row) for row in rows],
        total_closed=total,
        limit=limit,
        offset=offset,
    )
