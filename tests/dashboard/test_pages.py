"""Every dashboard page through Streamlit's AppTest, against a real server seeded through its ingest paths."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import seed as data
from apptest_support import PAGES, run_page, texts
from seed import MODEL, Times, seed, settings
from streamlit.testing.v1 import AppTest

from dashboard.common import fmt_time
from monitor.settings import Settings
from support import ServerThread


@pytest.fixture(scope="module")
def seeding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Times]]:
    path = tmp_path_factory.mktemp("seeded") / "driftline.db"
    with ServerThread(settings(f"sqlite:///{path}")) as server:
        yield server.url, seed(server.url)


@pytest.fixture(scope="module")
def seeded(seeding: tuple[str, Times]) -> str:
    """The seeded server's URL."""
    return seeding[0]


@pytest.fixture(scope="module")
def times(seeding: tuple[str, Times]) -> Times:
    """When the seeded data lies."""
    return seeding[1]


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[str]:
    with ServerThread(Settings(db_url=f"sqlite:///{tmp_path / 'empty.db'}", port=0)) as server:  # type: ignore[call-arg]
        yield server.url


def chart(app: AppTest, title: str) -> dict[str, Any]:
    """The plotly spec of the chart titled ``title``."""
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    found = [spec for spec in specs if spec["layout"].get("title", {}).get("text") == title]
    assert len(found) == 1, [spec["layout"].get("title", {}).get("text") for spec in specs]
    return found[0]


def test_overview_rows_show_drift_quality_latency_gpu_kpi_alerts_and_gate(seeded: str, times: Times) -> None:
    app = run_page("overview", seeded)
    frame = app.dataframe[0].value
    assert list(frame["version"]) == ["v2", "v1"]  # the drifting version first
    v2, v1 = frame.iloc[0], frame.iloc[1]
    assert (v2["status"], v2["drifting / tested"], v2["gate"]) == ("drift", "1 / 2", "fail")
    assert v2["latency p95 (ms)"] == pytest.approx(data.LATENCY[-1] * 1000, rel=0.011)  # the histogram's 1 % accuracy
    assert v2["quality trend"] == f"accuracy {data.ACCURACY[-1]:.3g} ↓"
    # the latest reading of each linked GPU: 0.6 and 0.3, each + 0.01 sin(1) in the last minute
    assert v2["GPU utilisation"] == pytest.approx(sum(data.GPUS.values()) / 2 + 0.01 * math.sin(1))
    first_kpi = data.history(times.t0)[1][0][1]
    assert v2["linked KPI"] == f"{data.KPI} {data.KPI_RECENT:.3g} {'↓' if first_kpi > data.KPI_RECENT else '↑'}"
    assert v2["alerts firing"] == 1  # FeatureDrift on income
    assert v2["details"] == f"drift?model={MODEL}&version=v2"
    assert (v1["status"], v1["gate"], v1["alerts firing"], v1["quality trend"], v1["linked KPI"]) == ("ok", "pass", 0, "—", "—")
    assert v1["latency p95 (ms)"] == pytest.approx(50.0, rel=0.011)
    assert math.isnan(v1["GPU utilisation"])
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Model versions"], metrics["Drifting"], metrics["Alerts firing"]) == ("2", "1", "1")
    assert app.query_params["model"] == MODEL
    [banner] = app.error
    assert banner.value == f"**{MODEL} v2** is drifting on `income` (1 of 2 features) since {fmt_time(times.t0)} UTC."


def test_drift_page_ranks_features_and_plots_the_selected_one(seeded: str) -> None:
    app = run_page("drift", seeded, model=MODEL, version="v2")
    frame = app.dataframe[0].value
    assert list(frame["feature"]) == ["income", "plan"]
    assert list(frame["verdict"]) == ["drift", "ok"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Features drifting"] == "1 / 2"
    assert "income drifting since (UTC)" in metrics
    charts = app.get("plotly_chart")
    assert len(charts) == 2  # distribution overlay and score over time
    assert app.query_params["feature"] == "income"
    histogram = json.loads(charts[0].proto.spec)
    assert [trace["type"] for trace in histogram["data"]] == ["bar", "bar"]
    app.segmented_control(key="distribution_view").set_value("ECDF").run()
    ecdf = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in ecdf["data"]] == ["reference", "current window"]
    assert ecdf["data"][0]["y"][0] == 0.0
    assert ecdf["data"][0]["y"][-1] == pytest.approx(1.0)


