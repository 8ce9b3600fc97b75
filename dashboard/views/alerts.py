"""Alerts & actions: the alert timeline with rollbacks, silencing from the page, the action audit."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import plotly.graph_objects as go
import streamlit as st

from dashboard.charts import ALARM, EVENT_COLOURS
from dashboard.client import Action, Alert, ApiError
from dashboard.common import View, client, coloured_table, controls, fetch, fmt_time, not_available, run_body

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
                hovertext=[f"{a.policy}: {a.action} {a.decision} ({a.result})" for a in actions],
            )
        )
    figure.update_layout(title="Alerts and actions", height=320, margin={"t": 50}, showlegend=False)
    return figure


def _silence_form(view: View, alerts: list[Alert]) -> None:
    with st.form("silence"):
        st.markdown("**Silence alerts**")
        names = sorted({a.alertname for a in alerts}) or [""]
        alertname = st.selectbox("Alert name", names, key="silence_alertname")
        model = st.text_input("Model (empty: any)", value=view.model or "", key="silence_model")
        hours = st.number_input("For hours", min_value=0.25, max_value=24.0 * 14, value=2.0, step=0.25, key="silence_hours")
        comment = st.text_input("Comment", placeholder="why", key="silence_comment")
        if st.form_submit_button("Silence"):
            matchers = {k: v for k, v in (("alertname", alertname), ("model", model)) if v}
            if not matchers:
                st.warning("Give an alert name or a model to silence.")
                return
            try:
                made = client().silence(matchers, duration_seconds=hours * 3600, comment=comment, created_by="dashboard")
            except ApiError as exc:
                not_available("Silences", exc)
            except httpx.HTTPError as exc:
                st.warning(f"Cannot create the silence: {exc}")
            else:
                st.success(f"Silenced {', '.join(made.matchers)} until {fmt_time(made.ends_at)} UTC.")


def _silences() -> None:
    try:
        silences = client().silences()
    except (ApiError, httpx.HTTPError) as exc:
        st.warning(f"Cannot read silences: {exc}")
        return
    if not silences:
        st.caption("No active silences.")
        return
    st.dataframe(
        [
            {
                "matchers": ", ".join(s.matchers),
                "from (UTC)": fmt_time(s.starts_at),
                "until (UTC)": fmt_time(s.ends_at),
                "by": s.created_by,
                "comment": s.comment,
                "active": s.active,
            }
            for s in silences
        ],
        hide_index=True,
        width="stretch",
        key="silences",
    )


def _body(view: View) -> None:
    alerts: list[Alert] = fetch("Alerts", client().alerts) or []
    actions: list[Action] = fetch("Rollback audit", client().actions) or []
    in_range = [a for a in alerts if (a.ends_at or view.end) >= view.start]
    actions_in_range = [a for a in actions if a.at >= view.start]
    left, middle, right = st.columns(3)
    left.metric("Alerts firing", sum(a.state == "firing" for a in alerts))
    middle.metric("Pending", sum(a.state == "pending" for a in alerts))
    right.metric("Silenced", sum(a.silenced for a in alerts))
    if in_range or actions_in_range:
        st.plotly_chart(_timeline(in_range, actions_in_range, view), width="stretch", key="timeline")
    else:
        st.info(f"No alerts or actions in the last {view.range_label}.", icon=":material/notifications_off:")
    if alerts:
        order = {"firing": 0, "pending": 1, "resolved": 2}
        coloured_table(
            [
                {
                    "alert": a.alertname,
                    "state": a.state,
                    "severity": a.severity,
                    "silenced": a.silenced,
                    "summary": a.summary,
                    "labels": ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("alertname", "severity")),
                    "since (UTC)": fmt_time(a.starts_at),
                    "until (UTC)": fmt_time(a.ends_at),
                }
                for a in sorted(alerts, key=lambda a: (order.get(a.state, 3), -a.starts_at))
            ],
            "state",
            key="alerts",
        )
    _silence_form(view, alerts)
    _silences()
    st.subheader("Action audit")
    if actions:
        st.dataframe(
            [
                {
                    "time (UTC)": fmt_time(a.at),
                    "policy": a.policy,
                    "action": a.action,
                    "decision": a.decision,
                    "result": a.result,
                    "alert": a.alertname,
                    "labels": ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("alertname", "severity")),
                    "detail": a.detail,
                }
                for a in actions
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
