"""Overview: one health row per model version, worst first, each linking to its drift page."""

from __future__ import annotations

import httpx
import streamlit as st

from dashboard.client import ApiError
from dashboard.common import View, client, coloured_table, controls, fmt_time, run_body
from dashboard.events import drift_onset
from dashboard.health import health_rows

__all__ = ["page"]


def _drift_sentence(view: View, model: str, version: str) -> str:
    """E.g. "credit v2 is drifting on income, age (2 of 9 features) since 2026-11-30 07:10 UTC"."""
    try:
        results = client().drift(model, version)
        features = sorted((r for r in results if r.drift_detected), key=lambda r: -r.effect_size)
        onset = (
            drift_onset(client().drift_history(model, version, start=view.start, end=view.end, feature=features[0].feature))
            if features
            else None
        )
    except (ApiError, httpx.HTTPError):
        return f"**{model} {version}** is drifting."
    names = ", ".join(f"`{r.feature}`" for r in features[:5]) + (" …" if len(features) > 5 else "")
    since = f" since {fmt_time(onset)} UTC" if onset is not None else ""
    return f"**{model} {version}** is drifting on {names} ({len(features)} of {len(results)} features){since}."


def _body(view: View) -> None:
    if not view.models:
        st.info(
            "No models yet. Send `ml.inference` events (OTLP logs or `POST /api/v1/events`) and upload a reference "
            "with `driftline reference upload MODEL VERSION FILE`; each model version then gets a row here.",
            icon=":material/inbox:",
        )
        return
    rows = health_rows(client(), view.models, view.start, view.end)
    drifting = [r for r in rows if r.drift_share > 0]
    left, middle, right = st.columns(3)
    left.metric("Model versions", len(rows))
    middle.metric("Drifting", len(drifting))
    right.metric("Alerts firing", sum(r.alerts_firing or 0 for r in rows))
    for worst in drifting[:3]:
        st.error(_drift_sentence(view, worst.model, worst.version), icon=":material/warning:")
    coloured_table(
        [
            {
                "model": r.model,
                "version": r.version,
                "status": r.status,
                "details": r.link,
                "drifting / tested": r.drifting,
                "drift share": r.drift_share,
                "quality trend": r.quality,
                "latency p95 (ms)": r.latency_p95_ms,
                "GPU utilisation": r.gpu_utilization,
                "linked KPI": r.kpi,
                "alerts firing": r.alerts_firing,
                "gate": r.gate,
                "predictions": r.predictions,
            }
            for r in rows
        ],
        ["status", "gate"],
        key="health",
        column_config={
            "drift share": st.column_config.ProgressColumn("drift share", format="percent", min_value=0.0, max_value=1.0),
            "latency p95 (ms)": st.column_config.NumberColumn(format="%.1f"),
            "GPU utilisation": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
            "details": st.column_config.LinkColumn("details", display_text="open drift"),
        },
    )
    st.caption("Sort by any column header. Rows are worst first: share of drifting features, then firing alerts.")


def page() -> None:
    view = controls("Overview")
    if view is not None:
        run_body(view, _body)
