"""End to end: the real OpenTelemetry SDK and OTLP/JSON clients against a running server."""

from __future__ import annotations

import io
import time
import uuid

import httpx
import numpy as np
import pytest

from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up

MODEL = "fraud"
N_EVENTS = 600


def reference_csv(rng: np.random.Generator, rows: int = 3000) -> bytes:
    out = io.StringIO()
    out.write("stable,shifted,color\n")
    colors = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    for a, b, c in zip(rng.normal(0, 1, rows), rng.normal(0, 1, rows), colors, strict=True):
        out.write(f"{a:.6f},{b:.6f},{c}\n")
    return out.getvalue().encode()


def live_rows(rng: np.random.Generator, n: int) -> list[dict[str, object]]:
    """'shifted' moves by one standard deviation; the rest keep the reference distribution."""
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2])
    stable, shifted = rng.normal(0, 1, n), rng.normal(1.0, 1, n)
    return [
        {"stable": float(stable[i]), "shifted": float(shifted[i]), "color": str(colors[i]), "score": float(i % 100) / 100}
        for i in range(n)
    ]


@pytest.fixture
def server(sqlite_url: str):  # type: ignore[no-untyped-def]
    with ServerThread(Settings(db_url=sqlite_url, port=0)) as running:
        yield running


def upload_reference(url: str, version: str) -> None:
    response = httpx.put(
        f"{url}/api/v1/models/{MODEL}/versions/{version}/reference",
        content=reference_csv(np.random.default_rng(11)),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert {f["feature"]: f["kind"] for f in response.json()["features"]} == {
        "stable": "numeric",
        "shifted": "numeric",
        "color": "categorical",
    }


def assert_drift_verdicts(url: str, version: str) -> None:
    evaluated = httpx.post(f"{url}/api/v1/models/{MODEL}/evaluate", params={"version": version}, timeout=60)
    assert evaluated.status_code == 200, evaluated.text
    verdicts = {r["feature"]: r["drift_detected"] for r in evaluated.json()["results"]}
    assert verdicts == {"shifted": True, "stable": False, "color": False}

    stored = httpx.get(f"{url}/api/v1/models/{MODEL}/drift", params={"version": version}, timeout=10).json()
    assert stored["drift_detected"] is True
    by_feature = {r["feature"]: r for r in stored["results"]}
    assert by_feature["shifted"]["drift_detected"] is True
    assert by_feature["shifted"]["n"] == N_EVENTS
    assert by_feature["shifted"]["test"] == "ks"
    assert by_feature["shifted"]["p_value"] < 1e-6
    assert by_feature["stable"]["drift_detected"] is False
    assert by_feature["color"]["test"] == "chi2"

    metrics = scrape(url)
    assert metrics[f'driftline_feature_drift_detected{{feature="shifted",model="{MODEL}",version="{version}"}}'] == 1.0
    assert metrics[f'driftline_feature_drift_detected{{feature="stable",model="{MODEL}",version="{version}"}}'] == 0.0
    assert metrics[f'driftline_feature_drift_detected{{feature="color",model="{MODEL}",version="{version}"}}'] == 0.0
    assert metrics[f'driftline_model_predictions_total{{model="{MODEL}",version="{version}"}}'] == N_EVENTS
    score_key = f'driftline_feature_drift_score{{feature="shifted",model="{MODEL}",test="ks",version="{version}"}}'
    assert metrics[score_key] == pytest.approx(by_feature["shifted"]["statistic"])


def test_otel_sdk_exporter_gzip_shows_drift_on_the_shifted_feature_only(server: ServerThread) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    upload_reference(server.url, "v1")
    provider = LoggerProvider(resource=Resource.create({"service.name": "fraud-server"}))
    exporter = OTLPLogExporter(endpoint=f"{server.url}/v1/logs", compression=Compression.Gzip, timeout=10)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=256))
    logger = provider.get_logger("tests")
    for row in live_rows(np.random.default_rng(5), N_EVENTS):
        logger.emit(
            event_name="ml.inference",
            attributes={
                "ml.model.name": MODEL,
                "ml.model.version": "v1",
                "ml.prediction.id": uuid.uuid4().hex,
                "ml.prediction": "fraud" if row["score"] > 0.9 else "ok",  # type: ignore[operator]
                "ml.prediction.score": row["score"],  # type: ignore[dict-item]
                "ml.latency": 0.012,
                **{f"ml.feature.{k}": v for k, v in row.items() if k != "score"},  # type: ignore[misc]
            },
        )
    assert provider.force_flush(timeout_millis=30_000)
    provider.shutdown()

    wait_caught_up(server.url)
    metrics = scrape(server.url)
    assert metrics['driftline_ingest_records_total{signal="logs"}'] == N_EVENTS
    assert_drift_verdicts(server.url, "v1")


