"""Synthetic model-server traffic sent through the real OpenTelemetry SDK.

The ``credit-risk`` scenario runs a credit-approval model in two versions: ``v1``
sees the population it was trained on; ``v2`` (a canary) sees a shifted one —
higher incomes and more self-employed applicants — so drift shows up on exactly
those two features within the first window.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np

__all__ = ["SCENARIOS", "Scenario", "reference_csv", "run_simulation"]

EMPLOYMENT = np.array(["salaried", "self_employed", "unemployed", "retired"], dtype=object)
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)


@dataclass(frozen=True, slots=True)
class Scenario:
    model: str
    versions: tuple[str, ...]
    drifted_version: str


SCENARIOS = {"credit-risk": Scenario(model="credit-risk", versions=("v1", "v2"), drifted_version="v2")}


def sample_applicants(rng: np.random.Generator, n: int, *, drifted: bool) -> dict[str, np.ndarray]:
    """Applicant features; ``drifted`` shifts income and employment (a population shift)."""
    employment_p = [0.35, 0.45, 0.1, 0.1] if drifted else [0.7, 0.15, 0.08, 0.07]
    return {
        "income": rng.lognormal(mean=10.9 if drifted else 10.6, sigma=0.45, size=n),
        "age": np.clip(rng.normal(41, 12, size=n), 18, 90),
        "debt_ratio": rng.beta(2, 5, size=n),
        "credit_lines": rng.poisson(4, size=n).astype(float),
        "employment": rng.choice(EMPLOYMENT, size=n, p=employment_p),
        "region": rng.choice(REGIONS, size=n),
    }


def approval_score(features: dict[str, np.ndarray]) -> np.ndarray:
    z = 0.8 * (np.log(features["income"]) - 10.6) - 3.0 * (features["debt_ratio"] - 0.28) + 0.01 * (features["age"] - 41)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def reference_csv(seed: int = 7, rows: int = 5000) -> bytes:
    """A training sample of the credit-risk model as CSV."""
    rng = np.random.default_rng(seed)
    features = sample_applicants(rng, rows, drifted=False)
    out = io.StringIO()
    names = list(features)
    out.write(",".join(names) + "\n")
    for i in range(rows):
        out.write(",".join(f"{features[n][i]:.6g}" if features[n].dtype != object else str(features[n][i]) for n in names) + "\n")
    return out.getvalue().encode()


def run_simulation(
    api: str,
    *,
    scenario: str = "credit-risk",
    rate: float = 50.0,
    duration: float | None = 60.0,
    seed: int = 1,
    token: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Upload references, then send ``rate`` events/s per version until ``duration`` ends; returns events sent."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    spec = SCENARIOS[scenario]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reference = reference_csv()
    for version in spec.versions:
        response = httpx.put(
            f"{api}/api/v1/models/{spec.model}/versions/{version}/reference",
            content=reference,
            headers={**headers, "Content-Type": "text/csv"},
            timeout=60,
        )
        response.raise_for_status()

    provider = LoggerProvider(resource=Resource.create({"service.name": f"{spec.model}-server"}))
    exporter = OTLPLogExporter(endpoint=f"{api}/v1/logs", compression=Compression.Gzip, headers=headers)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=500))
    logger = provider.get_logger("driftline.simulate")
    rng = np.random.default_rng(seed)
    sent = 0
    started = time.monotonic()
    tick = 0.5
    try:
        while duration is None or time.monotonic() - started < duration:
            for version in spec.versions:
                n = rng.poisson(rate * tick)
                features = sample_applicants(rng, n, drifted=version == spec.drifted_version)
                scores = approval_score(features)
                for i in range(n):
                    attributes: dict[str, str | float] = {
                        "ml.model.name": spec.model,
                        "ml.model.version": version,
                        "ml.prediction.id": uuid.uuid4().hex,
                        "ml.prediction": "approve" if scores[i] >= 0.5 else "decline",
                        "ml.prediction.score": float(scores[i]),
                        "ml.latency": float(rng.gamma(4, 0.005)),
                    }
                    for name, column in features.items():
                        value = column[i]
                        attributes[f"ml.feature.{name}"] = value if isinstance(value, str) else float(value)
                    logger.emit(event_name="ml.inference", attributes=attributes)
                sent += n
            if on_progress is not None:
                on_progress(sent)
            time.sleep(tick)
    finally:
        provider.force_flush()
        provider.shutdown()
    return sent
