"""Cardinality guards, the records-per-request cap and the per-record limits, through a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import httpx
import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from collectors.columnar import ARROW_MEDIA_TYPE
from collectors.limits import DEFAULT_LIMITS, IngestLimits
from monitor.settings import Settings
from support import ServerThread, inference, log_record, logs_request, scrape, wait_caught_up

PROTOBUF = {"Content-Type": "application/x-protobuf"}
LIMITS = {"max_models": 2, "max_versions_per_model": 2, "max_features_per_model": 3, "max_series_per_metric": 3}


def settings(path: Path, **extra: int) -> Settings:
    return Settings(db_url=f"sqlite:///{path / 'driftline.db'}", port=0, **{**LIMITS, **extra})  # type: ignore[arg-type]


def send_logs(
    url: str, model: str, version: str, features: dict[str, float], n: int = 2
) -> logs_service_pb2.ExportLogsServiceResponse:
    body = logs_request(log_record(inference(model, version, f"{model}-{version}-{i}", features)) for i in range(n))
    response = httpx.post(f"{url}/v1/logs", content=body.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert response.status_code == 200, response.text
    answer = logs_service_pb2.ExportLogsServiceResponse()
    answer.ParseFromString(response.content)
    return answer


Answer = TypeVar("Answer", logs_service_pb2.ExportLogsServiceResponse, metrics_service_pb2.ExportMetricsServiceResponse)


def post_protobuf(url: str, path: str, body: bytes, answer: Answer) -> Answer:
    """POST an OTLP protobuf body, expect 200, and parse the answer into ``answer``."""
    response = httpx.post(f"{url}{path}", content=body, headers=PROTOBUF, timeout=10)
    assert response.status_code == 200, response.text
    answer.ParseFromString(response.content)
    return answer


def metrics_body(*metrics: metrics_pb2.Metric) -> bytes:
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(scope_metrics=[metrics_pb2.ScopeMetrics(metrics=list(metrics))])]
    ).SerializeToString()


def rejected(url: str, reason: str, signal: str) -> float:
    return scrape(url).get(f'driftline_ingest_rejected_total{{reason="{reason}",signal="{signal}"}}', 0.0)


def test_models_versions_and_features_past_their_limits_are_refused_and_stay_refused_after_restart(tmp_path: Path) -> None:
    with ServerThread(settings(tmp_path)) as server:
        assert not send_logs(server.url, "a", "v1", {"x": 1.0}).HasField("partial_success")
        assert not send_logs(server.url, "b", "v1", {"x": 1.0}).HasField("partial_success")
        third = send_logs(server.url, "c", "v1", {"x": 1.0}, n=3)
        assert third.partial_success.rejected_log_records == 3
        assert "max_models" in third.partial_success.error_message
        assert not send_logs(server.url, "a", "v2", {"x": 1.0}).HasField("partial_success")
        assert "max_versions_per_model" in send_logs(server.url, "a", "v3", {"x": 1.0}).partial_success.error_message
        wider = send_logs(server.url, "b", "v1", {"x": 1.0, "y": 2.0, "z": 3.0, "w": 4.0})
        assert "model 'b' would have 4 features; the limit is 3" in wider.partial_success.error_message
        assert rejected(server.url, "too_many_models", "logs") == 3
        assert rejected(server.url, "too_many_versions", "logs") == 2
        assert rejected(server.url, "too_many_features", "logs") == 2
        wait_caught_up(server.url)
        predictions = scrape(server.url)
        assert predictions['driftline_model_predictions_total{model="a",version="v1"}'] == 2
        assert not any('model="c"' in key for key in predictions)
    with ServerThread(settings(tmp_path)) as server:
        # What was admitted before is still admitted (retries never refused); the limits still hold.
        assert not send_logs(server.url, "b", "v1", {"x": 1.0}).HasField("partial_success")
        assert send_logs(server.url, "c", "v1", {"x": 1.0}).partial_success.rejected_log_records == 2
        response = httpx.put(
            f"{server.url}/api/v1/models/d/versions/v1/reference", content=b"x\n1\n2\n", headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 422
        assert "max_models" in response.json()["detail"]


def gauge_points(labels: list[str]) -> bytes:
    points = [
        metrics_pb2.NumberDataPoint(
            time_unix_nano=1_700_000_000_000_000_000,
            as_double=1.0,
            attributes=[common_pb2.KeyValue(key="user", value=common_pb2.AnyValue(string_value=label))],
        )
        for label in labels
    ]
    metric = metrics_pb2.Metric(name="app.requests", gauge=metrics_pb2.Gauge(data_points=points))
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])])]
    )
    return request.SerializeToString()


def test_metric_label_sets_past_the_limit_are_refused_per_point(tmp_path: Path) -> None:
    with ServerThread(settings(tmp_path)) as server:
        first = httpx.post(f"{server.url}/v1/metrics", content=gauge_points(["u1", "u2", "u1"]), headers=PROTOBUF)
        assert first.status_code == 200
        second = httpx.post(f"{server.url}/v1/metrics", content=gauge_points(["u1", "u3", "u4", "u5", "u4"]), headers=PROTOBUF)
        answer = metrics_service_pb2.ExportMetricsServiceResponse()
        answer.ParseFromString(second.content)
        assert answer.partial_success.rejected_data_points == 3  # u4 twice and u5; u1 known, u3 is the third
        assert "max_series_per_metric" in answer.partial_success.error_message
        assert rejected(server.url, "too_many_series", "metrics") == 3
        assert scrape(server.url)['driftline_ingest_records_total{signal="metrics"}'] == 5


def test_requests_with_too_many_records_get_413_naming_the_limit(tmp_path: Path) -> None:
    with ServerThread(settings(tmp_path, max_records_per_request=4)) as server:
        body = logs_request(log_record(inference("a", "v1", f"p{i}", {"x": 1.0})) for i in range(5))
        response = httpx.post(f"{server.url}/v1/logs", content=body.SerializeToString(), headers=PROTOBUF)
        assert response.status_code == 413
        assert b"max_records_per_request" in response.content
        events = {"model": "a", "version": "v1", "timestamps": [1.7e9] * 5, "predictions": [1] * 5, "features": {"x": [1.0] * 5}}
        response = httpx.post(
            f"{server.url}/api/v1/events", content=json.dumps(events), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["errors"][0]["reason"] == "too_many_records"
        assert rejected(server.url, "too_many_records", "logs") == 1
        assert rejected(server.url, "too_many_records", "events") == 1


@pytest.mark.parametrize("model", ["a", "new"])
def test_columnar_events_past_a_limit_get_422_naming_it(tmp_path: Path, model: str) -> None:
    with ServerThread(settings(tmp_path, max_models=1)) as server:
        send_logs(server.url, "a", "v1", {"x": 1.0})
        features = {name: [1.0, 2.0] for name in ("x", "y", "z", "w")} if model == "a" else {"x": [1.0, 2.0]}
        events = {"model": model, "version": "v1", "timestamps": [1.7e9, 1.7e9], "predictions": [1, 0], "features": features}
        response = httpx.post(
            f"{server.url}/api/v1/events", content=json.dumps(events), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["reason"] == ("too_many_features" if model == "a" else "too_many_models")
        assert ("max_features_per_model" if model == "a" else "max_models") in error["message"]


def test_decoders_default_to_the_settings_defaults() -> None:
    fields = Settings.model_fields
    assert IngestLimits(fields["max_attributes_per_record"].default, fields["max_string_length"].default) == DEFAULT_LIMITS
    assert (DEFAULT_LIMITS.max_attributes_per_record, DEFAULT_LIMITS.max_string_length) == (256, 1024)


PER_RECORD = {"max_attributes_per_record": 8, "max_string_length": 16}


def test_log_records_past_the_attribute_and_string_limits_are_rejected_and_counted(tmp_path: Path) -> None:
    records = [
        log_record(inference("m", "v1", "ok", {"plan": "p" * 16}, **{"exception.stacktrace": "at line 1\n" * 500})),
        log_record(inference("m", "v1", "long", {"plan": "p" * 17})),
        log_record(inference("m", "v1", "crowded", {f"f{i}": float(i) for i in range(6)})),  # 3 + 6 = 9 attributes
        log_record({"ml.prediction.id": "ok", "ml.label": "l" * 17}, event="ml.label"),
    ]
    with ServerThread(settings(tmp_path, **PER_RECORD)) as server:
        body = logs_request(records).SerializeToString()
        answer = post_protobuf(server.url, "/v1/logs", body, logs_service_pb2.ExportLogsServiceResponse())
        assert answer.partial_success.rejected_log_records == 3
        assert answer.partial_success.error_message == (
            "attribute 'ml.feature.plan' is longer than 16 characters (max_string_length)"
        )
        assert rejected(server.url, "value_too_long", "logs") == 2
        assert rejected(server.url, "too_many_attributes", "logs") == 1
        assert scrape(server.url)['driftline_ingest_records_total{signal="logs"}'] == 1
        wait_caught_up(server.url)
        assert scrape(server.url)['driftline_model_predictions_total{model="m",version="v1"}'] == 1


def test_metric_points_past_the_attribute_and_string_limits_are_rejected_and_counted(tmp_path: Path) -> None:
    def labelled(value: float, **labels: str) -> metrics_pb2.NumberDataPoint:
        attributes = [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in labels.items()]
        return metrics_pb2.NumberDataPoint(time_unix_nano=1_700_000_000_000_000_000, as_double=value, attributes=attributes)

    points = [
        labelled(1.0, region="r" * 16),
        labelled(2.0, region="r" * 17),
        labelled(3.0, **{f"k{i}": "x" for i in range(9)}),
    ]
    body = metrics_body(metrics_pb2.Metric(name="shop.orders", gauge=metrics_pb2.Gauge(data_points=points)))
    with ServerThread(settings(tmp_path, **PER_RECORD)) as server:
        answer = post_protobuf(server.url, "/v1/metrics", body, metrics_service_pb2.ExportMetricsServiceResponse())
        assert answer.partial_success.rejected_data_points == 2
        assert answer.partial_success.error_message == (
            "metric 'shop.orders': attribute 'region' is longer than 16 characters (max_string_length)"
        )
        assert rejected(server.url, "value_too_long", "metrics") == 1
        assert rejected(server.url, "too_many_attributes", "metrics") == 1
        assert scrape(server.url)['driftline_ingest_records_total{signal="metrics"}'] == 1


@pytest.mark.parametrize("form", ["json", "arrow"])
def test_columnar_strings_past_the_limit_are_rejected_and_counted(tmp_path: Path, form: str) -> None:
    columns = {
        "timestamp": [1.7e9] * 3,
        "prediction_id": ["a", "b", "c"],
        "prediction": [1, 0, 1],
        "plan": ["p" * 16, "p" * 17, "pro"],
    }
    if form == "json":
        document = {
            "model": "m",
            "timestamps": columns["timestamp"],
            "prediction_ids": columns["prediction_id"],
            "predictions": columns["prediction"],
            "features": {"plan": columns["plan"]},
        }
        request = {"content": json.dumps(document), "headers": {"Content-Type": "application/json"}}
    else:
        table = pa.table(columns)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        request = {"content": sink.getvalue().to_pybytes(), "headers": {"Content-Type": ARROW_MEDIA_TYPE}}
    with ServerThread(settings(tmp_path, **PER_RECORD)) as server:
        response = httpx.post(f"{server.url}/api/v1/events?model=m", timeout=10, **request)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (2, 1)
        [error] = answer["errors"]
        assert (error["reason"], error["rows"]) == ("value_too_long", 1)
        assert "longer than 16 characters (max_string_length)" in error["message"]
        assert rejected(server.url, "value_too_long", "events") == 1


def test_names_too_long_for_the_store_are_refused_at_the_door_and_the_pipeline_keeps_going(db_url: str) -> None:
    """A model version or metric name longer than its column is rejected by the decoder.

    PostgreSQL refuses a value longer than a VARCHAR column; had such a record been acknowledged,
    the pipeline's write would fail on every retry and nothing after it would be counted.
    """
    long_metric = metrics_pb2.Metric(
        name="m" * 256,
        gauge=metrics_pb2.Gauge(
            data_points=[metrics_pb2.NumberDataPoint(time_unix_nano=1_700_000_000_000_000_000, as_double=1.0)]
        ),
    )
    logs_body = logs_request([log_record(inference("m", "v" * 129, "p0", {"x": 1.0}))]).SerializeToString()
    with ServerThread(Settings(db_url=db_url, port=0)) as server:  # type: ignore[arg-type]
        logs = post_protobuf(server.url, "/v1/logs", logs_body, logs_service_pb2.ExportLogsServiceResponse())
        metrics = post_protobuf(
            server.url, "/v1/metrics", metrics_body(long_metric), metrics_service_pb2.ExportMetricsServiceResponse()
        )
        assert (logs.partial_success.rejected_log_records, metrics.partial_success.rejected_data_points) == (1, 1)
        assert rejected(server.url, "name_too_long", "logs") == 1
        assert rejected(server.url, "name_too_long", "metrics") == 1
        send_logs(server.url, "m", "v1", {"x": 1.0}, n=3)
        wait_caught_up(server.url)
        assert scrape(server.url)['driftline_model_predictions_total{model="m",version="v1"}'] == 3
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
