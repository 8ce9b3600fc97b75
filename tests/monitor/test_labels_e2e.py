"""Late labels through a running server: the real OTel SDK, the quality API, /metrics, series; restarts."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from sklearn import metrics as skm

from monitor.settings import Settings
from support import ServerProcess, ServerThread, free_port, log_record, logs_request, scrape, wait_caught_up, wait_until

T0 = 1_700_000_400  # a multiple of the quality window: the window is [T0, T0 + 600)
NS = 1_000_000_000
N = 400


def seeded_traffic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    fraud = rng.random(N) < 0.3
    scores = np.clip(np.where(fraud, rng.normal(0.7, 0.2, N), rng.normal(0.3, 0.2, N)), 0.0, 1.0).round(4)
    return fraud, scores, scores >= 0.5


def test_otel_sdk_predictions_then_labels_show_quality_in_the_api_metrics_and_series(sqlite_url: str) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    fraud, scores, flagged = seeded_traffic()
    settings = Settings(db_url=sqlite_url, port=0, quality_window_seconds=600, label_window_seconds=3600)
    with ServerThread(settings) as server:
        provider = LoggerProvider(resource=Resource.create({"service.name": "fraud-server"}))
        provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.url}/v1/logs", timeout=10), max_export_batch_size=200)
        )
        logger = provider.get_logger("tests")

        def predict(i: int, at: float) -> None:
            attributes = {
                "ml.model.name": "fraud",
                "ml.model.version": "v1",
                "ml.prediction.id": f"tx-{i}",
                "ml.prediction": "fraud" if flagged[i] else "ok",
                "ml.prediction.score": float(scores[i]),
                "ml.feature.amount": float(i % 17),
            }
            logger.emit(timestamp=int(at * NS), event_name="ml.inference", attributes=attributes)

        def label(pid: str, value: str, at: float) -> None:
            attributes = {"ml.prediction.id": pid, "ml.label": value}
            logger.emit(timestamp=int(at * NS), event_name="ml.label", attributes=attributes)

        for i in range(N):
            predict(i, T0 + i * 0.5)
        assert provider.force_flush(timeout_millis=30_000)
        labelled = range(0, N, 4)  # a quarter of the transactions get their chargeback verdict
        for i in labelled:
            label(f"tx-{i}", "fraud" if fraud[i] else "ok", T0 + 300 + i * 0.5)
        for i in labelled[:10]:  # sent twice
            label(f"tx-{i}", "fraud" if fraud[i] else "ok", T0 + 500)
        for j in range(5):  # ids no model ever predicted
            label(f"unknown-{j}", "ok", T0 + 500)
        assert provider.force_flush(timeout_millis=30_000)
        predict(0, T0 + 650)  # a repeated id, later: moves the join clock past the window's end
        assert provider.force_flush(timeout_millis=30_000)
        provider.shutdown()
        wait_caught_up(server.url)

        rows = np.array(labelled)
        truth = np.where(fraud[rows], "fraud", "ok")
        predicted = np.where(flagged[rows], "fraud", "ok")

        def stored() -> dict[str, object] | None:
            response = httpx.get(f"{server.url}/api/v1/models/fraud/quality", params={"version": "v1"}, timeout=10)
            body: dict[str, object] = response.json()
            return body if response.status_code == 200 and body["total"] == 1 else None

        report = wait_until(stored, timeout=30)
        assert report["task"] == "classification"
        assert report["drift_detected"] is False
        latest = report["latest"]
        assert latest == report["history"][0]
        assert (latest["window_start"], latest["window_end"], latest["n"]) == (T0, T0 + 600, rows.size)
        metrics = latest["metrics"]
        assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-12)
        assert metrics["f1"] == pytest.approx(skm.f1_score(truth, predicted, pos_label="fraud"), abs=1e-12)
        assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(fraud[rows], scores[rows]), abs=1e-12)
        assert 0.6 < metrics["roc_auc"] < 1.0

        scraped = scrape(server.url)
        for name, value in metrics.items():
            assert scraped[f'driftline_model_quality{{metric="{name}",model="fraud",version="v1"}}'] == pytest.approx(value)
        assert scraped['driftline_model_quality_drift_detected{model="fraud",version="v1"}'] == 0.0
        assert scraped['driftline_labels_total{outcome="joined"}'] == rows.size
        assert scraped['driftline_labels_total{outcome="duplicate"}'] == 10
        assert scraped['driftline_labels_total{outcome="unjoined"}'] == 0
        assert scraped["driftline_labels_pending{}"] == 5  # the unknown ids wait for the label window

        query = {"name": "driftline.model.quality", "label": ["model:fraud", "metric:accuracy"], "start": T0 - 60, "end": T0 + 60}
        series = httpx.get(f"{server.url}/api/v1/series", params=query, timeout=10).json()
        [one] = series["series"]
        assert one["labels"] == {"metric": "accuracy", "model": "fraud", "version": "v1"}
        assert [(p["t"], p["last"]) for p in one["points"]] == [(T0, pytest.approx(metrics["accuracy"]))]

        assert httpx.get(f"{server.url}/api/v1/models/nobody/quality", timeout=10).status_code == 404


def post(url: str, records: list) -> None:  # type: ignore[type-arg]
    body = logs_request(records).SerializeToString()
    response = httpx.post(f"{url}/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert response.status_code == 200, response.text


def predictions(ids: range, fraud: np.ndarray, at: float) -> list:  # type: ignore[type-arg]
    return [
        log_record(
            {"ml.model.name": "pay", "ml.model.version": "v2", "ml.prediction.id": f"p{i}", "ml.prediction": int(i % 3 == 0)},
            time_ns=int((at + i * 0.1) * NS),
        )
        for i in ids
    ]


def labels(ids: range, fraud: np.ndarray, at: float) -> list:  # type: ignore[type-arg]
    return [
        log_record({"ml.prediction.id": f"p{i}", "ml.label": int(fraud[i])}, event="ml.label", time_ns=int(at * NS)) for i in ids
    ]


def label_counts(url: str) -> tuple[float, ...]:
    scraped = scrape(url)
    outcomes = ("joined", "duplicate", "expired", "unjoined", "invalid")
    counts = tuple(scraped.get(f'driftline_labels_total{{outcome="{o}"}}', 0.0) for o in outcomes)
    return (*counts, scraped["driftline_labels_pending{}"], scraped["driftline_label_buffer_entries{}"])


@pytest.mark.slow
def test_restart_and_sigkill_with_pending_joins_lose_nothing_and_count_nothing_twice(db_url: str) -> None:
    fraud = np.random.default_rng(9).random(600) < 0.4
    env = {
        "DRIFTLINE_QUALITY_WINDOW_SECONDS": "600",
        "DRIFTLINE_LABEL_WINDOW_SECONDS": "3600",
        "DRIFTLINE_CHECKPOINT_INTERVAL_SECONDS": "3600",  # only start and stop checkpoint: a kill leaves a log to replay
    }
    server = ServerProcess(db_url, free_port(), env=env)
    server.start()
    try:
        # Labels for p0..p199 before any prediction (they wait), then predictions p0..p299.
        post(server.url, labels(range(200), fraud, T0 + 100))
        post(server.url, predictions(range(300), fraud, T0))
        post(server.url, labels(range(250, 400), fraud, T0 + 110))  # p300..p399 not predicted yet: they wait
        wait_caught_up(server.url)
        before_stop = label_counts(server.url)
        assert before_stop == (250, 0, 0, 0, 0, 100, 300)
        server.stop()  # a clean stop checkpoints the pending labels and the buffer

        server.start()
        assert label_counts(server.url) == before_stop
        post(server.url, predictions(range(300, 600), fraud, T0 + 30))  # joins the 100 waiting labels
        post(server.url, labels(range(150, 260), fraud, T0 + 120))  # p200..p249 new, the rest duplicates
        post(server.url, labels(range(400, 500), fraud, T0 + 130))
        wait_caught_up(server.url)
        before_kill = label_counts(server.url)
        assert before_kill == (500, 60, 0, 0, 0, 0, 600)
        server.kill()  # everything since the start-up checkpoint is in the log only

        server.start()
        wait_caught_up(server.url)
        assert label_counts(server.url) == before_kill  # replayed exactly once
        post(server.url, predictions(range(600, 601), fraud, T0 + 700))  # closes the window [T0, T0 + 600)

        def closed() -> dict[str, object] | None:
            response = httpx.get(f"{server.url}/api/v1/models/pay/quality", timeout=10)
            body: dict[str, object] = response.json()
            return body if response.status_code == 200 and body["latest"] else None

        report = wait_until(closed, timeout=30)
        rows = np.arange(500)
        predicted = (rows % 3 == 0).astype(int)
        latest = report["latest"]
        assert latest["n"] == 500
        assert latest["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(fraud[rows], predicted), abs=1e-12)
        assert latest["metrics"]["recall"] == pytest.approx(skm.recall_score(fraud[rows], predicted), abs=1e-12)
    finally:
        server.stop()


def test_a_jump_in_the_error_rate_raises_the_quality_drift_alarm(sqlite_url: str) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    predicted = rng.random(n) < 0.5
    wrong = np.where(np.arange(n) < 2000, rng.random(n) < 0.1, rng.random(n) < 0.4)  # DDM alarms on the 2385th pair
    truth = predicted ^ wrong
    settings = Settings(db_url=sqlite_url, port=0, quality_window_seconds=600, label_window_seconds=3600)
    with ServerThread(settings) as server:
        for chunk in range(0, n, 500):
            rows = range(chunk, chunk + 500)
            post(
                server.url,
                [
                    log_record(
                        {"ml.model.name": "churn", "ml.prediction.id": f"c{i}", "ml.prediction": bool(predicted[i])},
                        time_ns=int((T0 + i * 0.05) * NS),
                    )
                    for i in rows
                ],
            )
            post(
                server.url,
                [
                    log_record(
                        {"ml.prediction.id": f"c{i}", "ml.label": bool(truth[i])},
                        event="ml.label",
                        time_ns=int((T0 + i * 0.05 + 1) * NS),
                    )
                    for i in rows
                ],
            )
        wait_caught_up(server.url)
        assert scrape(server.url)['driftline_model_quality_drift_detected{model="churn",version="default"}'] == 1.0
        report = httpx.get(f"{server.url}/api/v1/models/churn/quality", timeout=10).json()
        assert (report["task"], report["drift_detected"], report["alarms"], report["open_n"]) == ("classification", True, 1, n)
        assert report["latest"] is None  # the window [T0, T0 + 600) is still open
