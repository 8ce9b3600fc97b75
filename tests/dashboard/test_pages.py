"""Every dashboard page through Streamlit's AppTest, against a real server seeded through its ingest paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from seed import ACCURACY, KPI, KPI_VALUE, MODEL, P95_SECONDS, T0, seed
from streamlit.testing.v1 import AppTest

from dashboard.common import fmt_time
from monitor.settings import Settings
from support import ServerThread

PAGES = ["overview", "drift", "performance", "business", "alerts"]


def render(name: str) -> None:
    import importlib

    importlib.import_module(f"dashboard.views.{name}").page()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("seeded") / "driftline.db"
    with ServerThread(Settings(db_url=f"sqlite:///{path}", port=0, window_seconds=300.0)) as server:  # type: ignore[call-arg]
        seed(server.url)
        yield server.url


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[str]:
    with ServerThread(Settings(db_url=f"sqlite:///{tmp_path / 'empty.db'}", port=0)) as server:  # type: ignore[call-arg]
        yield server.url


def run_page(name: str, url: str, **query: str) -> AppTest:
    app = AppTest.from_function(render, args=(name,), default_timeout=60)
    app.session_state["driftline_api"] = url
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [i.value for i in app.info] + [w.value for w in app.warning]
    parts += [e.value for e in app.error] + [s.value for s in app.success] + [c.value for c in app.caption]
    parts += [f"{m.label}={m.value}" for m in app.metric]
    return "\n".join(str(p) for p in parts)


def test_overview_rows_show_drift_latency_and_quality(seeded: str) -> None:
    app = run_page("overview", seeded)
    frame = app.dataframe[0].value
    assert list(frame["version"]) == ["v2", "v1"]  # the drifting version first
    v2 = frame.iloc[0]
    assert v2["status"] == "drift"
    assert v2["drifting / tested"] == "1 / 2"
    assert v2["latency p95 (ms)"] == pytest.approx(P95_SECONDS * 1000)
    assert v2["quality trend"] == f"accuracy {ACCURACY:.3g} →"
    assert v2["details"] == f"drift?model={MODEL}&version=v2"
    assert frame.iloc[1]["status"] == "ok"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model versions"] == "2"
    assert metrics["Drifting"] == "1"
    assert app.query_params["model"] == MODEL
    [banner] = app.error
    assert banner.value == f"**{MODEL} v2** is drifting on `income` (1 of 2 features) since {fmt_time(T0)} UTC."


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


def test_business_page_plots_the_kpi_and_says_findings_are_not_available(seeded: str) -> None:
    app = run_page("business", seeded, model=MODEL, version="v2")
    [chart] = app.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["title"]["text"] == KPI
    kpi_line = spec["data"][0]
    assert kpi_line["y"] == [KPI_VALUE] * 10
    events = [trace["name"] for trace in spec["data"][1:]]
    assert any(name.startswith(f"drift onset {MODEL} v2 (income)") for name in events), events
    assert f"deployed {MODEL} v2" in events
    assert "Correlation findings: not available yet" in texts(app)


def test_performance_page_plots_latency_and_quality(seeded: str) -> None:
    app = run_page("performance", seeded, model=MODEL, version="v2")
    assert len(app.get("plotly_chart")) == 2  # latency, quality
    body = texts(app)
    assert f"No prediction counts for {MODEL} v2" in body
    assert "GPU inventory: not available yet" in body


def test_alerts_page_shows_not_available_states(seeded: str) -> None:
    app = run_page("alerts", seeded)
    body = texts(app)
    assert "Alerts: not available yet" in body
    assert "Rollback audit: not available yet" in body


EMPTY_STATES = {
    "overview": "No models yet. Send `ml.inference` events",
    "drift": "No models yet: drift appears here",
    "performance": "No models yet: performance appears here",
    "business": "No KPI values in the last 24h.",
    "alerts": "No alerts or actions in the last 24h.",
}


@pytest.mark.parametrize("name", PAGES)
def test_pages_without_data_show_their_empty_state(empty: str, name: str) -> None:
    app = run_page(name, empty)
    assert EMPTY_STATES[name] in texts(app)
    assert not app.get("plotly_chart")


def test_unreachable_api_is_an_error_message_not_an_exception() -> None:
    app = run_page("overview", "http://127.0.0.1:9")
    assert "Cannot read models from the Driftline API at http://127.0.0.1:9" in texts(app)


def test_auto_refresh_renders_the_same_view_inside_a_fragment(seeded: str) -> None:
    app = run_page("overview", seeded, refresh="10", range="6h")
    assert list(app.dataframe[0].value["version"]) == ["v2", "v1"]
    assert (app.query_params["refresh"], app.query_params["range"]) == ("10", "6h")
    assert app.selectbox(key="range").value == "6h"
