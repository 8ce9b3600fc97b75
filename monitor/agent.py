"""``driftline agent gpu``: poll NVML on a GPU host and export OTLP ``hw.*`` metrics to the server.

The agent speaks the same OpenTelemetry hardware conventions that
:func:`collectors.gpu.from_otlp_metrics` reads, so the server needs nothing agent-specific:

============================  ========  ==========================================================
metric                        unit      NVML source
============================  ========  ==========================================================
``hw.gpu.utilization``        ``1``     ``nvmlDeviceGetUtilizationRates().gpu`` / 100, ``hw.gpu.task=general``
``hw.gpu.memory.utilization`` ``1``     ``nvmlDeviceGetUtilizationRates().memory`` / 100
``hw.gpu.memory.usage``       ``By``    ``nvmlDeviceGetMemoryInfo().used``
``hw.gpu.memory.limit``       ``By``    ``nvmlDeviceGetMemoryInfo().total``
``hw.power``                  ``W``     ``nvmlDeviceGetPowerUsage()`` (mW) / 1000
``hw.energy`` (counter)       ``J``     ``nvmlDeviceGetTotalEnergyConsumption()`` (mJ since driver load) / 1000
``hw.temperature``            ``Cel``   ``nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)``
============================  ========  ==========================================================

Every point carries ``hw.id`` (the GPU UUID, which joins with DCGM's ``UUID``), ``hw.name``
(the index), ``hw.type=gpu`` and ``hw.model`` (the product name); the resource carries
``host.name``. ``hw.temperature`` is sent with ``hw.type=gpu`` on the GPU's own identity (the
GPU reporting its die temperature) rather than as a separate sensor joined by ``hw.parent``,
so a temperature point is understood even when it arrives alone.

A field NVML does not support on a device (energy on pre-Volta GPUs, power on some boards)
is left out of that reading instead of failing the poll. ``pynvml`` (package
``nvidia-ml-py``) is imported only when the agent starts; without it, or without a driver,
:func:`open_nvml` raises :class:`NvmlUnavailable`.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from collectors.gpu import OTLP_NAMES, GpuMetric

__all__ = ["GpuPoller", "GpuReading", "NvmlUnavailable", "open_nvml"]

#: What the agent exports: canonical metric (a :class:`GpuReading` field of the same name; its
#: OTLP name and selecting attributes come from :data:`collectors.gpu.OTLP_NAMES`), instrument, unit.
_INSTRUMENTS: list[tuple[GpuMetric, str, str]] = [
    (GpuMetric.UTILIZATION_RATIO, "gauge", "1"),
    (GpuMetric.MEMORY_UTILIZATION_RATIO, "gauge", "1"),
    (GpuMetric.MEMORY_USED_BYTES, "up_down_counter", "By"),
    (GpuMetric.MEMORY_LIMIT_BYTES, "up_down_counter", "By"),
    (GpuMetric.POWER_WATTS, "gauge", "W"),
    (GpuMetric.ENERGY_JOULES, "counter", "J"),
    (GpuMetric.TEMPERATURE_CELSIUS, "gauge", "Cel"),
]

#: ``pynvml`` or a test double with the same functions (see :class:`GpuPoller`).
Nvml = Any

_logger = logging.getLogger(__name__)

_NVML_TEMPERATURE_GPU = 0  # pynvml.NVML_TEMPERATURE_GPU


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used on this machine; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"NVML not available: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One poll of one GPU, in base units; a field is ``None`` when NVML does not support it."""

    timestamp: float
    index: int
    uuid: str
    model: str
    utilization_ratio: float | None
    memory_utilization_ratio: float | None
    memory_used_bytes: float | None
    memory_limit_bytes: float | None
    power_watts: float | None
    energy_joules: float | None
    temperature_celsius: float | None

    @property
    def attributes(self) -> dict[str, str]:
        """The ``hw.*`` identity attributes every exported point of this GPU carries."""
        return {"hw.id": self.uuid, "hw.name": str(self.index), "hw.type": "gpu", "hw.model": self.model}


