"""Model events to draw on KPI charts: deployments, drift onsets, quality drops, quality alerts, rollbacks."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import httpx

from dashboard.client import Action, Alert, ApiError, DriftlineClient, DriftResult, ModelVersion, QualityWindow

__all__ = ["drift_onset", "model_events", "quality_drops"]

Event = tuple[float, str, str]  # (unix time, kind, text); kind picks the colour in dashboard.charts


def drift_onset(history: Sequence[DriftResult]) -> float | None:
    """Start of the current unbroken run of drifting windows (None when the newest is not drifting).

    >>> r = lambda end, drift: DriftResult("x", "ks", 0.3, 0.01, 0.3, 0.05, drift, end - 60, end, 100)
    >>> drift_onset([r(60, False), r(120, True), r(180, True)])
    60.0
    >>> drift_onset([r(60, True), r(120, False)]) is None
    True
    """
    start = None
    for result in history:
        start = (result.window_start if start is None else start) if result.drift_detected else None
    return None if start is None else float(start)


def _alert_events(alerts: Sequence[Alert]) -> list[Event]:
    return [
        (a.starts_at, "quality", f"{a.alertname} {a.labels.get('model', '')} {a.labels.get('version', '')}".strip())
        for a in alerts
        if "quality" in a.alertname.lower() and a.state != "pending"
    ]


def quality_drops(model: str, version: str, windows: Sequence[QualityWindow]) -> list[Event]:
    """One event where each run of windows in which the error-rate detector alarmed begins.

    >>> w = lambda start, drift, accuracy: QualityWindow(start, start + 300, 100, {"accuracy": accuracy}, drift)
    >>> quality_drops("m", "v2", [w(900, True, 0.7), w(600, True, 0.8), w(300, False, 0.9), w(0, True, 0.6)])
    [(0, 'quality', 'quality drop m v2 (accuracy 0.6)'), (600, 'quality', 'quality drop m v2 (accuracy 0.8)')]
    """
    events: list[Event] = []
    before = False
    for window in sorted(windows, key=lambda w: w.window_start):
        if window.drift_detected and not before and window.metrics:
            name = "accuracy" if "accuracy" in window.metrics else min(window.metrics)
            what = f"{name} {window.metrics[name]:.3g}"
            events.append((window.window_start, "quality", f"quality drop {model} {version} ({what})"))
        before = window.drift_detected
    return events


def _action_events(actions: Sequence[Action]) -> list[Event]:
    return [
        (a.at, "rollback", f"{a.policy}: {a.action}{' (dry run)' if a.dry_run else ''} {a.result}")
        for a in actions
        if a.decision in ("run", "dry_run")
    ]


def model_events(client: DriftlineClient, models: Sequence[ModelVersion], start: float, end: float) -> list[Event]:
    """Every model event in [start, end], oldest first; endpoints the server lacks add none."""
    events: list[Event] = [
        (m.created_at, "deploy", f"deployed {m.model} {m.version}")
        for m in models
        if m.created_at is not None and start <= m.created_at <= end
    ]
    for m in models:
        if m.features_drifting == 0:
            continue
        try:
            latest = [r for r in client.drift(m.model, m.version) if r.drift_detected]
            if not latest:
                continue
            top = max(latest, key=lambda r: r.effect_size).feature
            onset = drift_onset(client.drift_history(m.model, m.version, start=start, end=end, feature=top))
        except (ApiError, httpx.HTTPError):
            continue
        if onset is not None:
            events.append((onset, "drift", f"drift onset {m.model} {m.version} ({top})"))
    for m in models:
        with contextlib.suppress(ApiError, httpx.HTTPError):  # 404 until labels join
            events += quality_drops(m.model, m.version, client.quality(m.model, m.version).history)
    with contextlib.suppress(ApiError, httpx.HTTPError):
        events += _alert_events(client.alerts())
    with contextlib.suppress(ApiError, httpx.HTTPError):
        events += _action_events(client.actions())
    return sorted(e for e in events if start <= e[0] <= end)
