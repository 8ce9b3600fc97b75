"""The progressive-delivery gate through a real server with seeded traffic: pass, fail, inconclusive, hysteresis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from monitor.settings import Settings
from support import ServerThread, export_gauges, inference, log_record, logs_request, scrape, wait_caught_up

PROTOBUF = {"Content-Type": "application/x-protobuf"}
T0 = time.time() - 600
ANOMALY = "driftline.anomaly.score"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    url = f"sqlite:///{tmp_path_factory.mktemp('gate') / 'driftline.db'}"
    settings = Settings(
        db_url=url,
        port=0,
        gate_min_samples=200,
        gate_sample_size=1000,
        gate_recover_after=3,
        gate_anomaly_series=ANOMALY,
        gate_anomaly_threshold=0.9,
    )  # type: ignore[call-arg]
    with ServerThread(settings) as running:
        yield running


def send(
    server: ServerThread,
    model: str,
    version: str,
    n: int,
    *,
    seed: int,
    start: float = T0,
    score_mean: float = 0.3,
    latency_s: float = 0.020,
    deny_share: float = 0.3,
    income_mean: float = 0.0,
) -> None:
    """``n`` inferences over 60 s of event time from ``start``: score, class, latency and one feature."""
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(score_mean, 0.1, n), 0, 1)
    latency = rng.gamma(4.0, latency_s / 4.0, n)
    classes = np.where(rng.random(n) < deny_share, "deny", "approve")
    income = rng.normal(income_mean, 1.0, n)
    records = [
        log_record(
            inference(
                model,
                version,
                f"{version}-{seed}-{i}",
                {"income": float(income[i])},
                **{"ml.prediction": str(classes[i]), "ml.prediction.score": float(scores[i]), "ml.latency": float(latency[i])},
            ),
            time_ns=int((start + 60.0 * i / n) * 1e9),
        )
        for i in range(n)
    ]
    response = httpx.post(f"{server.url}/v1/logs", content=logs_request(records).SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    wait_caught_up(server.url)


def gate(server: ServerThread, model: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/gates/{model}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def flagger(server: ServerThread, model: str, metadata_version: str | None = None, **params: str) -> httpx.Response:
    payload = {"name": model, "namespace": "shop", "phase": "Progressing", "checksum": "abc", "metadata": {}}
    if metadata_version is not None:
        payload["metadata"] = {"version": metadata_version}
    return httpx.post(f"{server.url}/api/v1/gates/{model}/flagger", json=payload, params=params, timeout=30)


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in body["checks"]}


def test_inconclusive_below_the_minimum_sample_size(server: ServerThread) -> None:
    send(server, "thin", "v1", 600, seed=1)
    send(server, "thin", "v2", 50, seed=2)
    body = gate(server, "thin", version="v2")
    assert body["ok"] is None
    assert body["reasons"][0] == "insufficient evidence: 50 of 200 canary rows in the last 900 s"
    assert body["samples"] == {"canary": 50, "baseline": 589}  # stable rows cut to the canary's period (its last row at 58.8 s)
    assert set(statuses(body).values()) == {"skip"}
    answer = flagger(server, "thin", "v2")
    assert answer.status_code == 412  # Flagger counts "not yet" as a failed check, like its own no-data metrics
    assert answer.json()["ok"] is None


def test_pass_when_canary_matches_stable(server: ServerThread) -> None:
    send(server, "calm", "v1", 600, seed=3)
    send(server, "calm", "v2", 600, seed=4)
    body = gate(server, "calm", version="v2")
    assert body["ok"] is True, body["reasons"]
    assert body["score"] == 1.0
    assert body["baseline"] == "v1"
    assert statuses(body) == {
        "canary:score": "pass",
        "canary:prediction": "pass",
        "canary:latency": "pass",
        "drift": "skip",
        "anomaly": "skip",  # no anomaly scores for this model
    }
    answer = flagger(server, "calm", "v2")
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert flagger(server, "calm", version="v2").status_code == 200  # ?version= works too


def test_fail_when_canary_scores_shift_and_it_is_slower(server: ServerThread) -> None:
    send(server, "shift", "v1", 600, seed=5)
    send(server, "shift", "v2", 600, seed=6, score_mean=0.45, latency_s=0.035, deny_share=0.5)
    body = gate(server, "shift", version="v2")
    assert body["ok"] is False
    assert statuses(body) == {
        "canary:score": "fail",
        "canary:prediction": "fail",
        "canary:latency": "fail",
        "drift": "skip",
        "anomaly": "skip",
    }
    assert body["score"] == 0.0
    assert body["reasons"][0].startswith("fail canary:score: KS D=")
    latency = next(c for c in body["checks"] if c["name"] == "canary:latency")
    assert latency["effect"] > 0.3
    assert latency["p_value"] < 1e-6
    answer = flagger(server, "shift", "v2")
    assert answer.status_code == 412
    assert answer.json()["ok"] is False


def test_fail_on_drift_against_the_reference(server: ServerThread) -> None:
    rng = np.random.default_rng(7)
    reference = "income\n" + "\n".join(f"{x:.5f}" for x in rng.normal(0, 1, 2000))
    put = httpx.put(
        f"{server.url}/api/v1/models/drifty/versions/v2/reference", content=reference, headers={"content-type": "text/csv"}
    )
    assert put.status_code == 200, put.text
    send(server, "drifty", "v1", 600, seed=8)
    send(server, "drifty", "v2", 600, seed=9, income_mean=1.5)  # same scores as stable: only drift tells
    assert httpx.post(f"{server.url}/api/v1/models/drifty/evaluate", params={"version": "v2"}, timeout=60).json()[
        "drift_detected"
    ]
    body = gate(server, "drifty", version="v2")
    assert body["ok"] is False
    checks = statuses(body)
    assert checks["drift"] == "fail"
    assert checks["canary:score"] == "pass"
    assert body["reasons"][0].startswith("fail drift: 1 of 1 features drifted: income (ks ")
    assert flagger(server, "drifty", "v2").status_code == 412


def test_hysteresis_holds_a_failure_until_enough_passes(server: ServerThread) -> None:
    send(server, "flap", "v1", 600, seed=10)
    send(server, "flap", "v2", 600, seed=11, score_mean=0.5)
    assert gate(server, "flap", version="v2")["ok"] is False
    later = T0 + 120  # newer rows that match stable push the bad ones out of the kept window
    send(server, "flap", "v1", 1000, seed=12, start=later)
    send(server, "flap", "v2", 1000, seed=13, start=later)
    held = [gate(server, "flap", version="v2") for _ in range(3)]
    assert [b["ok"] for b in held] == [False, False, True]
    assert held[0]["reasons"][0] == "held failed after an earlier failure: 1 of 3 consecutive passes needed"
    assert held[1]["reasons"][0] == "held failed after an earlier failure: 2 of 3 consecutive passes needed"
    assert all(b["score"] == 1.0 for b in held)  # the evidence itself passed each time


def test_quality_series_compares_canary_with_stable(server: ServerThread) -> None:
    send(server, "quality", "v1", 600, seed=14)
    send(server, "quality", "v2", 600, seed=15)
    now = time.time()
    export_gauge(
        server.url,
        "driftline.model.quality",
        [
            ({"model": "quality", "version": "v1", "metric": "accuracy"}, now - 30, 0.91),
            ({"model": "quality", "version": "v2", "metric": "accuracy"}, now - 30, 0.84),
            ({"model": "quality", "version": "v1", "metric": "mae"}, now - 30, 0.10),
            ({"model": "quality", "version": "v2", "metric": "mae"}, now - 30, 0.11),
        ],
    )
    wait_caught_up(server.url)
    body = gate(server, "quality", version="v2")
    assert body["ok"] is False
    checks = statuses(body)
    assert (checks["quality:accuracy"], checks["quality:mae"]) == ("fail", "pass")
    assert "fail quality:accuracy: accuracy 0.84 vs stable 0.91 (allowed loss 0.02)" in body["reasons"]


def export_gauge(url: str, name: str, points: list[tuple[dict[str, Any], float, float]]) -> None:
    """Points of gauge ``name`` through the OpenTelemetry SDK's OTLP exporter."""
    export_gauges(url, {name: points})


