"""Alerts & actions: the alert timeline with rollbacks, silencing from the page, the action audit."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import plotly.graph_objects as go
import streamlit as st

from dashboard.charts import ALARM, EVENT_COLOURS
from dashboard.client import Action, Alert, ApiError
from dashboard.common import View, client, coloured_table, controls, fmt_time, not_available, run_body

__all__ = ["page"]

_SEVERITY_COLOURS = {"critical": ALARM, "error": "#e67e22", "warning": "#f1c40f", "info": "#3498db"}


def _timeline(alerts: list[Alert], actions: list[Action], view: View) -> go.Figure:
    figure = go.Figure()
    for alert in alerts:
        end = alert.ends_at if alert.ends_at is not None else view.end
        figure.add_trace(
            go.Scatter(
                x=[datetime.fromtimestamp(alert.starts_at, tz=UTC), datetime.fromtimestamp(end, tz=UTC)],
                y=[alert.alertname, alert.alertname],
                mode="lines+markers",
                line={"color": _SEVERITY_COLOURS.get(alert.severity, ALARM), "width": 8},
                name=f"{alert.alertname} ({alert.state})",
                hovertext=alert.summary,
            )
        )
    if actions:
        figure.add_trace(
            go.Scatter(
                x=[datetime.fromtimestamp(a.at, tz=UTC) for a in actions],
                y=["rollback actions"] * len(actions),
                mode="markers",
                marker={"color": EVENT_COLOURS["rollback"], "size": 12, "symbol": "diamond"},
                name="rollback actions",
                hovertext=[f"{a.action}: {a.outcome}" for a in actions],
            )
        )
    figure.update_layout(title="Alerts and actions", height=320, margin={"t": 50}, showlegend=False)
    return figure


def _silence_form(view: View, alerts: list[Alert]) -> None:
    with st.form("silence"):
        st.markdown("**Silence alerts**")
        names = sorted({a.alertname for a in alerts}) or [""]
        alertname = st.selectbox("Alert name", names)
        model = st.text_input("Model (empty: any)", value=view.model or "")
        hours = st.number_input("For hours", min_value=0.25, max_value=24.0 * 14, value=2.0, step=0.25)
        comment = st.text_input("Comment", placeholder="why")
        if st.form_submit_button("Silence"):
            matchers = {k: v for k, v in (("alertname", alertname), ("model", model)) if v}
            if not matchers:
                st.warning("Give an alert name or a model to silence.")
                return
            try:
                client().silence(matchers, duration_seconds=hours * 3600, comment=comment, created_by="dashboard")
            except ApiError as exc:
                not_available("Silences", exc)
            except httpx.HTTPError as exc:
                st.warning(f"Cannot create the silence: {exc}")
            else:
                st.success(f"Silenced {matchers} for {hours:g} h.")


def _body(view: View) -> None:
    alerts: list[Alert] = []
    actions: list[Action] = []
    try:
        alerts = client().alerts()
    except ApiError as exc:
        not_available("Alerts", exc)
    except httpx.HTTPError as exc:
        st.warning(f"Cannot read alerts: {exc}")
    try:
        actions = client().actions()
    except ApiError as exc:
        not_available("Rollback audit", exc)
    except httpx.HTTPError as exc:
        st.warning(f"Cannot read actions: {exc}")
    in_range = [a for a in alerts if (a.ends_at or view.end) >= view.start]
    firing = [a for a in alerts if a.state == "firing"]
    st.metric("Alerts firing", len(firing))
    if in_range or actions:
        st.plotly_chart(_timeline(in_range, actions, view), width="stretch", key="timeline")
    else:
        st.info(f"No alerts or actions in the last {view.range_label}.", icon=":material/notifications_off:")
    if alerts:
        coloured_table(
            [
                {
                    "alert": a.alertname,
                    "state": a.state,
                    "severity": a.severity,
                    "summary": a.summary,
                    "labels": ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
                    "since (UTC)": fmt_time(a.starts_at),
                    "until (UTC)": fmt_time(a.ends_at),
                }
                for a in sorted(alerts, key=lambda a: (a.state != "firing", -a.starts_at))
            ],
            "state",
            key="alerts",
        )
    _silence_form(view, alerts)
    st.subheader("Action audit")
    if actions:
        st.dataframe(
            [
                {
                    "time (UTC)": fmt_time(a.at),
                    "action": a.action,
                    "alert": a.alertname,
                    "outcome": a.outcome,
                    "dry run": a.dry_run,
                    "detail": a.detail,
                }
                for a in sorted(actions, key=lambda a: -a.at)
            ],
            hide_index=True,
            width="stretch",
            key="actions",
        )
    else:
        st.caption("No rollback actions recorded.")


def page() -> None:
    view = controls("Alerts & actions")
    if view is not None:
        run_body(view, _body)
