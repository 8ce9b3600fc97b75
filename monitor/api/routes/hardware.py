"""A model's hardware: the GPUs linked to it (``gpu_models``) and its GPU efficiency over a range."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from monitor.api.deps import ReadAuth, RuntimeDep
from monitor.api.routes.series import read_buckets
from monitor.api.runtime import Runtime
from monitor.gpu_efficiency import Efficiency, efficiency
from monitor.gpu_models import ALL_VERSIONS, GPU_IDLE_SECONDS, GPU_MEMORY_HEADROOM, GPU_SECONDS, GpuKey
from monitor.model_series import PREDICTIONS
from monitor.series import Bucket

router = APIRouter(prefix="/api/v1/models", tags=["hardware"])

_DEFAULT_RANGE_SECONDS = 3600.0


class EfficiencyOut(BaseModel):
    gpu_seconds: float = Field(description="GPU-seconds of the linked GPUs in the range.")
    idle_seconds: float = Field(description="Of those, seconds with utilisation below idle_utilization.")
    idle_ratio: float | None = Field(description="idle_seconds / gpu_seconds.")
    memory_headroom_min_bytes: float | None = Field(description="Smallest memory limit - used seen.")
    memory_headroom_mean_bytes: float | None = Field(description="Mean memory limit - used over all samples.")


class LinkedGpuOut(EfficiencyOut):
    host: str
    gpu: str
    uuid: str
    version: str = Field(description="The linked model version; '*' for a rule without a version.")
    model_name: str = Field(description="GPU product name, when a fresh reading says it.")
    last_seen: float | None = Field(description="Timestamp of the newest sample that linked this GPU.")
    readings: dict[str, float] = Field(description="Latest fresh value per GPU metric (see driftline_gpu_*).")


class ModelHardwareOut(EfficiencyOut):
    model: str
    version: str | None = Field(description="The version asked for; null for all of the model's links.")
    start: float
    end: float
    resolution: int = Field(description="Bucket width in seconds; buckets overlapping [start, end) count whole.")
    idle_utilization: float = Field(description="The idle threshold (setting gpu_idle_utilization).")
    predictions: int = Field(description="Predictions of the model (version) in the range.")
    gpu_seconds_per_1k_predictions: float | None
    gpus: list[LinkedGpuOut]
    total: int = Field(description="Linked GPUs before pagination.")
    limit: int
    offset: int


def _efficiency_fields(value: Efficiency) -> dict[str, float | None]:
    return {
        "gpu_seconds": value.gpu_seconds,
        "idle_seconds": value.idle_seconds,
        "idle_ratio": value.idle_ratio,
        "memory_headroom_min_bytes": value.memory_headroom_min_bytes,
        "memory_headroom_mean_bytes": value.memory_headroom_mean_bytes,
    }


def _buckets(runtime: Runtime, name: str, start: float, end: float) -> list[tuple[dict[str, str], Bucket]]:
    stored, live = read_buckets(runtime, name, start, end)
    return [(json.loads(b.labels), b) for b in stored + live]


def _check_known(runtime: Runtime, model: str, version: str | None, versions: set[str]) -> None:
    versions |= {v for m, v in runtime.pipeline.predictions_total() if m == model}
    versions |= {rule.version or ALL_VERSIONS for rule in runtime.settings.gpu_models if rule.model == model}
    if not versions:
        raise HTTPException(404, f"model {model!r} is unknown: no events, GPU links or gpu_models rules for it")
    if version is not None and version not in versions:
        raise HTTPException(404, f"model {model!r} has no version {version!r}; known versions: {sorted(versions)}")


def _join_buckets(
    runtime: Runtime, wanted: Callable[[dict[str, str]], bool], start: float, end: float
) -> dict[tuple[str, GpuKey], dict[str, list[Bucket]]]:
    """(version, GPU) → join series name → its wanted buckets overlapping [start, end)."""
    per_gpu: dict[tuple[str, GpuKey], dict[str, list[Bucket]]] = defaultdict(lambda: defaultdict(list))
    for name in (GPU_SECONDS, GPU_IDLE_SECONDS, GPU_MEMORY_HEADROOM):
        for labels, bucket in _buckets(runtime, name, start, end):
            if wanted(labels):
                per_gpu[(labels["version"], (labels["host"], labels["gpu"], labels["uuid"]))][name].append(bucket)
    return per_gpu


def _latest_readings(runtime: Runtime) -> tuple[dict[GpuKey, dict[str, float]], dict[GpuKey, str]]:
    """Fresh latest value per GPU and metric, and each GPU's product name."""
    readings: dict[GpuKey, dict[str, float]] = defaultdict(dict)
    model_names: dict[GpuKey, str] = {}
    for reading in runtime.pipeline.gpu_readings(now=time.time(), stale_after=runtime.settings.gpu_stale_seconds):
        readings[(reading.host, reading.gpu, reading.uuid)][reading.metric.value] = reading.value
        model_names[(reading.host, reading.gpu, reading.uuid)] = reading.model_name
    return readings, model_names