def test_anomaly_series_fails_the_version_it_labels(server: ServerThread) -> None:
    send(server, "odd", "v1", 600, seed=18)
    send(server, "odd", "v2", 600, seed=19)
    send(server, "odd", "v3", 600, seed=20)
    now = time.time()
    export_gauge(
        server.url,
        ANOMALY,
        [
            ({"model": "odd", "version": "v2", "detector": "hst"}, now - 40, 0.95),
            ({"model": "odd", "version": "v2", "detector": "hst"}, now - 20, 0.40),
            ({"model": "odd", "version": "v3", "detector": "hst"}, now - 20, 0.50),
        ],
    )
    wait_caught_up(server.url)
    flagged = gate(server, "odd", version="v2", baseline="v1")
    assert flagged["ok"] is False
    assert "fail anomaly: peak score 0.95 (threshold 0.9)" in flagged["reasons"]
    calm = gate(server, "odd", version="v3", baseline="v1")
    assert calm["ok"] is True, calm["reasons"]
    assert statuses(calm)["anomaly"] == "pass"


def test_get_always_answers_200(server: ServerThread) -> None:
    unknown = gate(server, "nobody")
    assert (unknown["ok"], unknown["reasons"]) == (None, ["model 'nobody' is unknown"])
    send(server, "ambiguous", "v1", 20, seed=16)
    send(server, "ambiguous", "v2", 20, seed=17)
    body = gate(server, "ambiguous")
    assert body["ok"] is None
    assert body["reasons"] == ["pass ?version= (known versions of 'ambiguous': ['v1', 'v2'])"]


