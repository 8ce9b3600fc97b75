"""Model drift: per-feature verdicts, one feature's distribution against its reference, its score over time."""

from __future__ import annotations

import httpx
import streamlit as st

from dashboard.charts import distribution_figure, drift_score_figure
from dashboard.client import ApiError, DriftResult
from dashboard.common import View, client, coloured_table, controls, fmt_time, not_available, run_body
from dashboard.events import drift_onset

__all__ = ["page"]


def _check_now(model: str, version: str) -> None:
    try:
        results = client().evaluate(model, version)
    except (ApiError, httpx.HTTPError) as exc:
        st.session_state["check_now_message"] = ("warning", f"Check failed: {exc}")
        return
    drifting = sum(r.drift_detected for r in results)
    st.session_state["check_now_message"] = ("success", f"Checked now: {drifting} of {len(results)} features drifting.")


def _feature_table(results: list[DriftResult]) -> None:
    coloured_table(
        [
            {
                "feature": r.feature,
                "verdict": "drift" if r.drift_detected else "ok",
                "test": r.test,
                "statistic": r.statistic,
                "p-value": r.p_value,
                "effect size": r.effect_size,
                "threshold": r.threshold,
                "rows": r.n,
                "window end": fmt_time(r.window_end),
            }
            for r in results
        ],
        "verdict",
        key="features",
        column_config={
            "statistic": st.column_config.NumberColumn(format="%.4f"),
            "p-value": st.column_config.NumberColumn(format="%.2e"),
            "effect size": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def _body(view: View, model: str, version: str) -> None:
    message = st.session_state.pop("check_now_message", None)
    if message is not None:
        getattr(st, message[0])(message[1])
    try:
        results = client().drift(model, version)
    except (ApiError, httpx.HTTPError) as exc:
        st.warning(f"Cannot read drift results: {exc}")
        return
    if not results:
        st.info(
            f"No drift results for {model} {version} yet: they appear when a window closes "
            "(needs a reference profile and traffic), or press **Check now**.",
            icon=":material/hourglass_empty:",
        )
        return
    ordered = sorted(results, key=lambda r: (not r.drift_detected, -r.effect_size, r.feature))
    drifting = [r for r in ordered if r.drift_detected]
    left, middle, right = st.columns(3)
    left.metric("Features drifting", f"{len(drifting)} / {len(results)}")
    if drifting:
        top = drifting[0].feature
        started = drift_onset(client().drift_history(model, version, start=view.start, end=view.end, feature=top))
        middle.metric(f"{top} drifting since (UTC)", fmt_time(started) if started is not None else f"over {view.range_label}")
    else:
        middle.metric("Drifting since", "—")
    right.metric("Latest window end (UTC)", fmt_time(max(r.window_end for r in results)))
    _feature_table(ordered)

    names = [r.feature for r in ordered]
    wanted = st.query_params.get("feature")
    feature = st.selectbox("Feature", names, index=names.index(wanted) if wanted in names else 0, key="feature")
    if st.query_params.get("feature") != feature:
        st.query_params["feature"] = feature
    distribution_column, score_column = st.columns(2)
    with distribution_column:
        try:
            distribution = client().distribution(model, version, feature)
        except (ApiError, httpx.HTTPError) as exc:
            if isinstance(exc, ApiError):
                not_available("Distribution", exc)
            else:
                st.warning(f"Cannot read the distribution: {exc}")
        else:
            cumulative = distribution.kind == "numeric" and (
                st.segmented_control("Show", ["histogram", "ECDF"], default="histogram", key="distribution_view") == "ECDF"
            )
            st.plotly_chart(distribution_figure(distribution, cumulative=cumulative), width="stretch", key="distribution")
            if distribution.current_counts is None:
                st.caption("No closed window holds this feature's bins yet: only the reference is shown.")
    with score_column:
        feature_history = client().drift_history(model, version, start=view.start, end=view.end, feature=feature)
        if feature_history:
            st.plotly_chart(drift_score_figure(feature_history, feature), width="stretch", key="score")
        else:
            st.info(f"No windows of {feature} in the last {view.range_label}.")


def page() -> None:
    view = controls("Model drift")
    if view is None:
        return
    if view.model is None or view.version is None:
        st.info("No models yet: drift appears here once a model version has a reference and traffic.")
        return
    st.button(
        "Check now",
        help="Close the current window now and test it (POST …/evaluate)",
        on_click=_check_now,
        args=(view.model, view.version),
        key="check_now",
        type="primary",
    )
    model, version = view.model, view.version
    run_body(view, lambda v: _body(v, model, version))
