"""Which GPUs serve which model, and what that costs: the GPU ↔ model join.

GPUs are linked to models by configuration (``gpu_models``): each rule names a model
(and optionally a version) and regular expressions that must *fully* match the GPU
sample's fields — ``service`` (the OTLP resource's ``service.name``), ``pod``,
``namespace``, ``container``, ``host``, ``uuid``, ``gpu``, ``model_name``. All fields a
rule gives must match; a field the sample lacks never matches; the first matching rule
wins. A rule without a version links the GPU to the model as a whole (version ``*``).

For every linked GPU the pipeline writes these series (labels ``model``, ``version``,
``host``, ``gpu``, ``uuid``), from which the efficiency figures over any time range are sums
(see ``docs/gpu.md`` for the formulas):

==========================================  ==================================================
``driftline.model.gpu.seconds``             per utilisation sample, the seconds since the
                                            GPU's previous one (``dt``; gaps longer than
                                            ``gpu_max_sample_gap_seconds`` are not counted)
``driftline.model.gpu.idle_seconds``        ``dt`` when that sample's utilisation is below
                                            ``gpu_idle_utilization``, else 0
``driftline.model.gpu.utilization``         the utilisation ratio itself
``driftline.model.gpu.memory.headroom``     bytes free: the reported free memory, or else the
                                            latest memory limit minus the used memory
==========================================  ==================================================

A utilisation sample describes the interval that *ends* at it (NVML and DCGM report the
busy share of their last sample period), so ``dt`` is charged at the sample's own value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collectors.gpu import GpuMetric, GpuSample
from monitor.series import SeriesRollup

__all__ = [
    "ALL_VERSIONS",
    "GPU_IDLE_SECONDS",
    "GPU_MEMORY_HEADROOM",
    "GPU_SECONDS",
    "GPU_UTILIZATION",
    "GpuKey",
    "GpuLinker",
    "GpuLinks",
    "GpuMatch",
    "GpuModelRule",
]

ALL_VERSIONS = "*"
GPU_SECONDS = "driftline.model.gpu.seconds"
GPU_IDLE_SECONDS = "driftline.model.gpu.idle_seconds"
GPU_UTILIZATION = "driftline.model.gpu.utilization"
GPU_MEMORY_HEADROOM = "driftline.model.gpu.memory.headroom"

#: (host, gpu, uuid): one GPU or MIG slice.
GpuKey = tuple[str, str, str]
_MEMORY = (GpuMetric.MEMORY_FREE_BYTES, GpuMetric.MEMORY_LIMIT_BYTES, GpuMetric.MEMORY_USED_BYTES)
_USED = (GpuMetric.UTILIZATION_RATIO, *_MEMORY)


class GpuMatch(BaseModel):
    """Regular expressions (full match) on a GPU sample's fields; at least one is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = None
    pod: str | None = None
    namespace: str | None = None
    container: str | None = None
    host: str | None = None
    uuid: str | None = None
    gpu: str | None = None
    model_name: str | None = None

    @field_validator("*")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> GpuMatch:
        if not self.patterns():
            raise ValueError(f"match needs at least one of {sorted(type(self).model_fields)}")
        return self

    def patterns(self) -> dict[str, str]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class GpuModelRule(BaseModel):
    """One ``gpu_models`` entry: GPUs whose samples match ``match`` serve ``model`` (``version``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=128)
    version: str | None = Field(None, min_length=1, max_length=128)
    match: GpuMatch


class GpuLinker:
    """The configured rules with the efficiency thresholds; decides links and writes the series.

    Examples
    --------
    >>> rule = GpuModelRule(model="credit-risk", version="v2", match={"pod": "credit-risk-v2-.*"})
    >>> linker = GpuLinker([rule], idle_utilization=0.1, max_gap=60.0)
    >>> def util(t, v): return GpuSample(t, "n1", "0", "GPU-a", "H100", GpuMetric.UTILIZATION_RATIO, v, pod="credit-risk-v2-7f9c")
    >>> links, rollup = GpuLinks(), SeriesRollup(resolution=60, lateness=0)
    >>> linker.observe(links, rollup, [util(0.0, 0.9), util(10.0, 0.05), util(20.0, 0.8)])
    >>> links.totals
    {('credit-risk', 'v2'): [20.0, 10.0]}
    """

    def __init__(self, rules: Iterable[GpuModelRule], *, idle_utilization: float, max_gap: float) -> None:
        self.rules = list(rules)
        self.idle_utilization = idle_utilization
        self.max_gap = max_gap
        self._compiled = [
            (rule, [(name, re.compile(pattern)) for name, pattern in rule.match.patterns().items()]) for rule in self.rules
        ]
        self._cache: dict[tuple[str | None, ...], tuple[str, str] | None] = {}

    def link(self, sample: GpuSample) -> tuple[str, str] | None:
        """``(model, version)`` of the first rule matching the sample, or ``None``."""
        fields = {
            "service": sample.service,
            "pod": sample.pod,
            "namespace": sample.namespace,
            "container": sample.container,
            "host": sample.host or None,
            "uuid": sample.uuid or None,
            "gpu": sample.gpu,
            "model_name": sample.model_name or None,
        }
        identity = tuple(fields.values())
        if identity in self._cache:
            return self._cache[identity]
        found: tuple[str, str] | None = None
        for rule, patterns in self._compiled:
            if all((value := fields[name]) is not None and pattern.fullmatch(value) for name, pattern in patterns):
                found = (rule.model, rule.version or ALL_VERSIONS)
                break
        if len(self._cache) < 100_000:
            self._cache[identity] = found
        return found

    def observe(self, links: GpuLinks, rollup: SeriesRollup, samples: Iterable[GpuSample]) -> None:
        """Account the linked GPUs' utilisation and memory samples; write their series points."""
        if not self._compiled:
            return
        linked = [(s, key) for s in samples if s.metric in _USED and (key := self.link(s)) is not None]
        # In time order; at one instant, memory totals before the usage they complete.
        linked.sort(key=lambda item: (item[0].timestamp, item[0].metric is GpuMetric.MEMORY_USED_BYTES))
        names: list[str] = []
        labels: list[str] = []
        stamps: list[float] = []
        values: list[float] = []

        def point(name: str, label: str, t: float, value: float) -> None:
            names.append(name)
            labels.append(label)
            stamps.append(t)
            values.append(value)

        for sample, model_key in linked:
            gpu: GpuKey = (sample.host, sample.gpu, sample.uuid)
            label = json.dumps(
                {"model": model_key[0], "version": model_key[1], "host": gpu[0], "gpu": gpu[1], "uuid": gpu[2]},
                sort_keys=True,
                separators=(",", ":"),
            )
            t = sample.timestamp
            seen = links.linked.setdefault(model_key, {})
            seen[gpu] = max(seen.get(gpu, -math.inf), t)
            if sample.metric is GpuMetric.UTILIZATION_RATIO:
                previous = links.last_utilization.get(gpu)
                if previous is not None and t <= previous:
                    continue  # a duplicate or out-of-order sample: its interval is already counted
                links.last_utilization[gpu] = t
                point(GPU_UTILIZATION, label, t, sample.value)
                if previous is not None and t - previous <= self.max_gap:
                    dt = t - previous
                    idle = dt if sample.value < self.idle_utilization else 0.0
                    point(GPU_SECONDS, label, t, dt)
                    point(GPU_IDLE_SECONDS, label, t, idle)
                    totals = links.totals.setdefault(model_key, [0.0, 0.0])
                    totals[0] += dt
                    totals[1] += idle
                continue
            if sample.metric is GpuMetric.MEMORY_LIMIT_BYTES:
                links.memory_limit[gpu] = sample.value
                continue
            if sample.metric is GpuMetric.MEMORY_FREE_BYTES:
                links.reports_free.add(gpu)
                headroom = sample.value
            elif gpu not in links.reports_free and gpu in links.memory_limit:
                headroom = links.memory_limit[gpu] - sample.value
            else:
                continue
            point(GPU_MEMORY_HEADROOM, label, t, headroom)
            latest = links.headroom.setdefault(model_key, {})
            if gpu not in latest or t >= latest[gpu][0]:
                latest[gpu] = (t, headroom)
        if names:
            rollup.add_many(names, labels, stamps, values)


