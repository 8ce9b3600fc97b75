"""Hostile and malformed input: the documented status, a reason in /metrics, and a server that keeps serving."""

from __future__ import annotations

import gzip
import math
import os

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from monitor.settings import Settings
from support import ServerThread, inference, log_record, logs_request, scrape

CAP = 64 * 1024
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('bad') / 'driftline.db'}"
    with ServerThread(Settings(db_url=url, port=0, max_body_bytes=CAP)) as running:
        yield running


def rejected(url: str, reason: str, signal: str = "logs") -> float:
    return scrape(url).get(f'driftline_ingest_rejected_total{{reason="{reason}",signal="{signal}"}}', 0.0)


def rpc_status(response: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(response.content)
    return status


def valid_body(n: int = 3, version: str = "v1") -> bytes:
    records = [log_record(inference("m", version, f"p{i}", {"x": float(i), "c": "a"})) for i in range(n)]
    return logs_request(records).SerializeToString()


def post(url: str, body: bytes, headers: dict[str, str] | None = None, path: str = "/v1/logs") -> httpx.Response:
    return httpx.post(f"{url}{path}", content=body, headers=headers or PROTOBUF, timeout=10)


def test_random_bytes_get_400_with_rpc_status(server: ServerThread) -> None:
    before = rejected(server.url, "invalid_protobuf")
    response = post(server.url, os.urandom(64) + b"\xff\xff\xff\xff\x0f")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    assert "ExportLogsServiceRequest" in rpc_status(response).message
    assert rejected(server.url, "invalid_protobuf") == before + 1


def test_truncated_protobuf_gets_400(server: ServerThread) -> None:
    body = valid_body(5)
    response = post(server.url, body[: len(body) - 7])
    assert response.status_code == 400
    assert rpc_status(response).code == 3  # INVALID_ARGUMENT


def test_wrong_content_type_gets_415(server: ServerThread) -> None:
    before = rejected(server.url, "unsupported_media_type")
    response = post(server.url, valid_body(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "text/plain" in response.json()["message"]
    assert rejected(server.url, "unsupported_media_type") == before + 1


def test_unknown_content_encoding_gets_415(server: ServerThread) -> None:
    response = post(server.url, valid_body(), headers={**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415


def test_gzip_bomb_past_the_cap_gets_413(server: ServerThread) -> None:
    bomb = gzip.compress(b"\x00" * (CAP * 64))
    assert len(bomb) < CAP  # small on the wire, only too large once expanded
    before = rejected(server.url, "too_large")
    response = post(server.url, bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert str(CAP) in rpc_status(response).message
    assert rejected(server.url, "too_large") == before + 1


def test_raw_body_past_the_cap_gets_413(server: ServerThread) -> None:
    assert post(server.url, b"\x00" * (CAP + 1)).status_code == 413


def test_invalid_json_gets_400_json_status(server: ServerThread) -> None:
    response = post(server.url, b'{"resourceLogs": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("body is not valid JSON")
    deep = b'{"resourceLogs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert post(server.url, deep, headers={"Content-Type": "application/json"}).status_code in (400, 413)


def partial(response: httpx.Response) -> logs_service_pb2.ExportLogsServiceResponse:
    assert response.status_code == 200
    message = logs_service_pb2.ExportLogsServiceResponse()
    message.ParseFromString(response.content)
    return message


@pytest.mark.parametrize(
    ("attributes", "reason", "fragment"),
    [
        ({"ml.model.version": "v1", "ml.feature.x": 1.0}, "missing_model_name", "ml.model.name"),
        (inference("m", "v1", "p", {"x": math.nan}), "non_finite_value", "ml.feature.x"),
        (inference("m", "v1", "p", {"x": math.inf}), "non_finite_value", "finite"),
        (inference("m", "v1", "p", {"x": "high"}), "type_mismatch", "'x'"),
    ],
    ids=["missing-model", "nan", "inf", "string-for-number"],
)
def test_bad_records_are_rejected_one_by_one(
    server: ServerThread, attributes: dict[str, object], reason: str, fragment: str
) -> None:
    # Establish x as numeric, then send one bad record among two good ones.
    assert partial(post(server.url, valid_body())).partial_success.rejected_log_records == 0
    good = [log_record(inference("m", "v1", f"g{i}", {"x": 1.5})) for i in range(2)]
    body = logs_request([good[0], log_record(attributes), good[1]]).SerializeToString()
    before_reason = rejected(server.url, reason)
    before_ok = scrape(server.url)['driftline_ingest_records_total{signal="logs"}']

    answer = partial(post(server.url, body))

    assert answer.partial_success.rejected_log_records == 1
    assert fragment in answer.partial_success.error_message
    assert rejected(server.url, reason) == before_reason + 1
    assert scrape(server.url)['driftline_ingest_records_total{signal="logs"}'] == before_ok + 2


def test_server_keeps_serving_after_bad_input(server: ServerThread) -> None:
    for body in (os.urandom(100), b"", b"\x0a\xff\xff\xff\xff"):
        post(server.url, body)
    assert httpx.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert partial(post(server.url, valid_body(4))).partial_success.rejected_log_records == 0