def test_check_now_evaluates_and_reports(seeded: str) -> None:
    app = run_page("drift", seeded, model=MODEL, version="v2")
    app.button(key="check_now").click().run()
    assert not app.exception
    assert [s.value for s in app.success] == ["Checked now: 1 of 2 features drifting."]


def test_business_page_says_the_finding_with_its_impact_and_plots_lag_and_kpi(seeded: str, times: Times) -> None:
    app = run_page("business", seeded, model=MODEL, version="v2")
    finding = httpx.get(f"{seeded}/api/v1/correlations").json()["items"][0]  # the strongest, best first
    assert finding["metric"] == f"driftline.model.latency{{model={MODEL},version=v2}}"
    assert finding["sentence"].startswith(f"When latency of {MODEL} v2 rises by one unit, {data.KPI} falls by")
    assert f"about {data.LAG} min later" in finding["sentence"]
    effect = finding["effect"]
    assert effect < 0
    impact = f"Each unit of latency of {MODEL} v2 moves {data.KPI} by {effect:+.3g}, about {data.LAG:g} min later."
    said = f"**1. {finding['sentence']}**  \n{impact}"
    assert said in [m.value for m in app.markdown]
    assert f"lag 600 s · {finding['evidence']} lines of evidence" in texts(app)

    lag = chart(app, f"{data.KPI} {data.LAG:g} min later vs latency of {MODEL} v2")
    points, fit = lag["data"]
    assert len(points["x"]) >= data.HISTORY_MINUTES - data.LAG  # every history minute with a KPI value LAG later
    slope = (fit["y"][1] - fit["y"][0]) / (fit["x"][1] - fit["x"][0])
    assert slope == pytest.approx(effect, rel=0.2)

    kpi = chart(app, data.KPI)
    line = kpi["data"][0]
    history = [v for _, v in data.history(times.t0)[1]]
    assert line["y"][: len(history)] == pytest.approx(history)
    assert line["y"][len(history) :] == pytest.approx([data.KPI_RECENT] * (len(line["y"]) - len(history)))
    events = [trace["name"] for trace in kpi["data"][1:]]
    assert any(name.startswith(f"drift onset {MODEL} v2 (income)") for name in events), events
    assert f"deployed {MODEL} v2" in events
    assert "abort-drifting: argo-rollouts (dry run) ok" in events
    assert f"quality drop {MODEL} v2 (accuracy {data.ACCURACY[0]:.3g})" in events  # both windows alarmed: one onset


def test_performance_page_plots_traffic_latency_quality_and_linked_gpus_with_anomalies(seeded: str, times: Times) -> None:
    app = run_page("performance", seeded, model=MODEL, version="v2")
    throughput = chart(app, "Predictions per bucket")
    assert sum(throughput["data"][0]["y"]) == data.ROWS * data.WINDOWS
    latency = chart(app, "Latency")
    assert [trace["name"] for trace in latency["data"][:4]] == ["mean", "p50", "p95", "p99"]
    assert latency["data"][2]["y"][-1] == pytest.approx(data.LATENCY[-1], rel=0.011)

    metrics = {m.label: (m.value, m.delta) for m in app.metric}
    assert metrics["accuracy"] == (f"{data.ACCURACY[1]:.3f}", f"{data.ACCURACY[1] - data.ACCURACY[0]:+.3f}")
    assert metrics["labelled pairs"] == (str(data.ROWS), "")
    quality = chart(app, "Quality per window")
    accuracy = next(trace for trace in quality["data"] if trace["name"] == "accuracy")
    assert accuracy["y"] == pytest.approx(list(data.ACCURACY))

    gpus = app.dataframe[0].value
    assert list(gpus["uuid"]) == list(data.GPUS)
    assert list(gpus["power (W)"]) == [250.0 + 100 * u for u in data.GPUS.values()]
    assert list(gpus["memory (GiB)"]) == [data.GPU_MEMORY_USED / 2**30] * 2
    # GPU-seconds of both GPUs (one sample a minute) per 1,000 predictions of v2 in the range
    per_1k = 2 * 60 * (data.GPU_MINUTES - 1) / (data.ROWS * data.WINDOWS) * 1000
    assert metrics["GPU-seconds per 1k predictions"][0] == f"{per_1k:,.1f}"
    assert metrics["Idle share"][0] == "0%"
    assert metrics["Memory headroom (min)"][0] == f"{(data.GPU_MEMORY_LIMIT - data.GPU_MEMORY_USED) / 2**30:.1f} GiB"

    utilisation = chart(app, "GPU utilisation per device")
    assert [trace["name"] for trace in utilisation["data"][:2]] == list(data.GPUS)
    [marker] = utilisation["data"][2:]  # driftline.anomaly.detected flags GPU-a's spike, and only it
    assert marker["name"] == "anomaly in hw.gpu.utilization GPU-a"
    assert marker["x"] == [datetime.fromtimestamp(times.spike, tz=UTC).isoformat()]
    for title in ("GPU memory used per device", "GPU power per device", "GPU temperature per device"):
        assert [trace["name"] for trace in chart(app, title)["data"]] == list(data.GPUS)


