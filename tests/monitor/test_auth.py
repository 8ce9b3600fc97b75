"""Bearer tokens: required where configured, compared in constant time, never echoed."""

from __future__ import annotations

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
    other = next(t for t in (INGEST, ADMIN, READ) if t != token)
    assert httpx.request(method, url, content=body, headers={**headers, **bearer(other)}, timeout=10).status_code == 401
    assert httpx.request(method, url, content=body, headers={**headers, **bearer(token)}, timeout=10).status_code == 200
