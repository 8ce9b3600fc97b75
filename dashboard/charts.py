"""Plotly figures for the pages, built from the client's typed values (no Streamlit here).

Colours are chosen to read on light and dark backgrounds alike; Streamlit's plotly theme sets
the background and fonts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import plotly.graph_objects as go

from dashboard.client import Distribution, DriftResult, Series

__all__ = [
    "ALARM",
    "CURRENT",
    "REFERENCE",
    "distribution_figure",
    "drift_score",
    "drift_score_figure",
    "lag_figure",
    "series_figure",
]

REFERENCE = "#7f8c8d"  # grey: the past
CURRENT = "#2e86de"  # blue: now
ALARM = "#e74c3c"  # red: drift, alerts, rollbacks
EVENT_COLOURS = {"drift": ALARM, "quality": "#e67e22", "deploy": "#27ae60", "rollback": "#8e44ad", "alert": "#c0392b"}


def _times(ts: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, tz=UTC) for t in ts]


def drift_score(result: DriftResult) -> float:
    """One feature's evidence of drift on a common scale: 1.0 is its test's threshold.

    P-value tests are scored ``log10(p) / log10(threshold)`` (so p = threshold gives 1, smaller p
    more); distance tests ``statistic / threshold``. A test's verdict may still be "no drift"
    above 1 when the effect size is under its floor.

    >>> from dashboard.client import DriftResult
    >>> ks = DriftResult("age", "ks", 0.2, 0.0005, 0.2, 0.05, True, 0, 60, 500)
    >>> js = DriftResult("plan", "jensen_shannon", 0.05, None, 0.05, 0.1, False, 0, 60, 500)
    >>> round(drift_score(ks), 2), round(drift_score(js), 2)
    (2.54, 0.5)
    """
    if result.p_value is not None and 0 < result.threshold < 1:
        p = max(result.p_value, 1e-300)
        return math.log10(p) / math.log10(result.threshold)
    return result.statistic / result.threshold if result.threshold > 0 else 0.0


def drift_score_figure(history: Sequence[DriftResult], feature: str) -> go.Figure:
    """A feature's drift score per window, with the threshold line and alarm markers."""
    ends = _times([r.window_end for r in history])
    scores = [drift_score(r) for r in history]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=ends, y=scores, mode="lines+markers", name="drift score", line={"color": CURRENT}))
    alarms = [i for i, r in enumerate(history) if r.drift_detected]
    figure.add_trace(
        go.Scatter(
            x=[ends[i] for i in alarms],
            y=[scores[i] for i in alarms],
            mode="markers",
            name="drift detected",
            marker={"color": ALARM, "size": 12, "symbol": "x"},
        )
    )
    figure.add_hline(y=1.0, line_dash="dash", line_color=ALARM, annotation_text="threshold")
    figure.update_layout(
        title=f"Drift score of {feature} per window", yaxis_title="score (1 = test threshold)", height=320, margin={"t": 50}
    )
    return figure


def _bin_bounds(distribution: Distribution) -> tuple[np.ndarray, np.ndarray]:
    """Left and right bounds of the reference's bins; the open outer bins end at the data's range."""
    edges = np.asarray(distribution.edges, dtype=np.float64)
    span = float(edges[-1] - edges[0]) if edges.size > 1 else 1.0
    low = distribution.low if distribution.low is not None and distribution.low < edges[0] else edges[0] - 0.1 * span
    high = distribution.high if distribution.high is not None and distribution.high > edges[-1] else edges[-1] + 0.1 * span
    bounds = np.concatenate([[low], edges, [high]])
    return bounds[:-1], bounds[1:]


