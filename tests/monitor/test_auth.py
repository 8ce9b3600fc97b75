"""Bearer tokens: required where configured, compared in constant time, never echoed."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from monitor.settings import Settings
from support import ServerThread, inference, log_record, logs_request

INGEST, ADMIN, READ = "ingest-secret-1", "admin-secret-2", "read-secret-3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'driftline.db'}"
    settings = Settings(db_url=url, port=0, ingest_token=INGEST, admin_token=ADMIN, read_token=READ)  # type: ignore[arg-type]
    with ServerThread(settings) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BODY = logs_request([log_record(inference("m", "v1", "p", {"x": 1.0}))]).SerializeToString()


@pytest.mark.parametrize(
    ("method", "path", "token", "body"),
    [
        ("POST", "/v1/logs", INGEST, BODY),
        ("PUT", "/api/v1/models/m/versions/v1/reference", ADMIN, b"x\n1\n2\n3\n"),
        ("GET", "/metrics", READ, None),
        ("GET", "/api/v1/models", READ, None),
        ("GET", "/healthz", READ, None),
    ],
)
def test_each_endpoint_needs_its_own_token(server: ServerThread, method: str, path: str, token: str, body: bytes | None) -> None:
    headers = {"Content-Type": "application/x-protobuf" if path.startswith("/v1") else "text/csv"}
    url = f"{server.url}{path}"
    missing = httpx.request(method, url, content=body, headers=headers, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, url, content=body, headers={**headers, **bearer(token + "x")}, timeout=10)
    assert wrong.status_code == 401
    assert token not in wrong.text
    for other in (INGEST, ADMIN, READ):
        answer = httpx.request(method, url, content=body, headers={**headers, **bearer(other)}, timeout=10)
        # Its own token and the admin token open it; another class's known token is forbidden, not unknown.
        assert answer.status_code == (200 if other in (token, ADMIN) else 403), other
        assert other not in answer.text


def test_security_headers_on_every_response_and_no_cors_by_default(server: ServerThread) -> None:
    for path in ("/healthz", "/api/v1/models", "/nowhere"):
        response = httpx.get(f"{server.url}{path}", headers=bearer(READ), timeout=10)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{server.url}/api/v1/models", headers=bearer(READ)).headers["cache-control"] == "no-store"
    preflight = httpx.options(
        f"{server.url}/api/v1/models",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'd.db'}", port=0, cors_origins=["https://dash.example"])
    with ServerThread(settings) as running:
        for origin, allowed in (("https://dash.example", True), ("https://evil.example", False)):
            preflight = httpx.options(
                f"{running.url}/api/v1/models", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
            )
            assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed


def test_tokens_never_reach_the_logs_or_the_api(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(  # type: ignore[arg-type]
        db_url=f"sqlite:///{tmp_path / 'd.db'}", port=0, ingest_token=INGEST, admin_token=ADMIN, read_token=READ
    )
    assert INGEST not in repr(settings)
    assert ADMIN not in str(settings.model_dump())
    with caplog.at_level(logging.DEBUG), ServerThread(settings) as running:
        for token in (INGEST, ADMIN, READ, "wrong"):
            for path in ("/api/v1/models", "/metrics", "/openapi.json", "/healthz"):
                answer = httpx.get(f"{running.url}{path}", headers=bearer(token), timeout=10)
                assert all(secret not in answer.text for secret in (INGEST, ADMIN, READ))
            httpx.post(
                f"{running.url}/v1/logs", content=BODY, headers={"Content-Type": "application/x-protobuf", **bearer(token)}
            )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # requests, responses and server internals were logged at DEBUG; none may carry a token
    assert all(secret not in logged for secret in (INGEST, ADMIN, READ))
