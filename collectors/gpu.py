"""Normalise GPU telemetry from OTLP ``hw.*`` metrics and DCGM exporter text into one schema.

Every source ends as :class:`GpuSample` rows: who (host, GPU index, UUID, model, MIG
instance, Kubernetes pod/namespace/container), what (a :class:`GpuMetric`) and the value
in base units (ratio 0..1, bytes, watts, joules, degrees Celsius, counts). Whatever could
not be turned into a sample is counted by reason in ``problems``, never dropped silently.

Sources and what was followed
-----------------------------
**OTLP**: the OpenTelemetry hardware semantic conventions (status: development),
``docs/hardware/gpu.md``, ``common.md`` and ``temperature.md`` of
open-telemetry/semantic-conventions. ``hw.gpu.utilization`` (``1``, optional
``hw.gpu.task`` = general | encoder | decoder), ``hw.gpu.memory.utilization`` (``1``),
``hw.gpu.memory.usage`` / ``hw.gpu.memory.limit`` (``By``), ``hw.power`` (``W``),
``hw.energy`` (``J``, counter), ``hw.errors`` (``{error}``, counter, ``error.type``
corrected | uncorrected) and ``hw.temperature`` (``Cel``). Identity: ``hw.id`` (required),
``hw.name``, ``hw.model``; host from the resource's ``host.name``; Kubernetes from
``k8s.pod.name``, ``k8s.namespace.name``, ``k8s.container.name``; the sending service from
the resource's ``service.name`` (what GPU-to-model rules may match on). Choices where the
conventions are silent or awkward:

- The ``hw.gpu.*`` names say "GPU" themselves, so ``hw.type`` may be absent there (but if
  present it must be ``gpu``); the shared ``hw.power``, ``hw.energy`` and ``hw.errors`` need
  ``hw.type=gpu``; other ``hw.*`` points are skipped and counted as ``not_gpu``.
- ``hw.temperature`` describes a *sensor* (no ``hw.type=gpu`` on it); it is taken as GPU
  temperature when it carries ``hw.type=gpu`` or when its ``hw.parent`` is the ``hw.id`` of a
  GPU seen elsewhere in the same batch on the same host (the sample then takes that GPU's
  identity).
- ``uuid`` is ``hw.id`` (an NVML-based sender should put the GPU UUID there, which joins
  with DCGM's ``UUID``); ``gpu`` is ``hw.name`` (the index, e.g. ``"0"``) or else ``hw.id``.
- :class:`~collectors.records.MetricBatch` carries no units, so the convention's unit is
  assumed; a "ratio" above 1 (someone sending percent) is rejected as ``out_of_range``.
- Metrics outside ``hw.*`` (KPIs, application metrics) are not GPU telemetry and are
  ignored without being counted.

**DCGM exporter** (NVIDIA dcgm-exporter, Prometheus text, parsed with
``prometheus_client.parser``): see ``_DCGM`` below for each field, its unit and scale.
Labels ``gpu``, ``UUID``, ``modelName``, ``Hostname`` (or ``hostname``), MIG ``GPU_I_ID`` /
``GPU_I_PROFILE``, Kubernetes ``pod``, ``namespace``, ``container``. Note that
``DCGM_FI_DEV_XID_ERRORS`` is a gauge holding the *code of the last* Xid error, not a count,
so it becomes ``xid_last_code`` rather than ``errors_total``; ECC totals become
``corrected_errors_total`` / ``uncorrected_errors_total``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple, cast

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from collectors.records import MetricBatch

__all__ = ["EXTENSION_PREFIX", "OTLP_NAMES", "GpuDecodeResult", "GpuMetric", "GpuSample", "from_otlp_metrics", "parse_dcgm"]

_MIB = 1024 * 1024
#: GPU metrics the OpenTelemetry conventions have no name for (free memory, last Xid code,
#: DCGM profiling ratios) travel as ``driftline.gpu.<GpuMetric value>`` points, ``hw.*``
#: identity attributes and all; :func:`from_otlp_metrics` reads them back.
EXTENSION_PREFIX = "driftline.gpu."


class GpuMetric(StrEnum):
    """The canonical GPU metrics; every value is in the base unit its name ends with."""

    UTILIZATION_RATIO = "utilization_ratio"
    ENCODER_UTILIZATION_RATIO = "encoder_utilization_ratio"
    DECODER_UTILIZATION_RATIO = "decoder_utilization_ratio"
    MEMORY_UTILIZATION_RATIO = "memory_utilization_ratio"
    MEMORY_USED_BYTES = "memory_used_bytes"
    MEMORY_FREE_BYTES = "memory_free_bytes"
    MEMORY_LIMIT_BYTES = "memory_limit_bytes"
    POWER_WATTS = "power_watts"
    ENERGY_JOULES = "energy_joules"
    TEMPERATURE_CELSIUS = "temperature_celsius"
    ERRORS_TOTAL = "errors_total"
    CORRECTED_ERRORS_TOTAL = "corrected_errors_total"
    UNCORRECTED_ERRORS_TOTAL = "uncorrected_errors_total"
    XID_LAST_CODE = "xid_last_code"
    GR_ENGINE_ACTIVE_RATIO = "gr_engine_active_ratio"
    SM_ACTIVE_RATIO = "sm_active_ratio"
    SM_OCCUPANCY_RATIO = "sm_occupancy_ratio"
    TENSOR_ACTIVE_RATIO = "tensor_active_ratio"
    DRAM_ACTIVE_RATIO = "dram_active_ratio"
    FP64_ACTIVE_RATIO = "fp64_active_ratio"
    FP32_ACTIVE_RATIO = "fp32_active_ratio"
    FP16_ACTIVE_RATIO = "fp16_active_ratio"


class GpuSample(NamedTuple):
    """One GPU measurement in the normalised schema.

    ``host``, ``uuid`` and ``model_name`` are ``""`` when the source did not say; MIG and
    Kubernetes fields, and ``service`` (the OTLP resource's ``service.name``), are ``None``
    when absent. ``gpu`` is the index as a string (for a MIG slice, the index of its parent
    GPU). A named tuple rather than a frozen dataclass: batches make thousands of them, and a
    tuple is built about four times faster.
    """

    timestamp: float
    host: str
    gpu: str
    uuid: str
    model_name: str
    metric: GpuMetric
    value: float
    mig_instance: str | None = None
    mig_profile: str | None = None
    pod: str | None = None
    namespace: str | None = None
    container: str | None = None
    service: str | None = None


class GpuDecodeResult(NamedTuple):
    """What a decoder returns: the samples, and skipped points counted by reason."""

    samples: list[GpuSample]
    problems: Counter[str]


# DCGM field → (canonical metric, factor to the base unit).
_DCGM: dict[str, tuple[GpuMetric, float]] = {
    "DCGM_FI_DEV_GPU_UTIL": (GpuMetric.UTILIZATION_RATIO, 0.01),  # %
    "DCGM_FI_DEV_ENC_UTIL": (GpuMetric.ENCODER_UTILIZATION_RATIO, 0.01),  # %
    "DCGM_FI_DEV_DEC_UTIL": (GpuMetric.DECODER_UTILIZATION_RATIO, 0.01),  # %
    "DCGM_FI_DEV_MEM_COPY_UTIL": (GpuMetric.MEMORY_UTILIZATION_RATIO, 0.01),  # %
    "DCGM_FI_DEV_FB_USED": (GpuMetric.MEMORY_USED_BYTES, _MIB),  # MiB
    "DCGM_FI_DEV_FB_FREE": (GpuMetric.MEMORY_FREE_BYTES, _MIB),  # MiB
    "DCGM_FI_DEV_FB_TOTAL": (GpuMetric.MEMORY_LIMIT_BYTES, _MIB),  # MiB
    "DCGM_FI_DEV_POWER_USAGE": (GpuMetric.POWER_WATTS, 1.0),  # W
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": (GpuMetric.ENERGY_JOULES, 1e-3),  # mJ since boot
    "DCGM_FI_DEV_GPU_TEMP": (GpuMetric.TEMPERATURE_CELSIUS, 1.0),  # °C
    "DCGM_FI_DEV_XID_ERRORS": (GpuMetric.XID_LAST_CODE, 1.0),  # last Xid code (gauge)
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": (GpuMetric.CORRECTED_ERRORS_TOTAL, 1.0),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": (GpuMetric.UNCORRECTED_ERRORS_TOTAL, 1.0),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": (GpuMetric.GR_ENGINE_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_SM_ACTIVE": (GpuMetric.SM_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_SM_OCCUPANCY": (GpuMetric.SM_OCCUPANCY_RATIO, 1.0),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": (GpuMetric.TENSOR_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_DRAM_ACTIVE": (GpuMetric.DRAM_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_PIPE_FP64_ACTIVE": (GpuMetric.FP64_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_PIPE_FP32_ACTIVE": (GpuMetric.FP32_ACTIVE_RATIO, 1.0),
    "DCGM_FI_PROF_PIPE_FP16_ACTIVE": (GpuMetric.FP16_ACTIVE_RATIO, 1.0),
}

_GPU_TYPE = {"hw.type": "gpu"}
#: The one mapping between canonical metrics and the OpenTelemetry ``hw.*`` conventions:
#: metric → (OTLP metric name, the attributes that select it among points of that name).
#: Writers (:mod:`monitor.scrape`, :mod:`monitor.agent`) send these; :func:`from_otlp_metrics`
#: reads them back. Metrics missing here travel under :data:`EXTENSION_PREFIX`.
OTLP_NAMES: dict[GpuMetric, tuple[str, dict[str, str]]] = {
    GpuMetric.UTILIZATION_RATIO: ("hw.gpu.utilization", {"hw.gpu.task": "general"}),
    GpuMetric.ENCODER_UTILIZATION_RATIO: ("hw.gpu.utilization", {"hw.gpu.task": "encoder"}),
    GpuMetric.DECODER_UTILIZATION_RATIO: ("hw.gpu.utilization", {"hw.gpu.task": "decoder"}),
    GpuMetric.MEMORY_UTILIZATION_RATIO: ("hw.gpu.memory.utilization", {}),
    GpuMetric.MEMORY_USED_BYTES: ("hw.gpu.memory.usage", {}),
    GpuMetric.MEMORY_LIMIT_BYTES: ("hw.gpu.memory.limit", {}),
    GpuMetric.POWER_WATTS: ("hw.power", _GPU_TYPE),
    GpuMetric.ENERGY_JOULES: ("hw.energy", _GPU_TYPE),
    GpuMetric.TEMPERATURE_CELSIUS: ("hw.temperature", _GPU_TYPE),
    GpuMetric.ERRORS_TOTAL: ("hw.errors", _GPU_TYPE),
    GpuMetric.CORRECTED_ERRORS_TOTAL: ("hw.errors", {**_GPU_TYPE, "error.type": "corrected"}),
    GpuMetric.UNCORRECTED_ERRORS_TOTAL: ("hw.errors", {**_GPU_TYPE, "error.type": "uncorrected"}),
}


def _reader_table() -> dict[str, tuple[tuple[str, ...], dict[tuple[str | None, ...], GpuMetric]]]:
    """:data:`OTLP_NAMES` turned around: name → (its selecting attribute keys, selector values → metric)."""
    table: dict[str, tuple[tuple[str, ...], dict[tuple[str | None, ...], GpuMetric]]] = {}
    for metric, (name, attrs) in OTLP_NAMES.items():
        if name not in table:
            keys = {key for other, selector in OTLP_NAMES.values() if other == name for key in selector}
            table[name] = (tuple(sorted(keys - {"hw.type"})), {})
        keys_of_name, by_selector = table[name]
        by_selector[tuple(attrs.get(key) for key in keys_of_name)] = metric
    return table


_OTLP_READ = _reader_table()
#: Selector values a sender may leave out or write differently: hw.gpu.task defaults to
#: general; error.type "_OTHER" (the conventions' fallback) counts as no type.
_SELECTOR_DEFAULTS: dict[str, Mapping[object, str | None]] = {"hw.gpu.task": {None: "general"}, "error.type": {"_OTHER": None}}


_RATIOS = frozenset(metric for metric in GpuMetric if metric.value.endswith("_ratio"))
#: _check_value as codes for whole columns: 0 no sample, 1 ratio in [0, 1], 2 any finite value, 3 >= 0.
_VALUE_RULE: dict[GpuMetric | None, int] = {
    None: 0,
    **{m: 1 if m in _RATIOS else 2 if m is GpuMetric.TEMPERATURE_CELSIUS else 3 for m in GpuMetric},
}


def _check_value(metric: GpuMetric, value: float) -> str | None:
    """The problem with a converted value, or ``None`` when it is plausible."""
    if not math.isfinite(value):
        return "non_finite_value"
    if metric in _RATIOS and not 0.0 <= value <= 1.0:
        return "out_of_range"
    if metric is not GpuMetric.TEMPERATURE_CELSIUS and value < 0.0:
        return "out_of_range"
    return None


def _text(value: object) -> str | None:
    """A label value as a string; ``None`` for absent, empty or non-scalar values."""
    if value is None or isinstance(value, dict | list) or value == "":
        return None
    return str(value)


def parse_dcgm(text: str, *, now: float) -> GpuDecodeResult:
    """Decode one DCGM exporter scrape (Prometheus text format) into GPU samples.

    Prefer this over :func:`from_otlp_metrics` for nodes that run NVIDIA's dcgm-exporter
    (typically Kubernetes GPU nodes, where it also labels each GPU with the pod using it).

    Parameters
    ----------
    text:
        The scrape body. Series that are not in the known DCGM field table are skipped and
        counted as ``unknown_series``; a series without a ``gpu`` label counts as
        ``missing_gpu_label``; values that are non-finite or outside their range (a ratio
        above 1, negative bytes) count as ``non_finite_value`` / ``out_of_range``.
    now:
        Timestamp (Unix seconds) given to samples without their own; the exporter normally
        sends none, so this is the scrape time.

    Returns
    -------
    GpuDecodeResult
        ``(samples, problems)``.

    Raises
    ------
    ValueError
        If ``now`` is not finite, or the text is not valid exposition format; the message
        names the first offending line and its number.

    Examples
    --------
    >>> scrape = (
    ...     '# TYPE DCGM_FI_DEV_FB_USED gauge\\n'
    ...     'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-1a",modelName="NVIDIA H100",Hostname="n1"} 2048\\n'
    ...     'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1a",modelName="NVIDIA H100",Hostname="n1"} 87\\n'
    ...     'DCGM_FI_DEV_SM_CLOCK{gpu="0"} 1980\\n'
    ... )
    >>> samples, problems = parse_dcgm(scrape, now=1700000000.0)
    >>> [(s.host, s.gpu, s.metric.value, s.value) for s in samples]
    [('n1', '0', 'memory_used_bytes', 2147483648.0), ('n1', '0', 'utilization_ratio', 0.87)]
    >>> dict(problems)
    {'unknown_series': 1}
    """
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite Unix timestamp, got {now!r}")
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError, and sometimes others, on bad text
        raise ValueError(_locate_bad_line(text, exc)) from None
    samples: list[GpuSample] = []
    problems: Counter[str] = Counter()
    for family in families:
        for sample in family.samples:
            known = _DCGM.get(sample.name)
            if known is None and family.type == "counter":
                # prometheus_client appends "_total" to the samples of a counter family.
                known = _DCGM.get(sample.name.removesuffix("_total"))
            if known is None:
                problems["unknown_series"] += 1
                continue
            metric, factor = known
            labels = sample.labels
            gpu = _text(labels.get("gpu"))
            if gpu is None:
                problems["missing_gpu_label"] += 1
                continue
            value = float(sample.value) * factor
            problem = _check_value(metric, value)
            if problem is not None:
                problems[problem] += 1
                continue
            stamp = float(sample.timestamp) if sample.timestamp is not None else now
            samples.append(
                GpuSample(
                    timestamp=stamp,
                    host=_text(labels.get("Hostname")) or _text(labels.get("hostname")) or "",
                    gpu=gpu,
                    uuid=_text(labels.get("UUID")) or "",
                    model_name=_text(labels.get("modelName")) or "",
                    metric=metric,
                    value=value,
                    mig_instance=_text(labels.get("GPU_I_ID")),
                    mig_profile=_text(labels.get("GPU_I_PROFILE")),
                    pod=_text(labels.get("pod")),
                    namespace=_text(labels.get("namespace")),
                    container=_text(labels.get("container")),
                )
            )
    return GpuDecodeResult(samples, problems)


def _locate_bad_line(text: str, exc: Exception) -> str:
    """Name the first line that fails to parse on its own (comments need no context)."""
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            list(text_string_to_metric_families(line + "\n"))
        except Exception:
            return f"DCGM text is not valid Prometheus exposition format: line {number} {line[:200]!r} does not parse"
    return f"DCGM text is not valid Prometheus exposition format: {type(exc).__name__}: {exc}"


def from_otlp_metrics(batch: MetricBatch) -> GpuDecodeResult:
    """Pick the GPU telemetry out of a decoded OTLP metrics batch and normalise it.

    Prefer this for senders that speak OpenTelemetry (an OTel Collector's hardware
    receivers, Driftline's own NVML agent); see the module docstring for the conventions
    followed and the choices made where they are silent.

    Parameters
    ----------
    batch:
        Flattened points as produced by :func:`collectors.otlp.decode_metrics` (resource
        attributes merged under the point's). Non-``hw.*`` metrics are ignored; skipped
        ``hw.*`` points are counted by reason: ``not_gpu``, ``unsupported_metric``,
        ``missing_hw_id``, ``non_finite_value``, ``out_of_range``.

    Returns
    -------
    GpuDecodeResult
        ``(samples, problems)``.

    Examples
    --------
    >>> import numpy as np
    >>> attrs = '{"host.name":"n1","hw.id":"GPU-1a","hw.model":"NVIDIA H100","hw.name":"0","hw.type":"gpu"}'
    >>> batch = MetricBatch(
    ...     names=np.array(["hw.power", "hw.gpu.utilization", "http.server.duration.count"], dtype=object),
    ...     timestamps=np.array([1700000000.0] * 3),
    ...     values=np.array([312.5, 0.87, 4.0]),
    ...     attributes=np.array([attrs, attrs, "{}"], dtype=object),
    ... )
    >>> samples, problems = from_otlp_metrics(batch)
    >>> [(s.host, s.gpu, s.uuid, s.metric.value, s.value) for s in samples]
    [('n1', '0', 'GPU-1a', 'power_watts', 312.5), ('n1', '0', 'GPU-1a', 'utilization_ratio', 0.87)]
    >>> dict(problems)
    {}
    """
    # Most points of a metric batch are not GPU telemetry. A batch has few distinct names: test
    # each once (cheaper than converting the column to fixed-width text for np.strings).
    names = batch.names
    name_list = names.tolist()
    is_gpu = {name: name.startswith(("hw.", EXTENSION_PREFIX)) for name in dict.fromkeys(name_list)}
    selected = np.flatnonzero(np.fromiter((is_gpu[name] for name in name_list), dtype=np.bool_, count=len(name_list)))
    # Points repeat a few (name, attribute set) pairs: resolve each pair once, then stamp points.
    keys = list(zip(names[selected].tolist(), batch.attributes[selected].tolist(), strict=True))
    parsed: dict[str, dict[str, object]] = {}
    for _, raw in dict.fromkeys(keys):
        if raw not in parsed:
            parsed[raw] = json.loads(raw)
    gpus: dict[tuple[str, str], dict[str, object]] = {}  # (host, hw.id) → that GPU's attributes
    for name, raw in dict.fromkeys(keys):
        attrs = parsed[raw]
        hw_id = _text(attrs.get("hw.id"))
        if hw_id is not None and (name.startswith("hw.gpu.") or attrs.get("hw.type") == "gpu"):
            gpus.setdefault((_text(attrs.get("host.name")) or "", hw_id), attrs)
    resolved = {key: _resolve(key[0], parsed[key[1]], gpus) for key in dict.fromkeys(keys)}
    identities = [resolved[key] for key in keys]

    # The value checks of _check_value, over the whole column.
    values = batch.values[selected]
    kind = np.array([_VALUE_RULE[None if isinstance(x, str) else x.metric] for x in identities], dtype=np.int8)
    non_finite = (kind > 0) & ~np.isfinite(values)
    out_of_range = ~non_finite & (((kind == 1) & ((values < 0.0) | (values > 1.0))) | ((kind == 3) & (values < 0.0)))
    problems: Counter[str] = Counter(x for x in identities if isinstance(x, str))
    problems.update({"non_finite_value": int(non_finite.sum()), "out_of_range": int(out_of_range.sum())})
    problems = +problems  # drop zero counts
    good = np.flatnonzero((kind > 0) & ~non_finite & ~out_of_range)
    stamps = batch.timestamps[selected][good].tolist()
    samples: list[GpuSample] = []
    for i, stamp, value in zip(good.tolist(), stamps, values[good].tolist(), strict=True):
        x = cast("GpuSample", identities[i])  # kind > 0: resolved to a sample, not a reason
        # Positionally: about twice as fast as x._replace(timestamp=stamp, value=value).
        samples.append(
            GpuSample(
                stamp,
                x.host,
                x.gpu,
                x.uuid,
                x.model_name,
                x.metric,
                value,
                None,
                None,
                x.pod,
                x.namespace,
                x.container,
                x.service,
            )
        )
    return GpuDecodeResult(samples, problems)


def _resolve(name: str, attrs: Mapping[str, object], gpus: Mapping[tuple[str, str], Mapping[str, object]]) -> GpuSample | str:
    """The sample (timestamp and value still 0) that points of this name and attribute set give, or why none."""
    metric, skip_reason = _otlp_metric(name, attrs)
    if metric is None:
        return skip_reason
    host = _text(attrs.get("host.name")) or ""
    identity: Mapping[str, object] = attrs
    if metric is GpuMetric.TEMPERATURE_CELSIUS and attrs.get("hw.type") != "gpu":
        parent = gpus.get((host, _text(attrs.get("hw.parent")) or ""))
        if parent is None:
            return "not_gpu"
        identity = parent
    hw_id = _text(identity.get("hw.id"))
    if hw_id is None:
        return "missing_hw_id"
    return GpuSample(
        timestamp=0.0,
        host=host,
        gpu=_text(identity.get("hw.name")) or hw_id,
        uuid=hw_id,
        model_name=_text(identity.get("hw.model")) or "",
        metric=metric,
        value=0.0,
        pod=_text(attrs.get("k8s.pod.name")),
        namespace=_text(attrs.get("k8s.namespace.name")),
        container=_text(attrs.get("k8s.container.name")),
        service=_text(attrs.get("service.name")),
    )


def _otlp_metric(name: str, attrs: Mapping[str, object]) -> tuple[GpuMetric | None, str]:
    """Map one ``hw.*`` point to its canonical metric, or ``None`` and the reason it is skipped."""
    hw_type = attrs.get("hw.type")
    if name.startswith(EXTENSION_PREFIX):
        try:
            return GpuMetric(name.removeprefix(EXTENSION_PREFIX)), ""
        except ValueError:
            return None, "unsupported_metric"
    if name == "hw.temperature":
        # A sensor metric: whether it belongs to a GPU is settled by the caller via hw.parent.
        return GpuMetric.TEMPERATURE_CELSIUS, ""
    # The hw.gpu.* names say "GPU" themselves; the shared hw.* ones need hw.type=gpu.
    if (hw_type not in (None, "gpu")) if name.startswith("hw.gpu.") else (hw_type != "gpu"):
        return None, "not_gpu"
    known = _OTLP_READ.get(name)
    if known is None:
        return None, "unsupported_metric"
    keys, by_selector = known
    selector = []
    for key in keys:
        value = attrs.get(key)
        value = value if isinstance(value, str) else None
        selector.append(_SELECTOR_DEFAULTS.get(key, {}).get(value, value))
    metric = by_selector.get(tuple(selector))
    return (metric, "") if metric is not None else (None, "unsupported_metric")
