"""Business impact: findings in plain sentences, KPI charts with model events, the evidence behind each."""

from __future__ import annotations

import httpx
import streamlit as st

from dashboard.charts import lag_figure, series_figure
from dashboard.client import ApiError, Finding
from dashboard.common import View, client, controls, fetch, fmt_time, run_body
from dashboard.events import model_events

__all__ = ["impact", "page"]


def impact(finding: Finding) -> str:
    """The finding's estimated cost in words: its latest incident, else its effect per unit.

    >>> from dashboard.client import Finding, Incident
    >>> f = Finding("…", "m", "conversion", "credit", "v2", "latency of credit v2", 600.0, -0.9, 0.001, -0.2, 2)
    >>> impact(f)
    'Each unit of latency of credit v2 moves conversion by -0.2, about 10 min later.'
    >>> from dataclasses import replace
    >>> impact(replace(f, value_name="orders", incident=Incident(0.0, 3600.0, -0.012, -54.0)))
    'Estimated impact: conversion -0.012 over the latest incident (1970-01-01 00:00 to 01:00 UTC), worth -54 orders.'
    """
    if finding.incident is not None:
        i = finding.incident
        worth = f", worth {i.value:+.3g} {finding.value_name}".rstrip() if i.value is not None else ""
        span = f"{fmt_time(i.start)} to {fmt_time(i.end)[-5:]} UTC"
        return f"Estimated impact: {finding.kpi} {i.kpi_change:+.3g} over the latest incident ({span}){worth}."
    if finding.effect is not None:
        later = f", about {finding.lag_seconds / 60:g} min later" if finding.lag_seconds else ""
        return f"Each unit of {finding.metric_label} moves {finding.kpi} by {finding.effect:+.3g}{later}."
    return ""


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _evidence(finding: Finding, view: View, index: int) -> None:
    if finding.method == "event":
        _event_evidence(finding, view, index)
        return
    with st.expander("Evidence (lag plot and statistics)"):
        st.caption(
            f"strength {_number(finding.strength)} · q-value {_number(finding.q_value)} · "
            f"lag {_number(finding.lag_seconds)} s · {finding.evidence} lines of evidence"
        )
        name, labels = finding.series
        try:
            metric = client().series(name, start=view.start, end=view.end, labels=labels)
            kpi = client().series("driftline.kpi", start=view.start, end=view.end, labels={"kpi": finding.kpi})
        except (ApiError, httpx.HTTPError) as exc:
            st.warning(f"Cannot read the series behind this finding: {exc}")
            return
        if metric and kpi:
            figure = lag_figure(metric[0], kpi[0], finding.lag_seconds or 0.0, finding.metric_label, finding.kpi)
            st.plotly_chart(figure, width="stretch", key=f"lag-{index}")
        else:
            st.info(f"No stored series {finding.metric} or KPI {finding.kpi} in the last {view.range_label}.")


def _event_evidence(finding: Finding, view: View, index: int) -> None:
    """One incident: the KPI over time, with the incident's onset and the KPI's shift marked."""
    with st.expander("Evidence (the KPI around the incident)"):
        st.caption(
            f"event test on one incident · q-value {_number(finding.q_value)} · lag {_number(finding.lag_seconds)} s · "
            "a repeated pattern would also show as a correlation finding"
        )
        try:
            kpi = client().series("driftline.kpi", start=view.start, end=view.end, labels={"kpi": finding.kpi})
        except (ApiError, httpx.HTTPError) as exc:
            st.warning(f"Cannot read the KPI behind this finding: {exc}")
            return
        if not kpi or finding.incident is None:
            st.info(f"No stored KPI {finding.kpi} in the last {view.range_label}.")
            return
        shifted = finding.incident.start
        events = [
            (shifted - (finding.lag_seconds or 0.0), "drift", f"{finding.metric_label} began"),
            (shifted, "alert", f"{finding.kpi} shifted"),
        ]
        figure = series_figure(kpi[:1], title=finding.kpi, label_key="kpi", events=events)
        st.plotly_chart(figure, width="stretch", key=f"event-{index}")


def _findings(view: View) -> None:
    st.subheader("What the models cost the business")
    findings = fetch("Correlation findings", client().correlations)
    if findings is None:
        return
    if not findings:
        st.info("No finding links a model metric to a KPI yet.", icon=":material/hourglass_empty:")
        return
    for index, finding in enumerate(findings, start=1):
        text = impact(finding)
        st.markdown(f"**{index}. {finding.sentence}**" + (f"  \n{text}" if text else ""))
        _evidence(finding, view, index)


def _kpis(view: View) -> None:
    st.subheader("KPIs and model events")
    try:
        kpis = client().series("driftline.kpi", start=view.start, end=view.end)
    except (ApiError, httpx.HTTPError) as exc:
        st.warning(f"Cannot read KPIs: {exc}")
        return
    if not any(s.t for s in kpis):
        st.info(f"No KPI values in the last {view.range_label}.", icon=":material/hourglass_empty:")
        return
    events = model_events(client(), view.models, view.start, view.end)
    for one in kpis:
        name = str(one.labels.get("kpi", "KPI"))
        figure = series_figure([one], title=name, label_key="kpi", events=events)
        st.plotly_chart(figure, width="stretch", key=f"kpi-{name}")


def _body(view: View) -> None:
    _findings(view)
    _kpis(view)


def page() -> None:
    view = controls("Business impact")
    if view is not None:
        run_body(view, _body)
