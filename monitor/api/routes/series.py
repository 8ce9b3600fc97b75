"""Stored time series: metric points rolled up per series (see monitor.series)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from monitor.api.deps import ReadAuth, RuntimeDep
from monitor.api.runtime import Runtime
from monitor.api.schemas import SeriesOut, SeriesPage, SeriesPointOut
from monitor.series import Bucket, merge_buckets
from monitor.store.tables import series_points

router = APIRouter(prefix="/api/v1/series", tags=["series"])

LabelFilters = Annotated[
    list[str], Query(description="Label filter `key:value` (split at the first ':'), repeatable; all must match.")
]
_DEFAULT_RANGE_SECONDS = 3600.0
_MAX_POINTS = 100_000  # per response, summed over its series


def _parse_labels(raw: list[str]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise HTTPException(422, f"label {item!r} must be written key:value (split at the first ':')")
        if key in wanted and wanted[key] != value:
            raise HTTPException(422, f"label {key!r} is given twice with different values {wanted[key]!r} and {value!r}")
        wanted[key] = value
    return wanted


def _label_text(value: Any) -> str:
    """How a label value compares with a filter: strings as they are, others as JSON (true, 3, 0.5)."""
    return value if isinstance(value, str) else json.dumps(value)


def _matches(labels: dict[str, Any], wanted: dict[str, str]) -> bool:
    return all(key in labels and _label_text(labels[key]) == value for key, value in wanted.items())


def read_buckets(runtime: Runtime, name: str, start: float, end: float) -> tuple[list[Bucket], list[Bucket]]:
    """Stored and in-memory buckets overlapping [start, end), each counted exactly once."""
    resolution = runtime.settings.series_resolution_seconds
    query = select(series_points).where(
        series_points.c.name == name,
        series_points.c.resolution == resolution,
        series_points.c.bucket_start < end,
        series_points.c.bucket_start > start - resolution,
    )
    for _ in range(200):
        generation, memory = runtime.pipeline.series_buckets(name)
        if generation % 2:  # a checkpoint is moving buckets into the table right now
            time.sleep(0.005)
            continue
        with runtime.engine.connect() as connection:
            stored = [Bucket(**_bucket_args(row)) for row in connection.execute(query).mappings()]
        if runtime.pipeline.series_generation == generation:
            live = [b for b in memory if b.resolution == resolution and start - resolution < b.start < end]
            return stored, live
    raise HTTPException(503, "series are being checkpointed continuously; retry", headers={"Retry-After": "1"})


def _bucket_args(row: Any) -> dict[str, Any]:
    return {
        "name": row["name"],
        "labels": row["labels"],
        "resolution": row["resolution"],
        "start": row["bucket_start"],
        "count": row["count"],
        "sum": row["sum"],
        "min": row["min"],
        "max": row["max"],
        "last": row["last"],
        "last_t": row["last_t"],
    }


@router.get("", dependencies=[ReadAuth])
def get_series(
    runtime: RuntimeDep,
    name: Annotated[str, Query(min_length=1, max_length=255, description="Metric name, e.g. hw.gpu.utilization.")],
    label: LabelFilters = [],  # noqa: B006 - FastAPI copies query defaults
    start: Annotated[float | None, Query(description="Range start, unix seconds (default: end - 1 h).")] = None,
    end: Annotated[float | None, Query(description="Range end, unix seconds (default: now).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Series per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Series to skip.")] = 0,
) -> SeriesPage:
    """Rollups of each series `name` matching every `label=key:value`, buckets overlapping [start, end), open ones too."""
    wanted = _parse_labels(label)
    end = time.time() if end is None else end
    start = end - _DEFAULT_RANGE_SECONDS if start is None else start
    if start >= end:
        raise HTTPException(422, f"start {start} must be before end {end}")
    stored, live = read_buckets(runtime, name, start, end)
    merged: dict[str, dict[float, Bucket]] = {}
    for bucket in stored + live:
        per = merged.setdefault(bucket.labels, {})
        per[bucket.start] = merge_buckets(per[bucket.start], bucket) if bucket.start in per else bucket
    matching = []
    for labels_json in sorted(merged):
        labels = json.loads(labels_json)
        if _matches(labels, wanted):
            matching.append((labels, merged[labels_json]))
    page = matching[offset : offset + limit]
    if sum(len(buckets) for _, buckets in page) > _MAX_POINTS:
        raise HTTPException(
            422, f"limit {limit}: the page would hold more than {_MAX_POINTS} points; lower limit or narrow start/end"
        )
    series = [
        SeriesOut(
            labels=labels,
            points=[
                SeriesPointOut(t=b.start, count=b.count, sum=b.sum, min=b.min, max=b.max, last=b.last, mean=b.sum / b.count)
                for b in sorted(buckets.values(), key=lambda b: b.start)
            ],
        )
        for labels, buckets in page
    ]
    return SeriesPage(
        name=name,
        start=start,
        end=end,
        resolution=runtime.settings.series_resolution_seconds,
        series=series,
        total=len(matching),
        limit=limit,
        offset=offset,
    )
