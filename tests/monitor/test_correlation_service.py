"""The correlation engine against the store, the API, /metrics and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine, delete, insert

from monitor.correlation import scenarios
from monitor.correlation.align import make_grid
from monitor.correlation.service import CorrelationScheduler, RunCancelled, run_correlation
from monitor.correlation.store import list_findings, load_inputs, series_inputs
from monitor.series import Bucket, write_buckets
from monitor.settings import Settings
from monitor.store import make_engine, migrate
from monitor.store.tables import correlation_findings, drift_results
from support import ROOT, ServerThread, export_gauges, scrape, wait_caught_up

N = 1000  # minutes of history
LAG = 12  # minutes from a latency change to the conversion change
EFFECT = -0.6  # conversion points per unit of latency
LATENCY = "driftline.model.latency"
LATENCY_KEY = f"{LATENCY}{{model=m,version=v1}}"
UNITS = {"conversion": {"unit": "points", "value_per_unit_minute": 1.5, "value_name": "orders"}}


def settings_for(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_url": db_url,
        "correlation_enabled": False,
        "correlation_max_lag_seconds": 1800.0,
        "correlation_min_evidence_seconds": 3 * 3600.0,
        "correlation_kpi_units": UNITS,
        **overrides,
    }
    return Settings(**values)


def history(seed: int, linked: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """Series per (name, labels JSON): latency, an unrelated score, conversion (linked or not), revenue."""
    rng = np.random.default_rng(seed)
    pair = scenarios.linked_pair(rng, N, lag=LAG, effect=EFFECT)
    conversion = pair.y if linked else scenarios.linked_pair(rng, N, lag=LAG, effect=EFFECT).y
    return {
        (LATENCY, '{"model":"m","version":"v1"}'): pair.x,
        ("driftline.model.score", '{"model":"m","version":"v1"}'): scenarios.ar1(rng, N, 0.8),
        ("driftline.kpi", '{"kpi":"conversion"}'): conversion,
        ("driftline.kpi", '{"kpi":"revenue"}'): scenarios.seasonal(rng, N, period=288),
    }


def write_history(engine: Engine, start: float, series: dict[tuple[str, str], np.ndarray]) -> None:
    buckets = [
        Bucket(name, labels, 60, start + 60 * i, 1, float(v), float(v), float(v), float(v), start + 60 * i)
        for (name, labels), values in series.items()
        for i, v in enumerate(values)
    ]
    with engine.begin() as connection:
        write_buckets(connection, buckets)


def test_findings_are_stored_confirmed_and_expire_when_evidence_stops(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    settings = settings_for(db_url, correlation_expire_seconds=3600.0)
    first, second = 1_000_000.0, 1_000_000.0 + N * 60
    write_history(engine, first, history(1))
    write_history(engine, second, history(2, linked=False))
    try:
        result = run_correlation(engine, settings, first, first + N * 60, now=5000.0)
        assert [(f.metric, f.kpi) for f in result.findings] == [(LATENCY_KEY, "conversion")]
        assert len(result.tested) == 4
        assert result.tests == 4 * 61
        finding = result.findings[0]
        assert abs(finding.lag_seconds - LAG * 60) <= 60
        assert finding.effect_low is not None
        assert finding.effect_high is not None
        assert finding.effect_low <= EFFECT <= finding.effect_high

        run_correlation(engine, settings, first, first + N * 60, now=6000.0)
        with engine.connect() as connection:
            (stored,), total = list_findings(connection)
        assert total == 1
        assert (stored.first_seen, stored.last_confirmed, stored.expired_at) == (5000.0, 6000.0, None)
        assert stored.finding.unit.value_name == "orders"
        assert stored.sentence.startswith("When latency of m v1 rises by one unit, conversion falls by")

        # The same pair tested on later history that holds no link: the evidence stopped.
        run_correlation(engine, settings, second, second + N * 60, now=7000.0)
        with engine.connect() as connection:
            assert list_findings(connection)[1] == 0
            (gone,), _ = list_findings(connection, status="expired")
        assert (gone.finding.status, gone.expired_at, gone.first_seen) == ("expired", 7000.0, 5000.0)

        # Found again, then not tested at all (no data) for longer than correlation_expire_seconds.
        run_correlation(engine, settings, first, first + N * 60, now=8000.0)
        run_correlation(engine, settings, 0.0, 60_000.0, now=8000.0 + 3000.0)
        with engine.connect() as connection:
            assert list_findings(connection)[1] == 1  # not yet stale
        run_correlation(engine, settings, 0.0, 60_000.0, now=8000.0 + 3601.0)
        with engine.connect() as connection:
            assert list_findings(connection)[1] == 0
            (again,), _ = list_findings(connection, status=None)
        assert (again.first_seen, again.expired_at) == (8000.0, 11601.0)
    finally:
        engine.dispose()


def test_drift_results_become_a_series_over_their_windows_with_incident_flags(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    rows = [
        {"model": "m", "version": "v2", "feature": "income", "test": "ks", "statistic": s, "p_value": 0.5,
         "effect_size": s, "threshold": 0.1, "drift_detected": s > 0.2, "window_start": 300.0 * i,
         "window_end": 300.0 * (i + 1), "n": 100, "created_at": 0.0}
        for i, s in enumerate([0.05, 0.3, 0.4, 0.1])
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(drift_results), rows)
    with engine.connect() as connection:
        inputs = load_inputs(connection, 0.0, 1500.0, step=60.0, resolution=60)
    engine.dispose()
    (series,) = inputs.model_series
    assert series.key == "driftline.feature.drift{feature=income,model=m,version=v2}"
    assert series.label == "drift on income (m v2)"
    assert np.array_equal(series.values[:20], np.repeat([0.05, 0.3, 0.4, 0.1], 5))
    assert np.isnan(series.values[20:]).all()  # after the last window: a gap, not the last value carried on
    assert series.flags is not None
    assert series.flags.tolist() == [False] * 5 + [True] * 10 + [False] * 10


def test_kpi_series_from_several_sources_are_pooled_and_others_keyed_by_all_labels() -> None:
    grid = make_grid(0.0, 180.0, 60.0)
    model_side, kpis = series_inputs(
        grid,
        ["driftline.kpi", "driftline.kpi", "driftline.kpi", "hw.power"],
        ['{"host":"a","kpi":"conversion"}', '{"host":"b","kpi":"conversion"}', '{"host":"a"}', '{"hw.id":"GPU-1"}'],
        [0.0, 10.0, 70.0, 130.0],
        [2.0, 4.0, 9.0, 300.0],
        [1.0, 3.0, 1.0, 1.0],
    )
    (conversion,) = kpis  # the point without a kpi label is no KPI
    assert conversion.key == "conversion"
    assert conversion.values[0] == pytest.approx(3.5)  # (2 x 1 + 4 x 3) / 4: weighted by the points behind each
    assert np.isnan(conversion.values[1:]).all()
    assert [(s.key, s.label, s.values[2]) for s in model_side] == [("hw.power{hw.id=GPU-1}", "hw.power (hw.id=GPU-1)", 300.0)]


def export_series(url: str, series: dict[tuple[str, str], np.ndarray], start: float) -> None:
    """Send every series as OTLP gauge points (one a minute) through the SDK's exporter."""
    by_name: dict[str, list[tuple[dict[str, Any], float, float]]] = {}
    for (name, labels), values in series.items():
        attributes = json.loads(labels)
        by_name.setdefault(name, []).extend((attributes, start + 60 * i + 30, float(v)) for i, v in enumerate(values))
    export_gauges(url, by_name)


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_scheduled_run_serves_findings_over_the_api_metrics_and_cli(sqlite_url: str) -> None:
    start = math.floor(time.time() / 60) * 60 - (N + 5) * 60
    settings = settings_for(
        sqlite_url,
        port=0,
        correlation_enabled=True,
        correlation_interval_seconds=0.5,
        correlation_lookback_seconds=86400.0,
        anomaly_series=[],  # no anomaly-score series: the run tests exactly the four pairs written here
    )
    with ServerThread(settings) as server:
        export_series(server.url, history(3), start)
        wait_caught_up(server.url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the schedule picks the series up once they are written
            page = httpx.get(f"{server.url}/api/v1/correlations", timeout=10).json()
            if page["total"]:
                break
            time.sleep(0.5)
        assert page["total"] == 1, page
        (item,) = page["items"]
        assert (item["metric"], item["kpi"], item["model"], item["version"]) == (LATENCY_KEY, "conversion", "m", "v1")
        assert item["direction"] == "model_leads"
        assert item["status"] == "active"
        assert abs(item["lag_seconds"] - LAG * 60) <= 60
        assert item["effect_low"] <= EFFECT <= item["effect_high"]
        assert item["q_value"] < 0.05
        assert item["strength"] < 0
        assert item["sentence"].startswith("When latency of m v1 rises by one unit, conversion falls by")

        def total(**params: Any) -> int:
            return int(httpx.get(f"{server.url}/api/v1/correlations", params=params, timeout=10).json()["total"])

        assert (total(model="m"), total(model="other"), total(kpi="conversion"), total(kpi="revenue")) == (1, 0, 1, 0)
        paged = httpx.get(f"{server.url}/api/v1/correlations", params={"limit": 1, "offset": 1}, timeout=10).json()
        assert (paged["items"], paged["total"], paged["limit"], paged["offset"]) == ([], 1, 1, 1)
        bad = httpx.get(f"{server.url}/api/v1/correlations", params={"status": "bogus"}, timeout=10)
        assert bad.status_code == 422
        assert "status" in bad.text

        metrics = scrape(server.url)
        assert metrics[f'driftline_correlation{{kpi="conversion",metric="{LATENCY_KEY}"}}'] == pytest.approx(item["strength"])
        assert metrics["driftline_correlation_runs_total{}"] >= 1

        run = httpx.post(f"{server.url}/api/v1/correlations/run", params={"since": start, "until": start + N * 60}, timeout=120)
        assert run.status_code == 200
        assert run.json() == {"tests": 4 * 61, "pairs_tested": 4, "findings": 1}

        cli = driftline("correlate", "--since", str(start), "--until", str(start + N * 60), "--api", server.url,
                        "--series", LATENCY, "--series", "driftline.model.score")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("1. When latency of m v1 rises by one unit, conversion falls by")
    assert "reading series" in cli.stderr
    assert "cross-correlating" in cli.stderr


def test_cli_against_the_database_with_progress_and_json(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    start = 2_000_000.0
    write_history(engine, start, history(4))
    engine.dispose()
    window = ("--since", "2000000", "--until", str(start + N * 60), "--db", sqlite_url)
    env_free = driftline("correlate", *window)
    assert env_free.returncode == 0, env_free.stderr
    assert env_free.stdout.startswith("1. When latency of m v1 rises by one unit, conversion falls by")
    for stage in ("pre-whitening", "cross-correlating", "gathering evidence"):
        assert stage in env_free.stderr
    assert "1 finding(s) from 484 tests over 4 pair(s)" in env_free.stderr  # default lags: -60..60 minutes

    as_json = driftline("correlate", *window, "--json", "--quiet")
    body = json.loads(as_json.stdout)
    assert as_json.stderr == ""
    assert [(f["metric"], f["kpi"], f["status"]) for f in body["findings"]] == [(LATENCY_KEY, "conversion", "active")]
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert list_findings(connection)[1] == 1  # stored, as the scheduled run would
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since/--until: 'yesterday' is not a duration"),
        (["--since", "1h", "--until", "2h"], "must be before --until"),
        (["--since", "1h", "--db", "x", "--api", "y"], "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_2_with_a_one_line_reason(args: list[str], message: str) -> None:
    result = driftline("correlate", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_help_names_every_option() -> None:
    result = driftline("correlate", "--help")
    assert result.returncode == 0
    for option in ("--since", "--until", "--db", "--api", "--series", "--json", "--quiet"):
        assert option in result.stdout


def test_off_switch_stops_the_schedule_but_not_runs_on_demand(sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, port=0, correlation_interval_seconds=0.2, admin_token="s3cret")
    with ServerThread(settings) as server:
        time.sleep(1.0)  # five intervals: a running schedule would have run by now
        assert scrape(server.url)["driftline_correlation_runs_total{}"] == 0
        url = f"{server.url}/api/v1/correlations/run"
        assert httpx.post(url, timeout=30).status_code == 401
        run = httpx.post(url, params={"since": 0, "until": 3600}, headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert run.json() == {"tests": 0, "pairs_tested": 0, "findings": 0}
        assert scrape(server.url)["driftline_correlation_runs_total{}"] == 1
        backwards = httpx.post(url, params={"since": 10, "until": 5}, headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert backwards.status_code == 422
        assert "since" in backwards.text


def test_the_raw_metric_a_kpi_is_derived_from_and_its_anomaly_scores_are_not_model_side(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    series = history(4)
    conversion = series[("driftline.kpi", '{"kpi":"conversion"}')]
    series[("shop.conversion", '{"service.name":"shop"}')] = conversion  # what the KPI is derived from
    deviation = np.abs(conversion - np.median(conversion))  # anomaly scores of the KPI and of its source
    series[("driftline.anomaly.score", '{"kpi":"conversion","series":"driftline.kpi"}')] = deviation
    series[("driftline.anomaly.score", '{"series":"shop.conversion","service.name":"shop"}')] = deviation
    write_history(engine, 0.0, series)
    settings = settings_for(sqlite_url, kpis=[{"name": "conversion", "metric": "shop.conversion"}])
    try:
        result = run_correlation(engine, settings, 0.0, N * 60.0, now=1.0, store=False)
    finally:
        engine.dispose()
    assert not [f for f in result.findings if "conversion" in f.metric]  # no self-link (strength 1 at lag 0)
    assert {key for key, _ in result.tested} == {LATENCY_KEY, "driftline.model.score{model=m,version=v1}"}
    assert [(f.metric, f.kpi) for f in result.findings] == [(LATENCY_KEY, "conversion")]


def test_a_stopped_scheduler_abandons_its_run_and_stores_nothing(sqlite_url: str) -> None:
    """Shutting the server down does not wait for a long run to finish: it stops at the next step."""
    engine = make_engine(sqlite_url)
    migrate(engine)
    start = 1_000_000.0
    write_history(engine, start, history(1))
    scheduler = CorrelationScheduler(engine, settings_for(sqlite_url))
    try:
        assert scheduler.run_once(start, start + N * 60).findings  # the history holds a link
        with engine.begin() as connection:
            connection.execute(delete(correlation_findings))
        scheduler.stop()
        with pytest.raises(RunCancelled):
            scheduler.run_once(start, start + N * 60)
        with engine.connect() as connection:
            assert list_findings(connection, status=None)[1] == 0
    finally:
        engine.dispose()
