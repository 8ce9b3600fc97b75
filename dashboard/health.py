"""The Overview's health row per model version, gathered from several endpoints.

Every cell is optional: an endpoint the server lacks, or a series without data, leaves its cell
empty ("—") rather than failing the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from dashboard.client import Alert, ApiError, DriftlineClient, Finding, ModelVersion, Series

__all__ = ["HealthRow", "alerts_firing", "health_rows", "trend"]


def trend(series: Sequence[Series], value: str = "mean") -> tuple[float, float] | None:
    """(last value, change from first to last) of the first series with at least one point.

    ``value`` picks the bucket statistic: ``mean``, or ``last`` for series whose points are
    running figures (latency percentiles).

    >>> from dashboard.client import Series
    >>> trend([Series({}, (0.0, 60.0), (0.9, 0.8), (), (0.7, 0.6), ())])
    (0.8, -0.09999999999999998)
    >>> trend([Series({}, (0.0, 60.0), (0.9, 0.8), (), (0.7, 0.6), ())], "last")
    (0.6, -0.09999999999999998)
    >>> trend([]) is None
    True
    """
    for one in series:
        values: tuple[float, ...] = getattr(one, value)
        if values:
            return values[-1], values[-1] - values[0]
    return None


def _arrow(change: float) -> str:
    return "↑" if change > 0 else "↓" if change < 0 else "→"


@dataclass(frozen=True, slots=True)
class HealthRow:
    model: str
    version: str
    status: str
    drifting: str
    drift_share: float
    quality: str
    latency_p95_ms: float | None
    gpu_utilization: float | None
    kpi: str
    alerts_firing: int | None
    gate: str
    predictions: int
    link: str


def _safe_series(client: DriftlineClient, name: str, labels: dict[str, str], start: float, end: float) -> list[Series]:
    try:
        return client.series(name, start=start, end=end, labels=labels)
    except (ApiError, httpx.HTTPError):
        return []


def _by_model(series: Sequence[Series]) -> dict[tuple[str, str], list[Series]]:
    """Series grouped by their (model, version) labels."""
    out: dict[tuple[str, str], list[Series]] = {}
    for one in series:
        out.setdefault((str(one.labels.get("model")), str(one.labels.get("version"))), []).append(one)
    return out


def _quality_cell(series: Sequence[Series]) -> str:
    found = trend(series)
    if found is None:
        return "—"
    metric = str(series[0].labels.get("metric", "quality"))
    return f"{metric} {found[0]:.3g} {_arrow(found[1])}"


def _kpi_cell(client: DriftlineClient, mv: ModelVersion, findings: Sequence[Finding], start: float, end: float) -> str:
    """The trend of the KPI that the best finding about this model version links it to."""
    linked = next((f for f in findings if f.model == mv.model and f.version in (None, mv.version)), None)
    if linked is None:
        return "—"
    found = trend(_safe_series(client, "driftline.kpi", {"kpi": linked.kpi}, start, end))
    if found is None:
        return linked.kpi
    return f"{linked.kpi} {found[0]:.3g} {_arrow(found[1])}"


def alerts_firing(alerts: Sequence[Alert] | None, model: str, version: str) -> int | None:
    """Firing alerts about this model version: its ``model`` label, and its ``version`` label when it has one.

    >>> from dashboard.client import Alert
    >>> def alert(state, **labels): return Alert("A", state, "warning", labels, "", 0.0, None, "")
    >>> alerts = [alert("firing", model="m", version="v2"), alert("firing", model="m"), alert("pending", model="m"),
    ...           alert("firing", model="m", version="v1"), alert("firing", host="gpu-1")]
    >>> alerts_firing(alerts, "m", "v2"), alerts_firing(alerts, "m", "v1"), alerts_firing(None, "m", "v1")
    (2, 2, None)
    """
    if alerts is None:
        return None
    return sum(
        1
        for a in alerts
        if a.state == "firing" and a.labels.get("model") == model and a.labels.get("version", version) == version
    )


def _gate(client: DriftlineClient, mv: ModelVersion) -> str:
    try:
        return client.gate(mv.model, mv.version).word
    except (ApiError, httpx.HTTPError):
        return "—"


def health_rows(client: DriftlineClient, models: Sequence[ModelVersion], start: float, end: float) -> list[HealthRow]:
    """One row per model version, worst first (drifting share, then firing alerts)."""
    try:
        findings: list[Finding] = client.correlations()
    except (ApiError, httpx.HTTPError):
        findings = []
    try:
        alerts: list[Alert] | None = client.alerts()
    except (ApiError, httpx.HTTPError):
        alerts = None
    # One request per series name for all models: the series API reads every series of a name anyway.
    latencies = _by_model(_safe_series(client, "driftline.model.latency.p95", {}, start, end))
    qualities = _by_model(_safe_series(client, "driftline.model.quality", {}, start, end))
    rows = []
    for mv in models:
        latency = trend(latencies.get((mv.model, mv.version), []), "last")
        try:
            hardware = client.hardware(mv.model, mv.version, start=start, end=end)
            gpus = [g.utilization for g in hardware.gpus if g.utilization is not None]
        except (ApiError, httpx.HTTPError):
            gpus = []
        rows.append(
            HealthRow(
                model=mv.model,
                version=mv.version,
                status=mv.status.replace("_", " "),
                drifting=f"{mv.features_drifting} / {mv.features_tested}",
                drift_share=mv.features_drifting / mv.features_tested if mv.features_tested else 0.0,
                quality=_quality_cell(qualities.get((mv.model, mv.version), [])),
                latency_p95_ms=None if latency is None else latency[0] * 1000.0,
                gpu_utilization=sum(gpus) / len(gpus) if gpus else None,
                kpi=_kpi_cell(client, mv, findings, start, end),
                alerts_firing=alerts_firing(alerts, mv.model, mv.version),
                gate=_gate(client, mv),
                predictions=mv.predictions_total,
                link="drift?" + urlencode({"model": mv.model, "version": mv.version}),
            )
        )
    rows.sort(key=lambda r: (-r.drift_share, -(r.alerts_firing or 0), r.model, r.version))
    return rows
