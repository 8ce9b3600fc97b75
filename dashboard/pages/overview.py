"""Overview: one health row per model version, worst first, each linking to its drift page."""

from __future__ import annotations

import streamlit as st

from dashboard.common import View, client, controls, run_body
from dashboard.health import health_rows

__all__ = ["page"]


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
    if drifting:
        worst = drifting[0]
        st.error(f"**{worst.model} {worst.version}** is drifting on {worst.drifting} features.", icon=":material/warning:")
    st.dataframe(
        [
            {
                "model": r.model,
                "version": r.version,
                "status": r.status,
                "drifting / tested": r.drifting,
                "drift share": r.drift_share,
                "quality trend": r.quality,
                "latency p95 (ms)": r.latency_p95_ms,
                "GPU utilisation": r.gpu_utilization,
                "linked KPI": r.kpi,
                "alerts firing": r.alerts_firing,
                "predictions": r.predictions,
                "details": r.link,
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
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