def distribution_figure(distribution: Distribution, *, cumulative: bool = False) -> go.Figure:
    """Reference vs current: density histograms on the reference's bins, or category shares.

    ``cumulative`` draws numbers as ECDFs instead, evaluated at the bin edges; the largest vertical
    gap between the two curves is the binned Kolmogorov-Smirnov statistic.
    """
    figure = go.Figure()
    reference = np.asarray(distribution.reference_counts, dtype=np.float64)
    current = None if distribution.current_counts is None else np.asarray(distribution.current_counts, dtype=np.float64)
    shares = [("reference", reference, REFERENCE)]
    if current is not None and current.sum() > 0:
        shares.append(("current window", current, CURRENT))
    if distribution.kind == "numeric" and distribution.edges and cumulative:
        left, right = _bin_bounds(distribution)
        x = np.concatenate([left[:1], right])
        for name, counts, colour in shares:
            ecdf = np.concatenate([[0.0], np.cumsum(counts) / max(counts.sum(), 1.0)])
            figure.add_trace(go.Scatter(x=x.tolist(), y=ecdf.tolist(), mode="lines", name=name, line={"color": colour}))
        figure.update_layout(yaxis_title="share of rows at or below", yaxis_tickformat=".0%", xaxis_title=distribution.feature)
    elif distribution.kind == "numeric" and distribution.edges:
        left, right = _bin_bounds(distribution)
        widths = np.maximum(right - left, 1e-12)
        for name, counts, colour in shares:
            density = counts / max(counts.sum(), 1.0) / widths
            figure.add_trace(go.Bar(x=(left + right) / 2, y=density, width=widths, name=name, marker_color=colour, opacity=0.55))
        figure.update_layout(barmode="overlay", yaxis_title="density", xaxis_title=distribution.feature)
    else:
        categories = list(distribution.categories) or [str(i) for i in range(reference.size)]
        for name, counts, colour in shares:
            figure.add_trace(go.Bar(x=categories, y=counts / max(counts.sum(), 1.0), name=name, marker_color=colour))
        figure.update_layout(barmode="group", yaxis_title="share of rows", yaxis_tickformat=".0%")
    figure.update_layout(title=f"{distribution.feature}: reference vs current window", height=340, margin={"t": 50})
    return figure


def series_figure(
    series: Sequence[Series],
    *,
    title: str,
    label_key: str | None = None,
    value: str = "mean",
    events: Sequence[tuple[float, str, str]] = (),
    y_title: str = "",
) -> go.Figure:
    """One line per series (named by ``label_key``), with events as vertical lines on the same axis.

    ``events`` are ``(unix time, kind, text)``; ``kind`` picks the colour (drift, quality, deploy,
    rollback, alert).
    """
    figure = go.Figure()
    lows = []
    for one in series:
        name = str(one.labels.get(label_key, "")) if label_key else ""
        values = list(getattr(one, value))
        if values:
            lows.append(min(values))
        figure.add_trace(go.Scatter(x=_times(one.t), y=values, mode="lines", name=name or title))
    # each event: a dotted line across the chart, and a marker at the data's floor for its legend entry and hover text
    floor = min(lows) if lows else 0.0
    for t, kind, text in events:
        figure.add_vline(x=t * 1000.0, line_dash="dot", line_color=EVENT_COLOURS.get(kind, ALARM))
        figure.add_trace(
            go.Scatter(
                x=[datetime.fromtimestamp(t, tz=UTC)],
                y=[floor],
                mode="markers",
                name=text,
                marker={"color": EVENT_COLOURS.get(kind, ALARM), "symbol": "triangle-up", "size": 10},
                hovertext=text,
                showlegend=True,
            )
        )
    figure.update_layout(title=title, height=320, margin={"t": 50}, yaxis_title=y_title, hovermode="x unified")
    return figure


def lag_pairs(metric: Series, kpi: Series, lag_seconds: float) -> tuple[list[float], list[float]]:
    """Pairs (metric at t, KPI at t + lag) on the buckets both series have.

    >>> from dashboard.client import Series
    >>> m = Series({}, (0.0, 60.0, 120.0), (1.0, 2.0, 3.0), (), (), ())
    >>> k = Series({}, (60.0, 120.0, 180.0), (10.0, 20.0, 30.0), (), (), ())
    >>> lag_pairs(m, k, 60.0)
    ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    """
    kpi_at = dict(zip(kpi.t, kpi.mean, strict=True))
    xs, ys = [], []
    for t, x in zip(metric.t, metric.mean, strict=True):
        y = kpi_at.get(t + lag_seconds)
        if y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def lag_figure(metric: Series, kpi: Series, lag_seconds: float, metric_name: str, kpi_name: str) -> go.Figure:
    """The evidence behind a finding: the KPI ``lag`` later against the model metric now."""
    xs, ys = lag_pairs(metric, kpi, lag_seconds)
    figure = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", marker={"color": CURRENT, "opacity": 0.7}, name="buckets"))
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        line_x = [min(xs), max(xs)]
        figure.add_trace(
            go.Scatter(x=line_x, y=[slope * x + intercept for x in line_x], mode="lines", name="fit", line={"color": ALARM})
        )
    figure.update_layout(
        title=f"{kpi_name} {lag_seconds / 60:g} min later vs {metric_name}",
        xaxis_title=metric_name,
        yaxis_title=kpi_name,
        height=320,
        margin={"t": 50},
    )
    return figure