@router.get("/{model}/hardware", dependencies=[ReadAuth])
def get_hardware(
    model: str,
    runtime: RuntimeDep,
    version: Annotated[str | None, Query(description="One version's links ('*' for version-less rules); default all.")] = None,
    start: Annotated[float | None, Query(description="Range start, unix seconds (default: end - 1 h).")] = None,
    end: Annotated[float | None, Query(description="Range end, unix seconds (default: now).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="GPUs per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="GPUs to skip.")] = 0,
) -> ModelHardwareOut:
    """GPUs linked to the model with their latest readings, and GPU-seconds per 1,000 predictions, idle time, headroom."""
    end = time.time() if end is None else end
    start = end - _DEFAULT_RANGE_SECONDS if start is None else start
    if start >= end:
        raise HTTPException(422, f"start {start} must be before end {end}")
    links = runtime.pipeline.gpu_links()
    _check_known(runtime, model, version, {v for m, v in links.linked if m == model})

    def wanted(labels: dict[str, str]) -> bool:
        return labels.get("model") == model and (version is None or labels.get("version") == version)

    per_gpu = _join_buckets(runtime, wanted, start, end)
    for (m, v), linked in links.linked.items():
        if m == model and (version is None or v == version):
            for gpu in linked:
                per_gpu.setdefault((v, gpu), defaultdict(list))  # listed even without buckets in the range
    every_version = version == ALL_VERSIONS  # a version-less rule serves the predictions of all versions
    predictions = sum(
        b.count
        for labels, b in _buckets(runtime, PREDICTIONS, start, end)
        if wanted(labels) or (every_version and labels.get("model") == model)
    )
    readings, model_names = _latest_readings(runtime)
    gpus = []
    for (v, gpu), series in sorted(per_gpu.items()):
        figures = efficiency(series[GPU_SECONDS], series[GPU_IDLE_SECONDS], series[GPU_MEMORY_HEADROOM])
        gpus.append(
            LinkedGpuOut(
                host=gpu[0],
                gpu=gpu[1],
                uuid=gpu[2],
                version=v,
                model_name=model_names.get(gpu, ""),
                last_seen=links.linked.get((model, v), {}).get(gpu),
                readings=readings.get(gpu, {}),
                **_efficiency_fields(figures),
            )
        )
    overall = efficiency(
        *([b for s in per_gpu.values() for b in s[name]] for name in (GPU_SECONDS, GPU_IDLE_SECONDS, GPU_MEMORY_HEADROOM))
    )
    return ModelHardwareOut(
        model=model,
        version=version,
        start=start,
        end=end,
        resolution=runtime.settings.series_resolution_seconds,
        idle_utilization=runtime.settings.gpu_idle_utilization,
        predictions=predictions,
        gpu_seconds_per_1k_predictions=overall.per_1k_predictions(predictions),
        gpus=gpus[offset : offset + limit],
        total=len(gpus),
        limit=limit,
        offset=offset,
        **_efficiency_fields(overall),
    )
