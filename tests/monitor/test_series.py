"""The time series store: rollups, the UPSERT merge, checkpointed open buckets and GET /api/v1/series."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from monitor.api.runtime import Runtime
from monitor.series import Bucket, SeriesRollup, write_buckets
from monitor.settings import Settings
from monitor.statecodec import pack, unpack
from monitor.store import make_engine, migrate
from monitor.store.tables import series_points
from support import ServerThread, export_gauges, wait_caught_up

NAME = "hw.gpu.utilization"
HOST = {"host.name": "gpu-node-1"}
T0 = float(math.floor(time.time() / 60) * 60 - 1200)  # 20 simulated minutes ago, on a minute boundary


# -- the rollup itself -------------------------------------------------------------------------
def test_buckets_close_on_the_series_watermark_plus_lateness() -> None:
    rollup = SeriesRollup(resolution=60, lateness=30)
    for t, v in [(0, 1.0), (10, 5.0), (59, 2.0), (60, 7.0)]:
        rollup.add("m", '{"a":1}', float(t), v)
    rollup.add("m", '{"a":2}', 200.0, 1.0)  # another series' watermark does not close this one
    assert rollup.take_closed() == []
    rollup.add("m", '{"a":1}', 89.0, 3.0)  # 60 + 30 - still within lateness
    assert rollup.take_closed() == []
    rollup.add("m", '{"a":1}', 90.0, 4.0)
    [closed] = rollup.take_closed()
    assert (closed.start, closed.count, closed.sum, closed.min, closed.max, closed.last) == (0.0, 3, 8.0, 1.0, 5.0, 2.0)


def test_wall_clock_closes_silent_series_and_state_round_trips() -> None:
    rollup = SeriesRollup(resolution=60, lateness=0)
    rollup.add("m", "{}", 5.0, 2.0)
    rollup.add("m", "{}", 3.0, 9.0)  # out of order: last stays the newest timestamp's value
    rollup.add("m", "{}", 65.0, 1.0)
    rollup.take_closed()
    rollup.add("m", "{}", 70.0, 4.0)
    restored = SeriesRollup.from_state(unpack(pack(rollup.state_dict())), resolution=60, lateness=0)
    [open_] = restored.snapshot("m")
    assert (open_.start, open_.count, open_.sum, open_.last, open_.last_t) == (60.0, 2, 5.0, 4.0, 70.0)
    assert restored.close_due(119.0) == 0
    assert restored.close_due(120.0) == 1
    assert restored.open == {}


def test_changed_resolution_closes_restored_buckets_at_their_old_width() -> None:
    rollup = SeriesRollup(resolution=60, lateness=0)
    rollup.add("m", "{}", 5.0, 2.0)
    restored = SeriesRollup.from_state(rollup.state_dict(), resolution=10, lateness=0)
    [closed] = restored.take_closed()
    assert (closed.resolution, closed.start) == (60, 0.0)


def test_upsert_merges_late_buckets_into_stored_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        first = Bucket("m", '{"a":1}', 60, 0.0, 2, 3.0, 1.0, 2.0, 2.0, 30.0)
        late = Bucket("m", '{"a":1}', 60, 0.0, 1, -4.0, -4.0, -4.0, -4.0, 10.0)  # older timestamp: last unchanged
        newer = Bucket("m", '{"a":1}', 60, 0.0, 1, 9.0, 9.0, 9.0, 9.0, 50.0)
        with engine.begin() as connection:
            write_buckets(connection, [first])
        with engine.begin() as connection:
            write_buckets(connection, [late])
        with engine.connect() as connection:
            row = connection.execute(select(series_points)).mappings().one()
        assert (row["count"], row["sum"], row["min"], row["max"], row["last"]) == (3, -1.0, -4.0, 2.0, 2.0)
        with engine.begin() as connection:
            write_buckets(connection, [newer, late])  # two for one slot in one statement
        with engine.connect() as connection:
            row = connection.execute(select(series_points)).mappings().one()
        assert (row["count"], row["sum"], row["min"], row["max"], row["last"], row["last_t"]) == (5, 4.0, -4.0, 9.0, 9.0, 50.0)
    finally:
        engine.dispose()


# -- through the server, with the real OpenTelemetry SDK exporter ------------------------------------
def export_points(url: str, points: list[tuple[dict[str, Any], float, float]], name: str = NAME) -> None:
    """Export gauge points with explicit timestamps through the SDK's OTLPMetricExporter."""
    export_gauges(url, {name: points}, resource=HOST)


