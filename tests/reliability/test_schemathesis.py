"""schemathesis against a running server's /openapi.json: no endpoint answers 5xx.

Every operation in the schema gets generated requests (valid and invalid), sent with the admin
token so each reaches its handler rather than stopping at 401.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from monitor.settings import Settings
from support import ServerThread

TOKEN = "schemathesis-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


EXAMPLES = 15  # per operation: the whole run stays well under a minute


def test_no_endpoint_answers_5xx(tmp_path: Path) -> None:
    with ServerThread(Settings(db_url=f"sqlite:///{tmp_path / 'driftline.db'}", port=0, admin_token=SecretStr(TOKEN))) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH)
        failures: list[str] = []
        covered: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            covered.append(f"{operation.method.upper()} {operation.path}")

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                response = case.call(headers=AUTH, timeout=60)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

            call()
        paths = server.app.openapi()["paths"]
        assert len(covered) == sum(len(operations) for operations in paths.values())
        assert failures == []
