"""Pull KPIs from Prometheus: one PromQL query per KPI, evaluated at an interval.

For every KPI configured with a ``query``, one daemon thread asks ``kpi_prometheus_url``'s
``/api/v1/query`` every ``kpi_pull_interval_seconds`` and appends the answer durably to the
ingest log as a ``driftline.kpi`` point labelled ``kpi=<name>`` (timestamped by Prometheus'
evaluation time), exactly like an OTLP receiver does; from there it flows through the same
pipeline as every other KPI value (time series store, ``driftline_kpi_value``, anomaly scores).

A query must answer one number: a scalar, or an instant vector of exactly one sample (wrap
others in ``sum(...)``, ``avg(...)``…). Accepted values are counted as
``driftline_ingest_records_total{signal="kpi_pull"}``; failures as
``driftline_ingest_rejected_total{signal="kpi_pull", reason=...}`` with reasons
``query_failed`` (connection error, timeout, non-2xx status, an ``error`` answer),
``no_data`` (an empty vector), ``not_one_sample`` (a vector of several series, a matrix or a
string),
``non_finite_value`` (NaN, ±Inf) and ``overloaded`` / ``store_unavailable`` (the ingest log).
``driftline_kpi_pull_up{kpi}`` is 1 when the latest pull of a KPI gave a value, else 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.records import MetricBatch
from monitor.ingest_log import IngestLog, LogOverloaded
from monitor.kpi_config import KPI_SERIES, KpiSpec
from monitor.poller import Poller
from monitor.stats import IngestStats

__all__ = ["SIGNAL", "KpiPuller", "PullError", "parse_query_answer"]

_logger = logging.getLogger(__name__)

SIGNAL = "kpi_pull"
_MAX_ANSWER_BYTES = 1 << 20


class PullError(Exception):
    """A query answer that gives no KPI value; ``reason`` is the rejection reason counted."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_query_answer(answer: Any) -> tuple[float, float]:
    """``(timestamp, value)`` of a Prometheus ``/api/v1/query`` answer holding one number.

    Examples
    --------
    >>> parse_query_answer({"status": "success", "data": {"resultType": "vector",
    ...     "result": [{"metric": {}, "value": [1700000000.5, "0.031"]}]}})
    (1700000000.5, 0.031)
    >>> parse_query_answer({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "2"]}})
    (1.0, 2.0)
    """
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise PullError(f"Prometheus answered an error: {error or answer!r}", "query_failed")
    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        sample = result
    elif kind == "vector" and isinstance(result, list) and len(result) == 1:
        sample = result[0].get("value")
    elif kind == "vector" and result == []:
        raise PullError("the query gave an empty vector (no data yet, or no series match)", "no_data")
    else:
        size = len(result) if isinstance(result, list) else 0
        raise PullError(
            f"the query must give one number (a scalar or a one-sample vector); it gave a {kind} of {size} "
            "series: aggregate it, e.g. sum(...)",
            "not_one_sample",
        )
    try:
        timestamp, value = float(sample[0]), float(sample[1])
    except (TypeError, ValueError, IndexError):
        raise PullError(f"cannot read the sample {sample!r}", "not_one_sample") from None
    if not math.isfinite(value):
        raise PullError(f"the query gave the non-finite value {value}", "non_finite_value")
    return timestamp, value


class KpiPuller(Poller, Collector):
    """One pull thread per KPI query; also a Prometheus collector of ``driftline_kpi_pull_up``."""

    signal = SIGNAL
    failure_reason = "query_failed"

    def __init__(
        self,
        url: str,
        kpis: Sequence[KpiSpec],
        log: IngestLog,
        stats: IngestStats,
        *,
        interval: float = 60.0,
        timeout: float | None = None,
    ) -> None:
        super().__init__([kpi.name for kpi in kpis if kpi.query is not None], stats, interval=interval, timeout=timeout)
        self.url = url.rstrip("/")
        self._shown_url = str(httpx.URL(self.url).copy_with(username=None, password=None))  # never log credentials
        self.kpis = {kpi.name: kpi for kpi in kpis if kpi.query is not None}
        self.log = log

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "driftline_kpi_pull_up", "1 when the latest Prometheus pull of a KPI gave a value.", labels=["kpi"]
        )
        for kpi, value in sorted(self.up().items()):
            family.add_metric([kpi], value)
        yield family

    def poll_once(self, client: httpx.Client, source: str) -> bool:
        return self.pull_once(client, self.kpis[source])

    def pull_once(self, client: httpx.Client, kpi: KpiSpec) -> bool:
        """Evaluate one KPI's query now and log its value; True when a value was logged."""
        try:
            response = client.get(f"{self.url}/api/v1/query", params={"query": kpi.query, "time": f"{time.time():.3f}"})
            if len(response.content) > _MAX_ANSWER_BYTES:
                raise PullError(f"the answer is larger than {_MAX_ANSWER_BYTES} bytes", "not_one_sample")
            if response.status_code != 200 and not response.headers.get("content-type", "").startswith("application/json"):
                raise PullError(f"Prometheus answered HTTP {response.status_code}", "query_failed")
            timestamp, value = parse_query_answer(response.json())
        except httpx.HTTPError as exc:
            _logger.warning("KPI %s: query to %s failed: %s", kpi.name, self._shown_url, exc)
            self.stats.reject(SIGNAL, "query_failed")
            return False
        except (PullError, ValueError) as exc:
            no_data = isinstance(exc, PullError) and exc.reason == "no_data"
            _logger.log(logging.INFO if no_data else logging.WARNING, "KPI %s: %s", kpi.name, exc)
            self.stats.reject(SIGNAL, exc.reason if isinstance(exc, PullError) else "query_failed")
            return False
        batch = MetricBatch(
            names=np.array([KPI_SERIES], dtype=object),
            timestamps=np.array([timestamp]),
            values=np.array([value]),
            attributes=np.array([json.dumps({"kpi": kpi.name}, separators=(",", ":"))], dtype=object),
        )
        return not self._stop.is_set() and self._append(kpi, timestamp, batch)

    def _append(self, kpi: KpiSpec, timestamp: float, batch: MetricBatch) -> bool:
        digest = hashlib.sha256(f"{SIGNAL}\0{kpi.name}\0{timestamp!r}".encode()).hexdigest()
        try:
            future = self.log.append_batches(digest, [batch])
        except LogOverloaded:
            self.stats.reject(SIGNAL, "overloaded")
            return False
        try:
            future.result()  # no timeout: the writer resolves every future, committed or failed
        except Exception:
            self.stats.reject(SIGNAL, "store_unavailable")
            return False
        self.stats.accept(SIGNAL, 1)
        return True
