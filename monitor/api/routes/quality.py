"""Model quality on joined labels (see monitor.labels)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from monitor.api.deps import ReadAuth, RuntimeDep
from monitor.labels import QualityWindow
from monitor.store.tables import quality_windows

router = APIRouter(prefix="/api/v1/models", tags=["quality"])


class QualityWindowOut(BaseModel):
    window_start: float = Field(description="Start of the window, in join-clock seconds (when its labels joined).")
    window_end: float
    n: int = Field(description="Joined prediction-label pairs scored in the window.")
    metrics: dict[str, float] = Field(
        description="accuracy, precision, recall, f1, roc_auc, calibration_error; or mae, rmse, mape."
    )
    drift_detected: bool = Field(description="The error-stream detector alarmed inside this window.")


class QualityReport(BaseModel):
    model: str
    version: str
    task: str = Field(description="'classification' or 'regression'.")
    drift_detected: bool = Field(description="An alarm in the latest closed window or in the open one.")
    alarms: int = Field(description="Alarms of the error-stream detector (DDM or ADWIN) so far.")
    last_alarm_at: float | None
    open_n: int = Field(description="Pairs scored in the window still open.")
    latest: QualityWindowOut | None = Field(description="The latest closed window.")
    history: list[QualityWindowOut] = Field(description="Stored closed windows, newest first.")
    total: int
    limit: int
    offset: int


def _window_out(window: QualityWindow) -> QualityWindowOut:
    return QualityWindowOut(
        window_start=window.window_start,
        window_end=window.window_end,
        n=window.n,
        metrics=window.metrics,
        drift_detected=window.drift_detected,
    )


@router.get("/{model}/quality", dependencies=[ReadAuth])
def get_quality(
    model: str,
    runtime: RuntimeDep,
    version: Annotated[str | None, Query(description="Model version; optional when the model has one.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="History windows per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="History windows to skip.")] = 0,
) -> QualityReport:
    """Latest quality of a model version on its joined labels, with the history of closed windows."""
    statuses = {s.version: s for s in runtime.pipeline.quality() if s.model == model}
    if version is None:
        if len(statuses) != 1:
            known = sorted(statuses)
            if not known:
                raise HTTPException(404, f"model {model!r} has no joined labels yet")
            raise HTTPException(400, f"model {model!r} has quality for several versions {known}; pass ?version=")
        version = next(iter(statuses))
    status = statuses.get(version)
    if status is None:
        raise HTTPException(404, f"model {model!r} version {version!r} has no joined labels yet; known: {sorted(statuses)}")
    where = (quality_windows.c.model == model, quality_windows.c.version == version)
    with runtime.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(quality_windows).where(*where)).scalar_one())
        rows = connection.execute(
            select(quality_windows)
            .where(*where)
            .order_by(quality_windows.c.window_end.desc(), quality_windows.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).mappings()
        history = [
            QualityWindowOut(
                window_start=row["window_start"],
                window_end=row["window_end"],
                n=row["n"],
                metrics=json.loads(row["metrics"]),
                drift_detected=row["drift_detected"],
            )
            for row in rows
        ]
    return QualityReport(
        model=model,
        version=version,
        task=status.task,
        drift_detected=status.drift_detected,
        alarms=status.alarms,
        last_alarm_at=status.last_alarm_at,
        open_n=status.open_n,
        latest=None if status.latest is None else _window_out(status.latest),
        history=history,
        total=total,
        limit=limit,
        offset=offset,
    )