def five_minutes() -> list[tuple[dict[str, Any], float, float]]:
    """Two GPUs, four points a minute for five minutes: minute k holds 10k .. 10k+3 (GPU 1: +100)."""
    return [
        ({"gpu": gpu}, T0 + 60 * k + 15 * j, 10.0 * k + j + (100.0 if gpu == "1" else 0.0))
        for k in range(5)
        for j in range(4)
        for gpu in ("0", "1")
    ]


def series(url: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/series", params={"name": NAME, **params}, timeout=10)


def expected_points(offset: float = 0.0, minutes: range = range(5)) -> list[dict[str, float]]:
    return [
        {
            "t": T0 + 60 * k,
            "count": 4,
            "sum": 40.0 * k + 6 + 4 * offset,
            "min": 10.0 * k + offset,
            "max": 10.0 * k + 3 + offset,
            "last": 10.0 * k + 3 + offset,
            "mean": 10.0 * k + 1.5 + offset,
        }
        for k in minutes
    ]


def test_series_rollups_filters_ranges_restart_and_late_points(db_url: str) -> None:
    settings = Settings(db_url=db_url, port=0)
    window = {"start": T0, "end": T0 + 300}
    with ServerThread(settings) as server:
        export_points(server.url, five_minutes())
        wait_caught_up(server.url)
        body = series(server.url, **window).json()
        assert body["resolution"] == 60
        assert body["total"] == 2
        assert [s["labels"] for s in body["series"]] == [{**HOST, "gpu": "0"}, {**HOST, "gpu": "1"}]
        assert body["series"][0]["points"] == expected_points()
        assert body["series"][1]["points"] == expected_points(100.0)

        filtered = series(server.url, label=["gpu:1", "host.name:gpu-node-1"], **window).json()
        assert [s["labels"]["gpu"] for s in filtered["series"]] == ["1"]
        assert series(server.url, label="gpu:7", **window).json()["series"] == []

        ranged = series(server.url, start=T0 + 120, end=T0 + 180, label="gpu:0").json()
        assert ranged["series"][0]["points"] == expected_points(minutes=range(2, 3))

        paged = series(server.url, limit=1, offset=1, **window).json()
        assert (paged["total"], [s["labels"]["gpu"] for s in paged["series"]]) == (2, ["1"])

    with ServerThread(settings) as server:  # everything was checkpointed: written rows or open buckets
        runtime: Runtime = server.runtime
        assert series(server.url, label="gpu:0", **window).json()["series"][0]["points"] == expected_points()
        with runtime.engine.connect() as connection:
            stored = connection.execute(select(series_points.c.bucket_start).where(series_points.c.name == NAME)).all()
        assert len(stored) == 10  # 20 minutes old: written at once by the wall-clock rule

        export_points(server.url, [({"gpu": "0"}, T0 + 1, -50.0)])  # late, for a bucket already written
        wait_caught_up(server.url)
        first = series(server.url, label="gpu:0", **window).json()["series"][0]["points"][0]
        assert (first["count"], first["min"], first["last"]) == (5, -50.0, 3.0)

    with ServerThread(settings) as server:  # the late point was merged into the stored row
        first = series(server.url, label="gpu:0", **window).json()["series"][0]["points"][0]
        assert (first["count"], first["sum"], first["min"], first["last"]) == (5, -44.0, -50.0, 3.0)


def test_a_just_sent_point_is_visible_in_the_default_range(sqlite_url: str) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    def callback(_options: CallbackOptions) -> list[Observation]:
        return [Observation(0.42, {"gpu": "3"})]

    with ServerThread(Settings(db_url=sqlite_url, port=0)) as server:
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics"), export_interval_millis=3_600_000
        )
        provider = MeterProvider(resource=Resource(HOST), metric_readers=[reader])
        provider.get_meter("test").create_observable_gauge(NAME, [callback], unit="1")
        provider.shutdown()  # collects and exports once
        wait_caught_up(server.url)
        [found] = series(server.url).json()["series"]
        assert found["labels"] == {**HOST, "gpu": "3"}
        [point] = found["points"]
        assert (point["count"], point["last"], point["mean"]) == (1, 0.42, 0.42)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": NAME, "label": "gpu"}, "label"),
        ({"name": NAME, "label": ":0"}, "label"),
        ({"name": NAME, "start": 100, "end": 50}, "start"),
        ({"name": NAME, "start": "yesterday"}, "start"),
        ({"name": NAME, "limit": 0}, "limit"),
        ({"name": NAME, "offset": -1}, "offset"),
    ],
)
def test_bad_parameters_answer_422_naming_the_field(sqlite_url: str, params: dict[str, Any], field: str) -> None:
    from fastapi.testclient import TestClient

    from monitor.api import create_app

    with TestClient(create_app(Settings(db_url=sqlite_url))) as client:
        response = client.get("/api/v1/series", params=params)
    assert response.status_code == 422
    assert field in response.text