def test_performance_page_of_a_version_without_labels_or_gpus_says_so(seeded: str) -> None:
    app = run_page("performance", seeded, model=MODEL, version="v1")
    body = texts(app)
    assert "No quality yet: it appears once `ml.label` events join predictions." in body
    assert f"No GPUs linked to {MODEL} v1: link them with the `gpu_models` setting." in body
    assert len(app.get("plotly_chart")) == 2  # throughput and latency


def test_alerts_page_shows_the_timeline_alerts_and_audit_and_silences_from_the_form(seeded: str) -> None:
    app = run_page("alerts", seeded, model=MODEL, version="v2")
    metrics = {m.label: m.value for m in app.metric}
    # FeatureDrift fires at once; ModelQualityDrop waits 10 minutes for each metric under 0.8
    assert (metrics["Alerts firing"], metrics["Pending"], metrics["Silenced"]) == ("1", "4", "0")
    alerts = app.dataframe[0].value
    assert list(alerts["alert"]) == ["FeatureDrift"] + ["ModelQualityDrop"] * 4
    assert alerts.iloc[0]["labels"] == f"feature=income, model={MODEL}, version=v2"
    timeline = chart(app, "Alerts and actions")
    assert "rollback actions" in [trace["name"] for trace in timeline["data"]]
    audit = app.dataframe[1].value
    assert list(audit[["policy", "action", "decision", "result", "alert"]].iloc[0]) == [
        "abort-drifting", "argo-rollouts", "dry_run", "ok", "FeatureDrift",
    ]  # fmt: skip
    assert "No active silences." in texts(app)

    app.text_input(key="silence_comment").input("retraining")
    app.button[0].click().run()  # the form's submit button
    assert not app.exception
    [made] = httpx.get(f"{seeded}/api/v1/silences").json()["items"]
    try:
        assert made["matchers"] == ['alertname="FeatureDrift"', f'model="{MODEL}"']
        assert (made["comment"], made["created_by"], made["active"]) == ("retraining", "dashboard", True)
        assert made["ends_at"] - made["starts_at"] == pytest.approx(2 * 3600)
        assert [s.value for s in app.success] == [
            f'Silenced alertname="FeatureDrift", model="{MODEL}" until {fmt_time(made["ends_at"])} UTC.'
        ]
        app.run()
        assert {m.label: m.value for m in app.metric}["Silenced"] == "1"
        assert app.dataframe[0].value.iloc[0]["silenced"]
        assert list(app.dataframe[1].value["comment"]) == ["retraining"]  # the silences table
    finally:
        assert httpx.delete(f"{seeded}/api/v1/silences/{made['id']}").status_code == 204


EMPTY_STATES = {
    "overview": ["No models yet. Send `ml.inference` events"],
    "drift": ["No models yet: drift appears here"],
    "performance": ["No models yet: performance appears here"],
    "business": ["No finding links a model metric to a KPI yet.", "No KPI values in the last 24h."],
    "alerts": ["No alerts or actions in the last 24h.", "No active silences.", "No rollback actions recorded."],
}


@pytest.mark.parametrize("name", PAGES)
def test_pages_without_data_show_their_empty_state(empty: str, name: str) -> None:
    app = run_page(name, empty)
    body = texts(app)
    for state in EMPTY_STATES[name]:
        assert state in body
    assert "not available" not in body
    assert not app.get("plotly_chart")


def test_unreachable_api_is_an_error_message_not_an_exception() -> None:
    app = run_page("overview", "http://127.0.0.1:9")
    assert "Cannot read models from the Driftline API at http://127.0.0.1:9" in texts(app)


def test_auto_refresh_renders_the_same_view_inside_a_fragment(seeded: str) -> None:
    app = run_page("overview", seeded, refresh="10", range="6h")
    assert list(app.dataframe[0].value["version"]) == ["v2", "v1"]
    assert (app.query_params["refresh"], app.query_params["range"]) == ("10", "6h")
    assert app.selectbox(key="range").value == "6h"
