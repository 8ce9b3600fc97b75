"""Scrape NVIDIA dcgm-exporter endpoints and feed their GPU telemetry into the ingest log.

Each configured target (``dcgm_targets``) gets its own daemon thread that, every
``dcgm_interval_seconds``, GETs the exporter's Prometheus text (with a timeout and a size cap),
decodes it with :func:`collectors.gpu.parse_dcgm`, converts the samples into a
:class:`~collectors.records.MetricBatch` under the OpenTelemetry ``hw.*`` conventions (see
:func:`samples_to_metric_batch`) and appends it durably to the ingest log, exactly like an OTLP
receiver does. The pipeline then reads the points back with
:func:`collectors.gpu.from_otlp_metrics`, so scraped GPUs appear as ``driftline_gpu_*`` like any
other GPU source.

Accepted points are counted as ``driftline_ingest_records_total{signal="dcgm"}``; failures as
``driftline_ingest_rejected_total{signal="dcgm", reason=...}`` with reasons ``scrape_failed``
(connection error, timeout, non-2xx status), ``too_large``, ``parse_error`` (not exposition
format), ``overloaded`` / ``store_unavailable`` (the ingest log) and the per-point reasons of
:func:`~collectors.gpu.parse_dcgm` (series outside the DCGM field table are not counted: an
exporter sends many). ``driftline_scrape_up{target}`` is 1 when the latest scrape of a target
succeeded, else 0. One target failing or hanging never delays the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import httpx
import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.gpu import EXTENSION_PREFIX, OTLP_NAMES, GpuSample, parse_dcgm
from collectors.records import MetricBatch
from monitor.ingest_log import IngestLog, LogOverloaded
from monitor.poller import Poller
from monitor.stats import IngestStats

__all__ = ["SIGNAL", "DcgmScraper", "samples_to_metric_batch"]

_logger = logging.getLogger(__name__)

SIGNAL = "dcgm"


def samples_to_metric_batch(samples: Iterable[GpuSample]) -> tuple[MetricBatch, Counter[str]]:
    """Encode GPU samples as OTLP-convention metric points; returns ``(batch, problems)``.

    Identity: ``hw.id`` = UUID, ``hw.name`` = GPU index, ``hw.model``, ``host.name`` and
    ``k8s.pod.name`` / ``k8s.namespace.name`` / ``k8s.container.name``, ``service.name``; empty or absent fields
    are left out. A MIG slice is named ``<gpu>/mig<instance>`` in ``hw.name`` (the key
    :class:`monitor.gpu_state.GpuLatest` uses for it), with the raw ``nvidia.mig.instance`` /
    ``nvidia.mig.profile`` kept as attributes. Metrics the conventions have no name for
    (free memory, last Xid code, DCGM profiling ratios) become ``driftline.gpu.<metric>``
    points (:data:`collectors.gpu.EXTENSION_PREFIX`), which it reads back too. Samples without a
    UUID cannot carry ``hw.id`` and are counted as ``missing_uuid``.

    ``from_otlp_metrics(batch).samples`` gives back every sample unchanged, except
    that a MIG slice comes back with ``gpu="<gpu>/mig<instance>"`` and no MIG fields.
    """
    names: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    attributes: list[str] = []
    problems: Counter[str] = Counter()
    for sample in samples:
        if not sample.uuid:
            problems["missing_uuid"] += 1
            continue
        gpu = sample.gpu if sample.mig_instance is None else f"{sample.gpu}/mig{sample.mig_instance}"
        attrs: dict[str, str] = {"hw.id": sample.uuid, "hw.name": gpu}
        optional = {
            "hw.model": sample.model_name,
            "host.name": sample.host,
            "k8s.pod.name": sample.pod,
            "k8s.namespace.name": sample.namespace,
            "k8s.container.name": sample.container,
            "service.name": sample.service,
            "nvidia.mig.instance": sample.mig_instance,
            "nvidia.mig.profile": sample.mig_profile,
        }
        attrs.update({key: value for key, value in optional.items() if value})
        known = OTLP_NAMES.get(sample.metric)
        if known is None:
            name = EXTENSION_PREFIX + sample.metric.value
            attrs["hw.type"] = "gpu"
        else:
            name, extra = known
            attrs.update(extra)
        names.append(name)
        stamps.append(sample.timestamp)
        values.append(sample.value)
        attributes.append(json.dumps(attrs, sort_keys=True, separators=(",", ":")))
    batch = MetricBatch(
        names=np.array(names, dtype=object),
        timestamps=np.array(stamps, dtype=np.float64),
        values=np.array(values, dtype=np.float64),
        attributes=np.array(attributes, dtype=object),
    )
    return batch, problems


class _TooLarge(Exception):
    pass


class DcgmScraper(Poller, Collector):
    """One scrape thread per target; also a Prometheus collector of ``driftline_scrape_up``."""

    signal = SIGNAL
    failure_reason = "scrape_failed"

    def __init__(
        self,
        targets: Sequence[str],
        log: IngestLog,
        stats: IngestStats,
        *,
        interval: float = 15.0,
        timeout: float | None = None,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        super().__init__(targets, stats, interval=interval, timeout=timeout)
        self.log = log
        self.max_bytes = max_bytes

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "driftline_scrape_up", "1 when the latest scrape of a DCGM exporter target succeeded.", labels=["target"]
        )
        for target, value in sorted(self.up().items()):
            family.add_metric([target], value)
        yield family

    def poll_once(self, client: httpx.Client, source: str) -> bool:
        return self.scrape_once(client, source)

    def scrape_once(self, client: httpx.Client, target: str) -> bool:
        """Scrape, decode and log one target once; True when the scrape itself succeeded."""
        now = time.time()
        try:
            text = self._fetch(client, target)
        except _TooLarge:
            _logger.warning("DCGM target %s answered more than %d bytes", target, self.max_bytes)
            self.stats.reject(SIGNAL, "too_large")
            return False
        except httpx.HTTPError as exc:
            _logger.warning("DCGM scrape of %s failed: %s", target, exc)
            self.stats.reject(SIGNAL, "scrape_failed")
            return False
        try:
            samples, problems = parse_dcgm(text, now=now)
        except ValueError as exc:
            _logger.warning("DCGM target %s: %s", target, exc)
            self.stats.reject(SIGNAL, "parse_error")
            return False
        batch, more = samples_to_metric_batch(samples)
        problems.update(more)
        problems.pop("unknown_series", None)
        for reason, count in problems.items():
            self.stats.reject(SIGNAL, reason, count)
        if len(batch) and not self._stop.is_set():
            self._append(target, now, batch)
        return True

    def _fetch(self, client: httpx.Client, target: str) -> str:
        with client.stream("GET", target, headers={"Accept": "text/plain"}) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _TooLarge
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _append(self, target: str, now: float, batch: MetricBatch) -> None:
        digest = hashlib.sha256(f"{SIGNAL}\0{target}\0{now!r}".encode()).hexdigest()
        try:
            future = self.log.append_batches(digest, [batch])
        except LogOverloaded:
            self.stats.reject(SIGNAL, "overloaded", len(batch))
            return
        try:
            # No timeout: the writer resolves every future (committed or failed), and a
            # timed-out wait would count as lost points that may still be committed.
            future.result()
        except Exception:
            self.stats.reject(SIGNAL, "store_unavailable", len(batch))
            return
        self.stats.accept(SIGNAL, len(batch))
