"""Findings: what the engine reports about one (model metric, KPI) pair, how it ranks and expires."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from monitor.correlation.impact import KpiUnit, format_duration

__all__ = ["Finding", "IncidentEstimate", "bh_q_values", "reconcile", "sentence"]

Direction = Literal["model_leads", "kpi_leads"]
Method = Literal["correlation", "event"]


def bh_q_values(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN and are not counted.

    Rejecting every test with ``q < alpha`` controls the false discovery rate at ``alpha``.

    Examples
    --------
    >>> bh_q_values([0.01, np.nan, 0.02, 0.5]).tolist()
    [0.03, nan, 0.03, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return q


@dataclass(frozen=True, slots=True)
class IncidentEstimate:
    """The KPI change over the latest incident of the model metric (e.g. a drift episode)."""

    start: float
    end: float
    kpi_change: float
    low: float
    high: float
    value: float | None = None
    value_low: float | None = None
    value_high: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One model metric linked to one KPI, with all its evidence.

    ``strength`` is the signed correlation of the pre-whitened series at ``lag_seconds``
    (positive: the KPI rises with the metric). ``effect`` is KPI units per metric unit.
    ``evidence`` counts the independent lines that agree: lagged correlation (always), the
    Granger test and matched change points. ``event_effect`` is the event study's KPI change
    per unit of metric change across the metric's change points (least squares through the
    origin, so the largest changes weigh most).

    ``method`` says which test found the link: ``correlation`` (the lagged cross-correlation,
    with the fields above) or ``event`` (one incident's onset followed by an unusual KPI shift,
    :mod:`~monitor.correlation.shifts`). For an event finding, ``strength`` is the shift's
    partial correlation with the KPI given its trend, ``p_value`` the placebo rank: the KPI
    shifted at least as much at ``exceeded_by`` of ``placebos`` earlier positions; ``effect`` is
    the KPI shift per unit of the metric's change at the onset and ``incident`` the shift itself.
    """

    metric: str
    kpi: str
    direction: Direction
    lag_seconds: float
    strength: float
    p_value: float
    q_value: float
    n: int
    evidence_start: float
    evidence_end: float
    model: str | None = None
    version: str | None = None
    metric_label: str = ""
    granger_p: float | None = None
    reverse_p: float | None = None
    reverse_warning: bool = False
    effect: float | None = None
    effect_low: float | None = None
    effect_high: float | None = None
    events_model: int = 0
    events_matched: int = 0
    event_effect: float | None = None
    incident: IncidentEstimate | None = None
    unit: KpiUnit = field(default_factory=KpiUnit)
    alpha: float = 0.05
    status: Literal["active", "expired"] = "active"
    method: Method = "correlation"
    placebos: int = 0
    exceeded_by: int = 0

    @property
    def evidence(self) -> int:
        if self.method == "event":
            return 1
        granger = self.granger_p is not None and self.granger_p < self.alpha
        return 1 + int(granger) + int(self.events_matched > 0)

    @property
    def score(self) -> float:
        """Ranking key: lines of evidence first, then strength; KPI-leads findings rank last."""
        return (0.0 if self.direction == "kpi_leads" else float(self.evidence)) + abs(self.strength)

    @property
    def sentence(self) -> str:
        return sentence(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: nested dataclasses as objects, non-finite numbers as None, plus sentence and score."""
        return {**_json_safe(asdict(self)), "evidence": self.evidence, "score": self.score, "sentence": self.sentence}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _with_unit(value: float, unit: KpiUnit) -> str:
    return f"{_number(value)} {unit.unit}".rstrip()


def sentence(finding: Finding) -> str:
    """One plain-English sentence for the dashboard's business page.

    Examples
    --------
    >>> f = Finding("driftline.model.latency{model=m,version=v1}", "conversion", "model_leads", 2400.0, -0.42,
    ...             1e-9, 2e-8, 4000, 0.0, 86400.0, metric_label="latency of m v1", effect=-0.9,
    ...             effect_low=-1.1, effect_high=-0.7, unit=KpiUnit("points", 1.144, "orders"), events_matched=1,
    ...             incident=IncidentEstimate(0.0, 12000.0, -1.8, -2.2, -1.4, -411.8, -503.4, -320.3))
    >>> f.sentence  # doctest: +NORMALIZE_WHITESPACE
    'When latency of m v1 rises by one unit, conversion falls by 0.9 points (95% CI 0.7 to 1.1) about 40 min later
    (correlation -0.42, q = 2e-08, 2 lines of evidence); in the latest incident conversion was 1.8 points lower for
    3 h 20 min ≈ 412 orders.'
    """
    label = finding.metric_label or finding.metric
    lag = format_duration(finding.lag_seconds)
    q = f"{finding.q_value:.2g}"
    if finding.direction == "kpi_leads":
        return (
            f"{finding.kpi} moves about {lag} before {label} (correlation {finding.strength:+.2f}, q = {q}): "
            f"the KPI, or something behind it, drives the metric, not the other way round."
        )
    unit = finding.unit
    if finding.method == "event":
        return _event_sentence(finding, label, lag, q)
    if finding.effect is None or not math.isfinite(finding.effect):
        change = "rises" if finding.strength > 0 else "falls"
        text = f"When {label} rises, {finding.kpi} {change} about {lag} later"
    else:
        change = "rises" if finding.effect > 0 else "falls"
        low, high = sorted((abs(finding.effect_low or 0.0), abs(finding.effect_high or 0.0)))
        text = (
            f"When {label} rises by one unit, {finding.kpi} {change} by {_with_unit(abs(finding.effect), unit)} "
            f"(95% CI {_number(low)} to {_number(high)}) about {lag} later"
        )
    plural = "s" if finding.evidence > 1 else ""
    text += f" (correlation {finding.strength:+.2f}, q = {q}, {finding.evidence} line{plural} of evidence)"
    if finding.reverse_warning:
        text += f"; beware, {finding.kpi} also predicts {label}, so the link may run both ways"
    incident = finding.incident
    if incident is not None and math.isfinite(incident.kpi_change):
        direction = "lower" if incident.kpi_change < 0 else "higher"
        text += (
            f"; in the latest incident {finding.kpi} was {_with_unit(abs(incident.kpi_change), unit)} {direction} "
            f"for {format_duration(incident.end - incident.start)}"
        )
        if incident.value is not None and unit.value_name:
            text += f" ≈ {abs(incident.value):,.0f} {unit.value_name}"
    return text + "."


def _event_sentence(finding: Finding, label: str, lag: str, q: str) -> str:
    """The sentence of an event finding: what the KPI did after the incident began, and how unusual that is.

    Examples
    --------
    >>> f = Finding("driftline.feature.drift{feature=income,model=m,version=v2}", "losses", "model_leads", 1800.0,
    ...             0.93, 0.0055, 0.0165, 60, 0.0, 86400.0, metric_label="drift on income (m v2)", method="event",
    ...             placebos=181, unit=KpiUnit("USD/h"),
    ...             incident=IncidentEstimate(19800.0, 30600.0, 8123.0, 7411.0, 8835.0))
    >>> f.sentence  # doctest: +NORMALIZE_WHITESPACE
    'About 30 min after drift on income (m v2) began, losses rose by 8,123 USD/h (95% CI 7,411 to 8,835), over
    twice the largest shift at 181 earlier moments (p = 0.0055, q = 0.017); one incident, so a coincident cause
    cannot be ruled out.'
    """
    incident = finding.incident
    when = f"As {label} began" if finding.lag_seconds < 60.0 else f"About {lag} after {label} began"
    if incident is None or not math.isfinite(incident.kpi_change):
        text = f"{when}, {finding.kpi} shifted"
    else:
        change = "rose" if incident.kpi_change > 0 else "fell"
        low, high = sorted((abs(incident.low), abs(incident.high)))
        text = (
            f"{when}, {finding.kpi} {change} by {_with_unit(abs(incident.kpi_change), finding.unit)} "
            f"(95% CI {_number(low)} to {_number(high)})"
        )
    if finding.exceeded_by == 0:
        rank = f"over twice the largest shift at {finding.placebos} earlier moments"
    else:
        rank = f"a shift half as large came at only {finding.exceeded_by} of {finding.placebos} earlier moments"
    text += f", {rank} (p = {finding.p_value:.2g}, q = {q}); one incident, so a coincident cause cannot be ruled out"
    if incident is not None and incident.value is not None and finding.unit.value_name:
        text += f"; over the incident ≈ {abs(incident.value):,.0f} {finding.unit.value_name}"
    return text + "."


def reconcile(
    stored: Mapping[tuple[str, str], Finding],
    found: Iterable[Finding],
    tested: set[tuple[str, str]],
    *,
    now: float,
    last_confirmed: Mapping[tuple[str, str], float],
    expire_after: float,
) -> tuple[list[Finding], list[tuple[str, str]]]:
    """What to write after a run: findings to upsert (active) and keys of findings to expire.

    A stored finding expires when the run *tested* its pair with enough data and found no
    evidence, or when its evidence was last confirmed more than ``expire_after`` seconds ago
    (its series stopped, or were not tested).

    Examples
    --------
    >>> old = Finding("x", "k", "model_leads", 60.0, 0.3, 1e-6, 1e-5, 500, 0.0, 1.0)
    >>> stored = {("x", "k"): old, ("z", "k"): replace(old, metric="z")}
    >>> upserts, expired = reconcile(stored, [], {("x", "k")}, now=100.0, last_confirmed={("z", "k"): 90.0},
    ...                              expire_after=60.0)
    >>> upserts, expired
    ([], [('x', 'k')])
    """
    fresh = [replace(f, status="active") for f in found]
    keys = {(f.metric, f.kpi) for f in fresh}
    expired = []
    for key, finding in stored.items():
        if key in keys or finding.status == "expired":
            continue
        stale = now - last_confirmed.get(key, -math.inf) > expire_after
        if key in tested or stale:
            expired.append(key)
    return fresh, sorted(expired)