@dataclass(slots=True)
class GpuLinks:
    """Running state of the join, checkpointed with the pipeline's state."""

    #: (model, version) → GPU → newest timestamp of a linked sample
    linked: dict[tuple[str, str], dict[GpuKey, float]] = field(default_factory=dict)
    #: (model, version) → [GPU-seconds, idle GPU-seconds] since the state began
    totals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: (model, version) → GPU → (timestamp, latest memory headroom in bytes)
    headroom: dict[tuple[str, str], dict[GpuKey, tuple[float, float]]] = field(default_factory=dict)
    last_utilization: dict[GpuKey, float] = field(default_factory=dict)
    memory_limit: dict[GpuKey, float] = field(default_factory=dict)
    reports_free: set[GpuKey] = field(default_factory=set)

    def copy(self) -> GpuLinks:
        return GpuLinks.from_state(self.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {
            "linked": [[*key, *gpu, t] for key, per in self.linked.items() for gpu, t in per.items()],
            "totals": [[*key, *values] for key, values in self.totals.items()],
            "headroom": [[*key, *gpu, t, v] for key, per in self.headroom.items() for gpu, (t, v) in per.items()],
            "last_utilization": [[*gpu, t] for gpu, t in self.last_utilization.items()],
            "memory_limit": [[*gpu, v] for gpu, v in self.memory_limit.items()],
            "reports_free": [list(gpu) for gpu in self.reports_free],
        }

    @staticmethod
    def from_state(state: dict[str, Any] | None) -> GpuLinks:
        links = GpuLinks()
        if not state:
            return links
        for model, version, host, gpu, uuid, t in state["linked"]:
            links.linked.setdefault((model, version), {})[(host, gpu, uuid)] = float(t)
        for model, version, seconds, idle in state["totals"]:
            links.totals[(model, version)] = [float(seconds), float(idle)]
        for model, version, host, gpu, uuid, t, v in state["headroom"]:
            links.headroom.setdefault((model, version), {})[(host, gpu, uuid)] = (float(t), float(v))
        links.last_utilization = {(h, g, u): float(t) for h, g, u, t in state["last_utilization"]}
        links.memory_limit = {(h, g, u): float(v) for h, g, u, v in state["memory_limit"]}
        links.reports_free = {(h, g, u) for h, g, u in state["reports_free"]}
        return links