def otlp_json_request(rows: list[dict[str, object]], version: str, start_ns: int) -> dict[str, object]:
    """OTLP/JSON as the spec writes it: camelCase, hex ids, int64 as strings, enums as ints."""
    records = []
    for i, row in enumerate(rows):
        attributes = [
            {"key": "ml.model.name", "value": {"stringValue": MODEL}},
            {"key": "ml.model.version", "value": {"stringValue": version}},
            {"key": "ml.prediction.id", "value": {"stringValue": f"p-{i}"}},
            {"key": "ml.prediction", "value": {"intValue": str(int(row["score"] > 0.5))}},  # type: ignore[operator]
            {"key": "ml.feature.stable", "value": {"doubleValue": row["stable"]}},
            {"key": "ml.feature.shifted", "value": {"doubleValue": row["shifted"]}},
            {"key": "ml.feature.color", "value": {"stringValue": row["color"]}},
        ]
        records.append(
            {
                "timeUnixNano": str(start_ns + i * 1_000_000),
                "severityNumber": 9,
                "eventName": "ml.inference",
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174",
                "attributes": attributes,
                "someFutureField": {"ignored": True},
            }
        )
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fraud-server"}}]},
                "scopeLogs": [{"scope": {"name": "tests"}, "logRecords": records}],
            }
        ]
    }


def test_otlp_json_shows_the_same_drift(server: ServerThread) -> None:
    upload_reference(server.url, "v2")
    rows = live_rows(np.random.default_rng(5), N_EVENTS)
    start = time.time_ns()
    for chunk in range(0, N_EVENTS, 200):
        response = httpx.post(
            f"{server.url}/v1/logs",
            json=otlp_json_request(rows[chunk : chunk + 200], "v2", start + chunk * 1_000_000),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {}  # no partial_success: everything accepted
    wait_caught_up(server.url)
    assert_drift_verdicts(server.url, "v2")


def test_metrics_and_traces_are_accepted_and_counted(server: ServerThread) -> None:
    now = str(time.time_ns())
    metrics_body = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "gpu-1"}}]},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "hw.gpu.utilization", "gauge": {"dataPoints": [{"timeUnixNano": now, "asDouble": 0.5}]}},
                            {
                                "name": "orders",
                                "sum": {"dataPoints": [{"timeUnixNano": now, "asInt": "42"}], "aggregationTemporality": 2},
                            },
                        ]
                    }
                ],
            }
        ]
    }
    assert httpx.post(f"{server.url}/v1/metrics", json=metrics_body, timeout=10).status_code == 200
    traces_body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "predict",
                                "kind": 2,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    assert httpx.post(f"{server.url}/v1/traces", json=traces_body, timeout=10).status_code == 200
    metrics = scrape(server.url)
    assert metrics['driftline_ingest_records_total{signal="metrics"}'] == 2
    assert metrics['driftline_ingest_records_total{signal="traces"}'] == 1


def test_evaluate_without_reference_says_how_to_fix_it(server: ServerThread) -> None:
    response = httpx.post(
        f"{server.url}/v1/logs", json=otlp_json_request(live_rows(np.random.default_rng(1), 10), "v9", time.time_ns()), timeout=10
    )
    assert response.status_code == 200
    evaluated = httpx.post(f"{server.url}/api/v1/models/{MODEL}/evaluate", params={"version": "v9"}, timeout=30)
    assert evaluated.status_code == 409
    assert "PUT /api/v1/models/fraud/versions/v9/reference" in evaluated.json()["detail"]
    unknown = httpx.get(f"{server.url}/api/v1/models/nope/drift", timeout=10)
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["detail"]
