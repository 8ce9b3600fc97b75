"""Business impact: findings in plain sentences, KPI charts with model events, the evidence behind each."""

from __future__ import annotations

import httpx
import streamlit as st

from dashboard.charts import lag_figure, series_figure
from dashboard.client import ApiError, Finding
from dashboard.common import View, client, controls, not_available, run_body
from dashboard.events import model_events

__all__ = ["page"]


def _impact(finding: Finding) -> str:
    parts = []
    if finding.impact is not None:
        parts.append(f"estimated impact {finding.impact:+.3g} on {finding.kpi}")
    if finding.lag_seconds is not None:
        parts.append(f"about {finding.lag_seconds / 60:g} min later")
    return "; ".join(parts)


def _evidence(finding: Finding, view: View, index: int) -> None:
    with st.expander("Evidence (lag plot and statistics)"):
        st.caption(
            f"strength {finding.strength if finding.strength is not None else '—'} · "
            f"q-value {finding.q_value if finding.q_value is not None else '—'} · "
            f"lag {finding.lag_seconds if finding.lag_seconds is not None else '—'} s"
        )
        try:
            labels = {k: str(v) for k, v in finding.labels.items()}
            metric = client().series(finding.metric, start=view.start, end=view.end, labels=labels)
            kpi = client().series("driftline.kpi", start=view.start, end=view.end, labels={"kpi": finding.kpi})
        except (ApiError, httpx.HTTPError) as exc:
            st.warning(f"Cannot read the series behind this finding: {exc}")
            return
        if metric and kpi:
            figure = lag_figure(metric[0], kpi[0], finding.lag_seconds or 0.0, finding.metric, finding.kpi)
            st.plotly_chart(figure, width="stretch", key=f"lag-{index}")
        else:
            st.info(f"No data for {finding.metric} or {finding.kpi} in the last {view.range_label}.")


def _findings(view: View) -> None:
    st.subheader("What the models cost the business")
    try:
        findings = client().correlations()
    except ApiError as exc:
        not_available("Correlation findings", exc)
        return
    except httpx.HTTPError as exc:
        st.warning(f"Cannot read findings: {exc}")
        return
    if not findings:
        st.info("No finding links a model metric to a KPI yet.", icon=":material/hourglass_empty:")
        return
    for index, finding in enumerate(findings, start=1):
        impact = _impact(finding)
        st.markdown(f"**{index}. {finding.sentence}**" + (f"  \n{impact}" if impact else ""))
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
