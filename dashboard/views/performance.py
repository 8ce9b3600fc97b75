"""Performance & hardware: throughput, latency, quality on joined labels, GPUs, anomaly markers."""

from __future__ import annotations

import dataclasses

import httpx
import streamlit as st

from dashboard.charts import series_figure
from dashboard.client import ApiError, Series
from dashboard.common import View, client, controls, not_available, run_body

__all__ = ["ANOMALY_MARK", "anomaly_events", "page"]

#: Anomaly scores at or above this are drawn as markers on the charts.
ANOMALY_MARK = 0.9

_GPU_SERIES = (
    ("hw.gpu.utilization", "GPU utilisation", "ratio"),
    ("hw.gpu.memory.usage", "GPU memory used", "bytes"),
    ("hw.power", "GPU power", "W"),
    ("hw.temperature", "GPU temperature", "°C"),
)


def anomaly_events(series: list[Series], threshold: float = ANOMALY_MARK) -> list[tuple[float, str, str]]:
    """Chart events for the buckets whose highest anomaly score reaches ``threshold``.

    >>> s = Series({"series": "latency"}, (0.0, 60.0, 120.0), (0.1, 0.5, 0.2), (0.2, 0.95, 0.3), (), ())
    >>> anomaly_events([s])
    [(60.0, 'alert', 'anomaly 0.95 (latency)')]
    """
    events = []
    for one in series:
        what = one.labels.get("series") or one.labels.get("metric") or ""
        for t, high in zip(one.t, one.max, strict=True):
            if high >= threshold:
                events.append((t, "alert", f"anomaly {high:.2f}" + (f" ({what})" if what else "")))
    return events


def _series(name: str, view: View, labels: dict[str, str] | None = None) -> list[Series]:
    try:
        return client().series(name, start=view.start, end=view.end, labels=labels)
    except (ApiError, httpx.HTTPError) as exc:
        st.warning(f"Cannot read {name}: {exc}")
        return []


def _chart(
    series: list[Series],
    *,
    title: str,
    key: str,
    empty: str,
    label_key: str | None = None,
    events: list[tuple[float, str, str]] | None = None,
    y_title: str = "",
) -> None:
    if any(s.t for s in series):
        figure = series_figure(series, title=title, label_key=label_key, events=events or (), y_title=y_title)
        st.plotly_chart(figure, width="stretch", key=key)
    else:
        st.info(empty, icon=":material/hourglass_empty:")


def _gpus(view: View, model: str, version: str) -> None:
    st.subheader("GPUs")
    try:
        hardware = client().hardware(model, version)
    except ApiError as exc:
        not_available("GPU inventory", exc)
    except httpx.HTTPError as exc:
        st.warning(f"Cannot read GPUs: {exc}")
    else:
        if hardware.gpus:
            st.dataframe(
                [
                    {
                        "host": g.host,
                        "GPU": g.gpu,
                        "model": g.model_name,
                        "utilisation": g.utilization,
                        "memory (GiB)": None if g.memory_used_bytes is None else g.memory_used_bytes / 2**30,
                        "power (W)": g.power_watts,
                        "temperature (°C)": g.temperature_celsius,
                    }
                    for g in hardware.gpus
                ],
                hide_index=True,
                width="stretch",
                key="gpus",
                column_config={"utilisation": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)},
            )
        for name, value in hardware.efficiency.items():
            st.metric(name.replace("_", " "), f"{value:.4g}")
    columns = st.columns(2)
    for i, (name, title, unit) in enumerate(_GPU_SERIES):
        with columns[i % 2]:
            _chart(
                _series(name, view),
                title=f"{title} per device",
                key=f"gpu-{name}",
                label_key="hw.id",
                empty=f"No {name} telemetry in the last {view.range_label}.",
                y_title=unit,
            )


def _body(view: View, model: str, version: str) -> None:
    labels = {"model": model, "version": version}
    anomalies = anomaly_events(_series("driftline.anomaly.score", view, labels))
    left, right = st.columns(2)
    with left:
        _chart(
            _series("driftline.model.predictions", view, labels),
            title="Predictions per bucket",
            key="throughput",
            events=anomalies,
            empty=f"No prediction counts for {model} {version} in the last {view.range_label}.",
        )
    with right:
        latency = [
            dataclasses.replace(s, labels={**s.labels, "series": statistic})
            for name, statistic in (("driftline.model.latency", "mean"), ("driftline.model.latency.p95", "p95"))
            for s in _series(name, view, labels)
        ]
        _chart(
            latency,
            title="Latency",
            key="latency",
            label_key="series",
            events=anomalies,
            y_title="seconds",
            empty=f"No latency for {model} {version} in the last {view.range_label}.",
        )
    _chart(
        _series("driftline.model.quality", view, labels),
        title="Quality on joined labels",
        key="quality",
        label_key="metric",
        events=anomalies,
        empty="No quality yet: it appears once `ml.label` events join predictions.",
    )
    _gpus(view, model, version)


def page() -> None:
    view = controls("Performance & hardware")
    if view is None:
        return
    if view.model is None or view.version is None:
        st.info("No models yet: performance appears here once a model version sends traffic.")
        return
    model, version = view.model, view.version
    run_body(view, lambda v: _body(v, model, version))