def open_nvml() -> Nvml:
    """Import ``pynvml`` and initialise it; raises :class:`NvmlUnavailable` with the reason."""
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise NvmlUnavailable(f"cannot import pynvml ({exc}); install nvidia-ml-py on the GPU host") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NvmlUnavailable(f"nvmlInit failed: {exc}") from None
    return pynvml


def _text(value: str | bytes) -> str:
    """Older nvidia-ml-py releases return ``bytes`` for strings."""
    return value.decode() if isinstance(value, bytes) else str(value)


class GpuPoller:
    """Read every GPU on this host through NVML, and export the readings as OTLP metrics.

    Parameters
    ----------
    nvml:
        An initialised ``pynvml`` module (from :func:`open_nvml`) or a test double offering
        ``nvmlShutdown``, ``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex``,
        ``nvmlDeviceGetUUID``, ``nvmlDeviceGetName``, ``nvmlDeviceGetUtilizationRates``,
        ``nvmlDeviceGetMemoryInfo``, ``nvmlDeviceGetPowerUsage``,
        ``nvmlDeviceGetTotalEnergyConsumption``, ``nvmlDeviceGetTemperature`` and ``NVMLError``.
        :meth:`close` calls ``nvmlShutdown``.
    clock:
        Unix time for reading timestamps (exported points use the SDK's collection time).
    host:
        ``host.name`` on the exported resource; default: this machine's hostname.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> class Error(Exception): ...
    >>> fake = NS(
    ...     NVMLError=Error, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
    ...     nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetUUID=lambda h: "GPU-1a",
    ...     nvmlDeviceGetName=lambda h: b"NVIDIA H100",
    ...     nvmlDeviceGetUtilizationRates=lambda h: NS(gpu=87, memory=40),
    ...     nvmlDeviceGetMemoryInfo=lambda h: NS(used=2 << 30, total=80 << 30, free=78 << 30),
    ...     nvmlDeviceGetPowerUsage=lambda h: 312500, nvmlDeviceGetTemperature=lambda h, s: 61,
    ...     nvmlDeviceGetTotalEnergyConsumption=lambda h: (_ for _ in ()).throw(Error("Not Supported")),
    ... )
    >>> [reading] = GpuPoller(fake, clock=lambda: 1700000000.0, host="n1").poll_once()
    >>> (reading.uuid, reading.model, reading.utilization_ratio, reading.power_watts, reading.energy_joules)
    ('GPU-1a', 'NVIDIA H100', 0.87, 312.5, None)
    """

    def __init__(self, nvml: Nvml, *, clock: Callable[[], float] = time.time, host: str | None = None) -> None:
        if host is not None and not host:
            raise ValueError(f"host must be a non-empty name or None, got {host!r}")
        self.nvml = nvml
        self.clock = clock
        self.host = host if host is not None else socket.gethostname()
        self._latest: list[GpuReading] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def latest(self) -> list[GpuReading]:
        """The readings of the last :meth:`poll_once` (what the next export sends)."""
        with self._lock:
            return list(self._latest)

    def poll_once(self) -> list[GpuReading]:
        """Read every GPU once; also kept as the latest readings for the exporter."""
        stamp = self.clock()
        readings = [self._read(index, stamp) for index in range(int(self.nvml.nvmlDeviceGetCount()))]
        with self._lock:
            self._latest = readings
        return readings

    def _read(self, index: int, stamp: float) -> GpuReading:
        nvml = self.nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        rates = self._optional(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = self._optional(nvml.nvmlDeviceGetMemoryInfo, handle)
        power_mw = self._number(nvml.nvmlDeviceGetPowerUsage, handle)
        energy_mj = self._number(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
        return GpuReading(
            timestamp=stamp,
            index=index,
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            model=_text(nvml.nvmlDeviceGetName(handle)),
            utilization_ratio=None if rates is None else float(rates.gpu) / 100.0,
            memory_utilization_ratio=None if rates is None else float(rates.memory) / 100.0,
            memory_used_bytes=None if memory is None else float(memory.used),
            memory_limit_bytes=None if memory is None else float(memory.total),
            power_watts=None if power_mw is None else power_mw / 1000.0,
            energy_joules=None if energy_mj is None else energy_mj / 1000.0,
            temperature_celsius=self._number(nvml.nvmlDeviceGetTemperature, handle, _NVML_TEMPERATURE_GPU),
        )

    def _optional(self, read: Callable[..., Any], *args: Any) -> Any:
        """``read(*args)``, or ``None`` when NVML refuses (NVML_ERROR_NOT_SUPPORTED and friends)."""
        try:
            return read(*args)
        except self.nvml.NVMLError:
            return None

    def _number(self, read: Callable[..., Any], *args: Any) -> float | None:
        value = self._optional(read, *args)
        if value is None:
            return None
        number = float(value)
        return number if math.isfinite(number) else None

    def _observe(self, field: str, extra: dict[str, str] | None = None) -> Callable[[Any], Iterable[Any]]:
        """An observable-instrument callback giving ``field`` of each latest reading."""
        from opentelemetry.metrics import Observation

        def callback(_options: Any) -> Iterable[Observation]:
            latest = self.latest
            return [
                Observation(value, {**reading.attributes, **(extra or {})})
                for reading in latest
                if (value := getattr(reading, field)) is not None
            ]

        return callback

    def run(self, api_url: str, *, interval: float = 10.0, duration: float | None = None, token: str | None = None) -> int:
        """Poll every ``interval`` seconds and export to ``{api_url}/v1/metrics`` until ``duration`` or :meth:`stop`.

        The first poll is exported at once. Export failures are logged by the SDK and do not
        stop the agent. Returns the number of polls handed to the exporter.
        """
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a finite number of seconds > 0, got {interval!r}")
        if duration is not None and not duration >= 0:
            raise ValueError(f"duration must be >= 0 seconds or None, got {duration!r}")
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Retries of an unreachable server end within one interval, so they never delay the next poll much.
        exporter = OTLPMetricExporter(endpoint=f"{api_url.rstrip('/')}/v1/metrics", headers=headers, timeout=min(10.0, interval))
        # An infinite interval starts no timer thread: the loop below collects right after each poll.
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
        resource = Resource.create({"host.name": self.host, "service.name": "driftline-agent"})
        provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = provider.get_meter("driftline.agent.gpu")
        for metric, kind, unit in _INSTRUMENTS:
            name, selector = OTLP_NAMES[metric]
            create = {
                "gauge": meter.create_observable_gauge,
                "up_down_counter": meter.create_observable_up_down_counter,
                "counter": meter.create_observable_counter,
            }[kind]
            create(name, [self._observe(metric.value, selector)], unit=unit)

        self._stop.clear()
        deadline = None if duration is None else time.monotonic() + duration
        exported = 0
        try:
            while True:
                try:
                    self.poll_once()
                except self.nvml.NVMLError as exc:  # e.g. a GPU fell off the bus: export nothing, keep polling
                    _logger.warning("NVML poll failed: %s", exc)
                    with self._lock:
                        self._latest = []
                reader.force_flush()
                exported += 1
                wait = interval if deadline is None else min(interval, deadline - time.monotonic())
                if wait <= 0 or self._stop.wait(wait) or (deadline is not None and time.monotonic() >= deadline):
                    return exported
        finally:
            provider.shutdown()

    def stop(self) -> None:
        """Make :meth:`run` return after the export in progress."""
        self._stop.set()

    def close(self) -> None:
        """Shut NVML down; the poller cannot be used afterwards."""
        self.nvml.nvmlShutdown()
