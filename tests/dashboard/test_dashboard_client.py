"""dashboard.client: caching, errors, and parsing that tolerates extra, missing and renamed fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.client import ApiError, DriftlineClient, NotAvailable
from monitor.settings import Settings
from support import ServerThread


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
        {"/api/v1/models": (200, []), "/api/v1/silences": (201, {})}, calls, read_token="r-token", admin_token="a-token"
    )
    client.models()
    client.silence({"alertname": "Drift"}, duration_seconds=60, comment="deploying", created_by="me")
    assert [c.headers["authorization"] for c in calls] == ["Bearer r-token", "Bearer a-token"]


def test_responses_parse_with_extra_and_missing_fields() -> None:
    answers = {
        "/api/v1/correlations": (
            200,
            {
                "items": [
                    {
                        "metric": "driftline.model.latency{model=m,version=v1}",
                        "kpi": "conversion",
                        "model": "m",
                        "version": "v1",
                        "metric_label": "latency of m v1",
                        "lag_seconds": 720.0,
                        "strength": -0.61,
                        "q_value": 0.003,
                        "effect": -0.6,
                        "evidence": 2,
                        "unit": {"unit": "points", "value_per_unit_minute": 1.5, "value_name": "orders"},
                        "incident": {"start": 10.0, "end": 70.0, "kpi_change": -1.2, "low": -1.5, "high": -0.9, "value": -1.8},
                        "sentence": "When latency of m v1 rises by one unit, conversion falls by 0.6 …",
                        "new_field": [1, 2],
                    },
                    {"metric": "shop.revenue", "kpi": "revenue"},  # the least a finding can say
                ],
                "total": 2,
            },
        ),
        "/api/v1/alerts": (
            200,
            {
                "items": [
                    {
                        "alertname": "ModelQualityDrop",
                        "state": "pending",
                        "severity": "error",
                        "labels": {"model": "m", "metric": "accuracy"},
                        "annotations": {"summary": "accuracy of m v1 is 0.75"},
                        "value": 0.75,
                        "active_since": 100.0,
                        "starts_at": None,
                        "ends_at": None,
                        "silenced": True,
                    }
                ]
            },
        ),
        "/api/v1/actions": (
            200,
            {"items": [{"created_at": 5.0, "policy": "abort", "action": "argo-rollouts", "decision": "dry_run", "result": "ok"}]},
        ),
        "/api/v1/models/m/quality": (
            200,
            {
                "task": "classification",
                "alarms": 1,
                "latest": {"window_start": 0.0, "window_end": 300.0, "n": 120, "metrics": {"accuracy": 0.9, "odd": "x"}},
                "history": [{"window_start": 0.0, "window_end": 300.0, "n": 120, "metrics": {"accuracy": 0.9}}],
            },
        ),
        "/api/v1/models/m/hardware": (
            200,
            {"predictions": 10, "gpus": [{"host": "n1", "uuid": "GPU-1", "readings": {"utilization_ratio": 0.5}}]},
        ),
        "/api/v1/gates/m": (200, {"ok": None, "score": 0.0, "reasons": ["pass ?version="]}),
    }
    client = client_for(answers, [])
    full, least = client.correlations()
    assert (full.model, full.lag_seconds, full.strength, full.q_value, full.effect, full.evidence) == (
        "m",
        720.0,
        -0.61,
        0.003,
        -0.6,
        2,
    )
    assert full.series == ("driftline.model.latency", {"model": "m", "version": "v1"})
    assert (full.value_name, full.incident and full.incident.value) == ("orders", -1.8)
    assert (least.sentence, least.model, least.lag_seconds, least.incident, least.series) == (
        "shop.revenue moves with revenue", None, None, None, ("shop.revenue", {}),
    )  # fmt: skip
    [alert] = client.alerts()
    assert (alert.alertname, alert.state, alert.starts_at, alert.ends_at, alert.summary, alert.silenced) == (
        "ModelQualityDrop", "pending", 100.0, None, "accuracy of m v1 is 0.75", True,
    )  # fmt: skip
    [action] = client.actions()
    assert (action.at, action.policy, action.decision, action.result, action.dry_run) == (5.0, "abort", "dry_run", "ok", True)
    quality = client.quality("m", "v")
    assert (dict(quality.metrics), quality.alarms, len(quality.history), quality.latest and quality.latest.n) == (
        {"accuracy": 0.9}, 1, 1, 120,
    )  # fmt: skip
    hardware = client.hardware("m", "v", start=0.0, end=60.0)
    assert [(g.host, g.uuid, g.utilization, g.power_watts) for g in hardware.gpus] == [("n1", "GPU-1", 0.5, None)]
    assert (hardware.predictions, hardware.gpu_seconds_per_1k_predictions) == (10, None)
    assert client.gate("m", "v").word == "unknown"


def test_silences_are_created_listed_and_expired_on_a_real_server(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'silences.db'}", port=0, admin_token="s3cret")  # type: ignore[call-arg]
    with ServerThread(settings) as server:
        client = DriftlineClient(server.url, admin_token="s3cret", ttl=60)
        unauthorised = DriftlineClient(server.url, admin_token="", read_token="")
        try:
            assert client.silences() == []
            made = client.silence(
                {"alertname": 'Odd "name"', "model": "credit"}, duration_seconds=900, comment="c", created_by="me"
            )
            assert made.matchers == ('alertname="Odd \\"name\\""', 'model="credit"')
            assert made.ends_at - made.starts_at == pytest.approx(900)
            assert [s.id for s in client.silences()] == [made.id]  # the write cleared the cached empty list
            client.expire_silence(made.id)
            assert client.silences() == []
            with pytest.raises(ApiError) as raised:
                client.expire_silence(made.id)
            assert raised.value.status == 404
            with pytest.raises(ApiError) as refused:
                unauthorised.silence({"model": "credit"}, duration_seconds=60, comment="", created_by="me")
            assert refused.value.status == 401
        finally:
            client.close()
            unauthorised.close()