def test_flagger_bad_input_is_a_counted_400(server: ServerThread) -> None:
    missing = flagger(server, "calm")
    assert missing.status_code == 400
    assert missing.json()["detail"] == "version: give ?version= or metadata.version in the webhook payload"
    malformed = httpx.post(f"{server.url}/api/v1/gates/calm/flagger", content=b"{not json", timeout=10)
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("body: not a Flagger webhook payload")
    wrong = httpx.post(f"{server.url}/api/v1/gates/calm/flagger", json={"metadata": {"version": 2}}, timeout=10)
    assert wrong.status_code == 400
    assert "metadata.version: Input should be a valid string" in wrong.json()["detail"]
    metrics = scrape(server.url)
    assert metrics['driftline_gate_rejected_total{reason="missing_version"}'] >= 1
    assert metrics['driftline_gate_rejected_total{reason="malformed"}'] >= 2
    assert metrics['driftline_gate_evaluations_total{model="calm",result="pass",version="v2"}'] >= 3


def test_gate_needs_the_read_token_when_one_is_set(tmp_path: Any) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'auth.db'}", port=0, read_token="gate-reader")  # type: ignore[arg-type]
    with ServerThread(settings) as running:
        assert httpx.get(f"{running.url}/api/v1/gates/churn", params={"version": "v2"}).status_code == 401
        assert httpx.post(f"{running.url}/api/v1/gates/churn/flagger", json={"metadata": {"version": "v2"}}).status_code == 401
        allowed = httpx.get(
            f"{running.url}/api/v1/gates/churn", params={"version": "v2"}, headers={"Authorization": "Bearer gate-reader"}
        )
        assert allowed.status_code == 200
        assert allowed.json()["ok"] is None


# -- the decision rules on their own (no server) -----------------------------------------------------
def rows(rng: np.random.Generator, n: int, score_mean: float, start: float = 0.0) -> Any:
    from monitor.canary import Rows

    t = start + np.arange(n, dtype=float)
    return Rows(t, rng.normal(score_mean, 0.1, n), np.full(n, np.nan), np.full(n, np.nan), np.full(n, None, dtype=object))


def test_held_failure_survives_insufficient_evidence_and_needs_passes_in_a_row() -> None:
    from monitor.canary import CanarySamples
    from monitor.gate import Gate

    rng = np.random.default_rng(21)
    samples = CanarySamples(capacity=300)
    gate_ = Gate(Settings(gate_min_samples=200, gate_recover_after=2), samples, dict)  # type: ignore[call-arg]

    def verdict(version: str = "v2", baseline: str | None = None) -> bool | None:
        return gate_.evaluate("m", version, lambda *_: [], baseline).ok

    samples.add_rows("m", "v1", rows(rng, 300, 0.3))
    samples.add_rows("m", "v2", rows(rng, 300, 0.6))
    assert verdict() is False
    samples.add_rows("m", "v2", rows(rng, 300, 0.3, start=10_000))  # good rows, but no stable rows in that period
    samples.add_rows("m", "v1", rows(rng, 300, 0.3, start=20_000))
    decision = gate_.evaluate("m", "v2", lambda *_: [])
    assert decision.ok is False  # raw verdict: not enough rows over a common period, yet still held failed
    assert decision.reasons[0] == "held failed after an earlier failure: 0 of 2 consecutive passes needed"
    samples.add_rows("m", "v2", rows(rng, 300, 0.3, start=30_000))
    samples.add_rows("m", "v1", rows(rng, 300, 0.3, start=30_000))
    assert [verdict(), verdict()] == [False, True]
    assert verdict(baseline="v2") is True  # judging against itself falls back to the busiest other version
    assert gate_.evaluate("m", "v2", lambda *_: [], "v2").reasons[0].startswith("baseline 'v2' is the version being judged")
