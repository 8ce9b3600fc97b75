"""dashboard.client: caching, errors, and parsing that tolerates extra, missing and renamed fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashboard.client import ApiError, DriftlineClient, NotAvailable


def client_for(answers: dict[str, Any], calls: list[httpx.Request], **options: Any) -> DriftlineClient:
    def server(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path not in answers:
            return httpx.Response(404, json={"detail": "Not Found"})
        status, body = answers[request.url.path]
        return httpx.Response(status, json=body)

    return DriftlineClient("http://driftline", transport=httpx.MockTransport(server), **options)


def test_reads_are_cached_for_ttl_and_writes_clear_the_cache() -> None:
    calls: list[httpx.Request] = []
    models = {"items": [{"model": "m", "version": "v", "features_drifting": 1, "features_tested": 3}]}
    client = client_for({"/api/v1/models": (200, models), "/api/v1/models/m/evaluate": (200, {"results": []})}, calls, ttl=60)
    assert client.models() == client.models()
    assert len(calls) == 1
    client.evaluate("m", "v")
    client.models()
    assert [c.url.path for c in calls] == ["/api/v1/models", "/api/v1/models/m/evaluate", "/api/v1/models"]
    zero = client_for({"/api/v1/models": (200, models)}, calls := [], ttl=0)
    zero.models()
    zero.models()
    assert len(calls) == 2


def test_missing_endpoint_and_error_status_are_told_apart() -> None:
    client = client_for({"/api/v1/models/m/drift": (404, {"detail": "model 'm' is unknown"})}, [])
    with pytest.raises(NotAvailable):
        client.alerts()
    with pytest.raises(ApiError) as raised:
        client.drift("m", "v")
    assert not isinstance(raised.value, NotAvailable)
    assert (raised.value.status, raised.value.detail) == (404, "model 'm' is unknown")


def test_tokens_go_with_reads_and_writes() -> None:
    calls: list[httpx.Request] = []
    client = client_for(
        {"/api/v1/models": (200, []), "/api/v1/silences": (200, {})}, calls, read_token="r-token", admin_token="a-token"
    )
    client.models()
    client.silence({"alertname": "Drift"}, duration_seconds=60, comment="deploying", created_by="me")
    assert [c.headers["authorization"] for c in calls] == ["Bearer r-token", "Bearer a-token"]


def test_future_endpoints_parse_with_extra_missing_and_renamed_fields() -> None:
    answers = {
        "/api/v1/correlations": (
            200,
            {
                "items": [
                    {
                        "sentence": "When drift on income exceeds 0.2, conversion falls 1.8 points about 40 min later.",
                        "metric": "driftline.feature.drift",
                        "kpi": "conversion",
                        "lag": 2400,
                        "strength": -0.61,
                        "q_value": 0.003,
                        "impact": -1.8,
                        "rank": 1,
                    }
                ]
            },
        ),
        "/api/v1/alerts": (
            200,
            [
                {
                    "labels": {"alertname": "ModelDrift", "severity": "critical", "model": "m"},
                    "startsAt": 100.0,
                    "status": "firing",
                }
            ],
        ),
        "/api/v1/actions": (200, {"actions": [{"created_at": 5.0, "name": "argo-abort", "status": "ok", "dry_run": True}]}),
        "/api/v1/models/m/quality": (200, {"metrics": [{"metric": "accuracy", "value": 0.9}], "joined": 120}),
        "/api/v1/models/m/hardware": (
            200,
            {"gpus": [{"host": "n1", "uuid": "GPU-1", "utilization_ratio": 0.5}], "efficiency": {"predictions_per_joule": 3}},
        ),
    }
    client = client_for(answers, [])
    [finding] = client.correlations()
    assert (finding.kpi, finding.lag_seconds, finding.strength, finding.q_value, finding.impact) == (
        "conversion",
        2400.0,
        -0.61,
        0.003,
        -1.8,
    )
    [alert] = client.alerts()
    assert (alert.alertname, alert.severity, alert.state, alert.starts_at, alert.ends_at) == (
        "ModelDrift",
        "critical",
        "firing",
        100.0,
        None,
    )
    [action] = client.actions()
    assert (action.at, action.action, action.outcome, action.dry_run) == (5.0, "argo-abort", "ok", True)
    quality = client.quality("m", "v")
    assert (dict(quality.metrics), quality.labelled) == ({"accuracy": 0.9}, 120)
    hardware = client.hardware("m", "v")
    assert [(g.host, g.gpu, g.utilization, g.power_watts) for g in hardware.gpus] == [("n1", "GPU-1", 0.5, None)]
    assert dict(hardware.efficiency) == {"predictions_per_joule": 3.0}
