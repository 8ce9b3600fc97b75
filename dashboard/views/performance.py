"""Performance & hardware: throughput, latency, quality on joined labels, GPUs, anomaly markers."""

from __future__ import annotations

import dataclasses

import httpx
import streamlit as st

from dashboard.charts import series_figure
from dashboard.client import ApiError, Series
from dashboard.common import View, client, controls, fetch, fmt_time, run_body

__all__ = ["anomaly_events", "page"]

#: hw.* series drawn per linked GPU: (series, title, unit).
_GPU_SERIES = (
    ("hw.gpu.utilization", "GPU utilisation", "ratio"),
    ("hw.gpu.memory.usage", "GPU memory used", "bytes"),
    ("hw.power", "GPU power", "W"),
    ("hw.temperature", "GPU temperature", "°C"),
)
#: Latency series: (name, legend, bucket statistic); percentile points are running figures, read ``last``.
_LATENCY = (
    ("driftline.model.latency", "mean", "mean"),
    ("driftline.model.latency.p50", "p50", "last"),
    ("driftline.model.latency.p95", "p95", "last"),
    ("driftline.model.latency.p99", "p99", "last"),
)


def anomaly_events(series: list[Series]) -> list[tuple[float, str, str]]:
    """Chart events for the buckets that ``driftline.anomaly.detected`` flags (its value is 1 there).

    >>> flags = Series({"series": "hw.gpu.utilization", "hw.id": "GPU-a"}, (0.0, 60.0, 120.0), (), (0.0, 1.0, 0.0), (), ())
    >>> anomaly_events([flags])
    [(60.0, 'alert', 'anomaly in hw.gpu.utilization GPU-a')]
    """
    events = []
    for one in series:
        what = " ".join(str(one.labels[k]) for k in ("series", "hw.id") if k in one.labels)
        events += [(t, "alert", f"anomaly in {what}".strip()) for t, flag in zip(one.t, one.max, strict=True) if flag >= 1.0]
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
    value: str = "mean",
) -> None:
    if any(s.t for s in series):
        figure = series_figure(series, title=title, label_key=label_key, events=events or (), y_title=y_title, value=value)
        st.plotly_chart(figure, width="stretch", key=key)
    else:
        st.info(empty, icon=":material/hourglass_empty:")


def _quality(view: View, model: str, version: str) -> None:
    st.subheader("Quality on joined labels")
    quality = fetch(
        "Quality",
        lambda: client().quality(model, version),
        missing="No quality yet: it appears once `ml.label` events join predictions.",
    )
    if quality is None:
        return
    if quality.latest is not None:
        previous = quality.history[1].metrics if len(quality.history) > 1 else {}
        columns = st.columns(len(quality.metrics) + 1)
        for column, (name, value) in zip(columns, sorted(quality.metrics.items()), strict=False):
            before = previous.get(name)
            column.metric(name, f"{value:.3f}", None if before is None else f"{value - before:+.3f}")
        columns[-1].metric("labelled pairs", quality.latest.n)
        st.caption(
            f"{quality.task} · latest window {fmt_time(quality.latest.window_start)} to {fmt_time(quality.latest.window_end)} UTC"
            + (" · the error-rate detector alarmed" if quality.drift_detected else "")
        )
    _chart(
        _series("driftline.model.quality", view, {"model": model, "version": version}),
        title="Quality per window",
        key="quality",
        label_key="metric",
        events=[(w.window_start, "quality", "error-rate alarm") for w in quality.history if w.drift_detected],
        empty=f"No quality windows in the last {view.range_label}.",
    )


def _gpus(view: View, model: str, version: str) -> None:
    st.subheader("GPUs")
    unlinked = f"No GPUs linked to {model} {version}: link them with the `gpu_models` setting."
    hardware = fetch("GPUs", lambda: client().hardware(model, version, start=view.start, end=view.end), missing=unlinked)
    if hardware is None:
        return
    if not hardware.gpus:
        st.info(unlinked, icon=":material/memory:")
        return
    left, middle, right = st.columns(3)
    per_1k = hardware.gpu_seconds_per_1k_predictions
    left.metric("GPU-seconds per 1k predictions", "—" if per_1k is None else f"{per_1k:,.1f}")
    middle.metric("Idle share", "—" if hardware.idle_ratio is None else f"{hardware.idle_ratio:.0%}")
    headroom = hardware.memory_headroom_min_bytes
    right.metric("Memory headroom (min)", "—" if headroom is None else f"{headroom / 2**30:.1f} GiB")
    st.dataframe(
        [
            {
                "host": g.host,
                "GPU": g.gpu,
                "uuid": g.uuid,
                "model": g.model_name,
                "utilisation": g.utilization,
                "memory (GiB)": None if g.memory_used_bytes is None else g.memory_used_bytes / 2**30,
                "power (W)": g.power_watts,
                "temperature (°C)": g.temperature_celsius,
                "idle share": g.idle_ratio,
            }
            for g in hardware.gpus
        ],
        hide_index=True,
        width="stretch",
        key="gpus",
        column_config={"utilisation": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)},
    )
    linked = {(g.host, g.uuid) for g in hardware.gpus}

    def mine(series: list[Series]) -> list[Series]:
        return [s for s in series if (str(s.labels.get("host.name", "")), str(s.labels.get("hw.id", ""))) in linked]

    flagged = mine(_series("driftline.anomaly.detected", view, {"series": "hw.gpu.utilization"}))
    anomalies = anomaly_events(flagged)
    columns = st.columns(2)
    for i, (name, title, unit) in enumerate(_GPU_SERIES):
        with columns[i % 2]:
            _chart(
                mine(_series(name, view)),
                title=f"{title} per device",
                key=f"gpu-{name}",
                label_key="hw.id",
                events=anomalies if name == "hw.gpu.utilization" else None,
                empty=f"No {name} telemetry of these GPUs in the last {view.range_label}.",
                y_title=unit,
            )


def _body(view: View, model: str, version: str) -> None:
    labels = {"model": model, "version": version}
    anomalies = anomaly_events(_series("driftline.anomaly.detected", view, {**labels, "series": "driftline.model.latency"}))
    left, right = st.columns(2)
    with left:
        _chart(
            _series("driftline.model.predictions", view, labels),
            title="Predictions per bucket",
            key="throughput",
            value="count",
            empty=f"No prediction counts for {model} {version} in the last {view.range_label}.",
        )
    with right:
        latency = [
            dataclasses.replace(s, labels={**s.labels, "series": statistic}, mean=getattr(s, value))
            for name, statistic, value in _LATENCY
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
    _quality(view, model, version)
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
