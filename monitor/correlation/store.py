"""Reading the engine's inputs from the store, and keeping its findings there."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, func, select, update

from monitor.correlation.align import Grid, make_grid, spread_intervals, to_grid
from monitor.correlation.engine import RunResult, Series
from monitor.correlation.findings import Finding, IncidentEstimate, reconcile
from monitor.correlation.impact import KpiUnit
from monitor.store.tables import correlation_findings, drift_results, series_points

__all__ = [
    "KPI_SERIES",
    "Inputs",
    "StoredFinding",
    "describe",
    "labels_key",
    "list_findings",
    "load_inputs",
    "save_run",
    "series_inputs",
]

KPI_SERIES = "driftline.kpi"
DRIFT_SERIES = "driftline.feature.drift"


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything one run correlates: model-side series and KPIs on one grid."""

    grid: Grid
    model_series: list[Series]
    kpis: list[Series]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def labels_key(name: str, labels: dict[str, Any]) -> str:
    """``name{k=v,...}`` with sorted keys: the finding's ``metric`` label.

    Examples
    --------
    >>> labels_key("driftline.model.latency", {"version": "v1", "model": "m"})
    'driftline.model.latency{model=m,version=v1}'
    """
    inner = ",".join(f"{k}={_text(v)}" for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner else name


def describe(name: str, labels: dict[str, Any]) -> str:
    """How a model-side series is named in a sentence.

    Examples
    --------
    >>> describe("driftline.model.quality", {"model": "m", "version": "v1", "metric": "accuracy"})
    'accuracy of m v1'
    >>> describe("driftline.feature.drift", {"model": "m", "version": "v1", "feature": "income"})
    'drift on income (m v1)'
    >>> describe("hw.gpu.utilization", {"hw.id": "GPU-1"})
    'hw.gpu.utilization (hw.id=GPU-1)'
    """
    who = " ".join(_text(labels[k]) for k in ("model", "version") if k in labels)
    words = {
        "driftline.model.latency": "latency",
        "driftline.model.predictions": "prediction volume",
        "driftline.model.score": "mean score",
    }
    if name == DRIFT_SERIES:
        return f"drift on {_text(labels.get('feature', '?'))} ({who})"
    if name == "driftline.model.quality":
        return f"{_text(labels.get('metric', 'quality'))} of {who}"
    if name in words:
        return f"{words[name]} of {who}"
    rest = ", ".join(f"{k}={_text(v)}" for k, v in sorted(labels.items()))
    return f"{name} ({rest})" if rest else name


def series_inputs(
    grid: Grid,
    names: Iterable[str],
    labels: Iterable[str],
    times: Iterable[float],
    means: Iterable[float],
    weights: Iterable[float],
    *,
    kpi_sources: Collection[str] = (),
) -> tuple[list[Series], list[Series]]:
    """Rolled-up points (one per bucket) to grid series: (model-side, KPIs).

    KPIs are the series called ``driftline.kpi``, keyed by their ``kpi`` label (series of one
    KPI from several sources are pooled: a cell holds the mean of all their points). The raw
    series a KPI is derived from (``kpi_sources``: the OTLP metrics named by the ``kpis``
    setting), and series computed from a KPI or its source (anomaly scores and flags, labelled
    ``series=<name>``), are business-side, not model-side: correlating a KPI with them only
    finds the KPI again, so they are left out. Every other series is model-side, keyed by
    :func:`labels_key`.

    Examples
    --------
    >>> grid = make_grid(0.0, 120.0, 60.0)
    >>> names = ["driftline.kpi", "shop.orders", "driftline.anomaly.score", "driftline.model.latency"]
    >>> labels = ['{"kpi": "orders"}', "{}", '{"series": "shop.orders"}', '{"model": "m"}']
    >>> model, kpis = series_inputs(grid, names, labels, [0] * 4, [5.0, 5.0, 0.1, 0.2], [1] * 4, kpi_sources={"shop.orders"})
    >>> [s.key for s in model], [k.key for k in kpis]
    (['driftline.model.latency{model=m}'], ['orders'])
    """
    name_arr = np.asarray(list(names), dtype=object)
    label_arr = np.asarray(list(labels), dtype=object)
    t, v, w = (np.asarray(list(a), dtype=np.float64) for a in (times, means, weights))
    model_side: list[Series] = []
    kpis: list[Series] = []
    if t.size == 0:
        return model_side, kpis
    keys = np.char.add(np.char.add(name_arr.astype(str), "\x1f"), label_arr.astype(str))
    unique, index = np.unique(keys, return_inverse=True)
    order = np.argsort(index, kind="stable")
    kpi_rows: dict[str, list[npt.NDArray[np.intp]]] = {}
    business = {KPI_SERIES, *kpi_sources}
    bounds = np.r_[0, np.cumsum(np.bincount(index, minlength=unique.size))]
    for g, key in enumerate(unique.tolist()):
        rows = order[bounds[g] : bounds[g + 1]]
        name, _, raw = str(key).partition("\x1f")
        attrs = json.loads(raw) if raw else {}
        if name == KPI_SERIES:
            if "kpi" in attrs:
                kpi_rows.setdefault(_text(attrs["kpi"]), []).append(rows)
            continue
        if name in business or attrs.get("series") in business:
            continue
        values = to_grid(grid, t[rows], v[rows], w[rows])
        model, version = attrs.get("model"), attrs.get("version")
        model_side.append(
            Series(
                labels_key(name, attrs),
                values,
                describe(name, attrs),
                None if model is None else _text(model),
                None if version is None else _text(version),
            )
        )
    for kpi, parts in sorted(kpi_rows.items()):
        rows = np.concatenate(parts)
        kpis.append(Series(kpi, to_grid(grid, t[rows], v[rows], w[rows]), kpi))
    return model_side, kpis


def load_inputs(
    connection: Connection, start: float, end: float, *, step: float, resolution: int, kpi_sources: Collection[str] = ()
) -> Inputs:
    """Stored series buckets and drift results overlapping ``[start, end)``, on a ``step`` grid.

    ``kpi_sources`` names the raw series KPIs are derived from (see :func:`series_inputs`).

    A drift result describes its whole window, so its statistic covers every cell of the window
    (:func:`~monitor.correlation.align.spread_intervals`), and windows that drifted mark the
    cells of an incident.
    """
    grid = make_grid(start, end, step)
    rows = connection.execute(
        select(series_points.c.name, series_points.c.labels, series_points.c.bucket_start,
               series_points.c.count.label("points"), series_points.c.sum.label("total"))
        .where(series_points.c.resolution == resolution, series_points.c.bucket_start >= grid.start,
               series_points.c.bucket_start < grid.end)
    ).all()  # fmt: skip
    counts = [float(r.points) for r in rows]
    model_side, kpis = series_inputs(
        grid,
        (r.name for r in rows),
        (r.labels for r in rows),
        (r.bucket_start for r in rows),
        (r.total / r.points if r.points else math.nan for r in rows),
        counts,
        kpi_sources=kpi_sources,
    )
    drift = connection.execute(
        select(drift_results.c.model, drift_results.c.version, drift_results.c.feature, drift_results.c.statistic,
               drift_results.c.drift_detected, drift_results.c.window_start, drift_results.c.window_end)
        .where(drift_results.c.window_end > grid.start, drift_results.c.window_start < grid.end)
        .order_by(drift_results.c.model, drift_results.c.version, drift_results.c.feature, drift_results.c.window_end)
    ).all()  # fmt: skip
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for row in drift:
        groups.setdefault((row.model, row.version, row.feature), []).append(row)
    for (model, version, feature), items in groups.items():
        starts = [r.window_start for r in items]
        ends = [r.window_end for r in items]
        values = spread_intervals(grid, starts, ends, [r.statistic for r in items])
        flagged = spread_intervals(grid, starts, ends, [1.0 if r.drift_detected else 0.0 for r in items])
        attrs = {"feature": feature, "model": model, "version": version}
        model_side.append(
            Series(
                labels_key(DRIFT_SERIES, attrs), values, describe(DRIFT_SERIES, attrs), model, version,
                np.nan_to_num(flagged) > 0,
            )
        )  # fmt: skip
    return Inputs(grid, model_side, kpis)


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding as kept in the store: with when it was first seen and last confirmed."""

    finding: Finding
    sentence: str
    first_seen: float
    last_confirmed: float
    expired_at: float | None


def _nullable(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _row(finding: Finding, *, first_seen: float, now: float) -> dict[str, Any]:
    incident = None if finding.incident is None else json.dumps(asdict(finding.incident))
    return {
        "metric": finding.metric,
        "kpi": finding.kpi,
        "model": finding.model,
        "version": finding.version,
        "metric_label": finding.metric_label or finding.metric,
        "direction": finding.direction,
        "status": finding.status,
        "lag_seconds": finding.lag_seconds,
        "strength": finding.strength,
        "p_value": finding.p_value,
        "q_value": finding.q_value,
        "n": finding.n,
        "granger_p": _nullable(finding.granger_p),
        "reverse_p": _nullable(finding.reverse_p),
        "reverse_warning": finding.reverse_warning,
        "effect": _nullable(finding.effect),
        "effect_low": _nullable(finding.effect_low),
        "effect_high": _nullable(finding.effect_high),
        "events_model": finding.events_model,
        "events_matched": finding.events_matched,
        "event_effect": _nullable(finding.event_effect),
        "evidence": finding.evidence,
        "score": finding.score,
        "evidence_start": finding.evidence_start,
        "evidence_end": finding.evidence_end,
        "incident": incident,
        "unit": json.dumps(asdict(finding.unit)),
        "sentence": finding.sentence,
        "first_seen": first_seen,
        "last_confirmed": now,
        "expired_at": None,
        "method": finding.method,
        "placebos": finding.placebos,
        "exceeded_by": finding.exceeded_by,
    }


def _finding(row: Any) -> StoredFinding:
    incident = None if row.incident is None else IncidentEstimate(**json.loads(row.incident))
    finding = Finding(
        metric=row.metric, kpi=row.kpi, direction=row.direction, lag_seconds=row.lag_seconds, strength=row.strength,
        p_value=row.p_value, q_value=row.q_value, n=row.n, evidence_start=row.evidence_start,
        evidence_end=row.evidence_end, model=row.model, version=row.version, metric_label=row.metric_label,
        granger_p=row.granger_p, reverse_p=row.reverse_p, reverse_warning=row.reverse_warning, effect=row.effect,
        effect_low=row.effect_low, effect_high=row.effect_high, events_model=row.events_model,
        events_matched=row.events_matched, event_effect=row.event_effect, incident=incident,
        unit=KpiUnit(**json.loads(row.unit)), status=row.status, method=row.method, placebos=row.placebos,
        exceeded_by=row.exceeded_by,
    )  # fmt: skip
    return StoredFinding(finding, row.sentence, row.first_seen, row.last_confirmed, row.expired_at)


def save_run(connection: Connection, result: RunResult, *, now: float, expire_after: float) -> tuple[int, int]:
    """Store a run's findings (active) and expire those whose evidence stopped; returns (stored, expired)."""
    stored = {(s.finding.metric, s.finding.kpi): s for s in map(_finding, connection.execute(select(correlation_findings)))}
    upserts, expired = reconcile(
        {key: s.finding for key, s in stored.items()},
        result.findings,
        result.tested,
        now=now,
        last_confirmed={key: s.last_confirmed for key, s in stored.items()},
        expire_after=expire_after,
    )
    for finding in upserts:
        key = (finding.metric, finding.kpi)
        previous = stored.get(key)
        first = previous.first_seen if previous is not None and previous.finding.status == "active" else now
        table = correlation_findings.c
        connection.execute(delete(correlation_findings).where(table.metric == key[0], table.kpi == key[1]))
        connection.execute(correlation_findings.insert().values(**_row(finding, first_seen=first, now=now)))
    for metric, kpi in expired:
        connection.execute(
            update(correlation_findings)
            .where(correlation_findings.c.metric == metric, correlation_findings.c.kpi == kpi)
            .values(status="expired", expired_at=now)
        )
    return len(upserts), len(expired)


def list_findings(
    connection: Connection,
    *,
    model: str | None = None,
    kpi: str | None = None,
    status: str | None = "active",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[StoredFinding], int]:
    """Findings best first (score, then |strength|), filtered; returns one page and the total."""
    table = correlation_findings.c
    conditions = []
    if model is not None:
        conditions.append(table.model == model)
    if kpi is not None:
        conditions.append(table.kpi == kpi)
    if status is not None:
        conditions.append(table.status == status)
    total = int(connection.execute(select(func.count()).select_from(correlation_findings).where(*conditions)).scalar_one())
    rows = connection.execute(
        select(correlation_findings)
        .where(*conditions)
        .order_by(table.status, table.score.desc(), table.metric, table.kpi)
        .limit(limit)
        .offset(offset)
    )
    return [_finding(row) for row in rows], total
