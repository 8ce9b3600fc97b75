"""The ``credit-risk`` demo scenario as a pure, seeded generator of telemetry.

A credit-approval model runs as a stable version ``v1`` and a canary ``v2``. Every
step of simulated time yields what a real deployment would emit:

- **predictions** per version: a dozen applicant features, an approval score, the
  decision and the serving latency;
- **labels** that arrive minutes to hours after their prediction (did the applicant
  repay?), so quality can only be known late;
- **GPU telemetry** for two serving hosts whose load follows traffic, with one
  unrelated GPU memory-pressure incident on ``gpu-host-a``;
- **business KPIs** per minute: approval rate, expected loss per hour and revenue per
  hour, with daily seasonality.

The incident: from ``incident_at`` the canary's applicants come from a shifted
population (higher declared incomes, many more self-employed). The model does not
know that self-employed applicants default more, so it approves loans it should not:
accuracy on the canary falls once labels arrive, and the KPIs degrade
``loss_lag_s`` later, when those loans go bad. Nothing else changes: ``v1`` never
drifts, and the other features keep their distribution.

Time is simulated: the generator only sees the timestamps it is given, so the same
scenario runs in real time for the demo and hundreds of times faster in tests.

>>> scenario = CreditRisk(seed=3)
>>> step = scenario.step(scenario.start, scenario.start + 60.0, predictions=200)
>>> sorted(step.predictions), sorted(step.predictions["v1"].features)[:3]
(['v1', 'v2'], ['age', 'channel', 'credit_lines'])
>>> n = len(step.predictions["v1"]) + len(step.predictions["v2"])  # 200 scaled by midnight's low traffic
>>> expected = 200 * float(scenario.traffic(scenario.start + 30.0))
>>> round(expected), abs(n - expected) < 3 * expected**0.5
(115, True)
>>> [k.name for k in step.kpis]
['credit.approval_rate', 'credit.expected_loss_per_hour', 'credit.revenue_per_hour']
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "BATCH_HOST",
    "DRIFTED_FEATURES",
    "EPOCH",
    "CreditRisk",
    "GpuPoint",
    "KpiPoint",
    "LabelEvents",
    "Predictions",
    "Step",
    "approval_score",
    "sample_applicants",
]

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]

EMPLOYMENT = np.array(["salaried", "self_employed", "unemployed", "retired"], dtype=object)
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
PURPOSES = np.array(["car", "home", "education", "business", "other"], dtype=object)
CHANNELS = np.array(["web", "branch", "partner"], dtype=object)
#: The host whose GPUs run an unrelated batch job (exposed in DCGM exporter format).
BATCH_HOST = "gpu-host-c"
#: The two features whose distribution the incident shifts (for the canary only).
DRIFTED_FEATURES = ("income", "employment")

_DAY = 86_400.0
#: Where simulated time starts unless told otherwise: 2026-01-01T00:00:00Z.
EPOCH = 1_767_225_600.0
_MIB = 1024.0 * 1024.0


def sample_applicants(rng: np.random.Generator, n: int, *, drifted: bool) -> dict[str, np.ndarray]:
    """Applicant features; ``drifted`` shifts income and employment (a population shift).

    >>> rows = sample_applicants(np.random.default_rng(0), 5, drifted=False)
    >>> len(rows), {len(column) for column in rows.values()}
    (12, {5})
    """
    employment_p = [0.35, 0.45, 0.1, 0.1] if drifted else [0.7, 0.15, 0.08, 0.07]
    return {
        "income": rng.lognormal(mean=10.9 if drifted else 10.6, sigma=0.45, size=n),
        "age": np.clip(rng.normal(41, 12, size=n), 18, 90),
        "debt_ratio": rng.beta(2, 5, size=n),
        "credit_lines": rng.poisson(4, size=n).astype(float),
        "loan_amount": rng.lognormal(mean=9.2, sigma=0.6, size=n),
        "loan_term_months": rng.choice(np.array([12.0, 24.0, 36.0, 48.0, 60.0]), size=n),
        "years_employed": rng.gamma(2.0, 3.5, size=n),
        "late_payments": rng.poisson(0.4, size=n).astype(float),
        "employment": rng.choice(EMPLOYMENT, size=n, p=employment_p),
        "region": rng.choice(REGIONS, size=n),
        "purpose": rng.choice(PURPOSES, size=n, p=[0.3, 0.25, 0.15, 0.15, 0.15]),
        "channel": rng.choice(CHANNELS, size=n, p=[0.6, 0.25, 0.15]),
    }


def approval_score(features: dict[str, np.ndarray]) -> Floats:
    """The model: probability that the applicant repays, from the features it was trained on."""
    z = (
        0.8 * (np.log(features["income"]) - 10.6)
        - 3.0 * (features["debt_ratio"] - 0.28)
        + 0.01 * (features["age"] - 41)
        - 0.35 * features["late_payments"]
        + 0.03 * (features["years_employed"] - 7.0)
        + 0.4
    )
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _repay_probability(features: dict[str, np.ndarray], inflated: npt.NDArray[np.bool_]) -> Floats:
    """The truth the model does not know.

    Self-employed applicants repay less often than their features suggest, and in the
    shifted population declared incomes are inflated (``inflated`` rows earn about half
    what they declare), so the model over-approves exactly there.
    """
    actual = dict(features)
    actual["income"] = np.where(inflated, features["income"] / 2.0, features["income"])
    score = approval_score(actual)
    z = 5.0 * np.log(score / (1.0 - score)) + 1.0 - 4.0 * (features["employment"] == "self_employed")
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True, slots=True)
class Predictions:
    """One version's predictions in a step, as columns."""

    timestamps: Floats
    prediction_ids: Objects
    decisions: Objects  # "approve" | "decline"
    scores: Floats
    latencies: Floats  # seconds
    features: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


@dataclass(frozen=True, slots=True)
class LabelEvents:
    """Ground truth arriving in a step: what the right decision was for earlier predictions."""

    timestamps: Floats
    prediction_ids: Objects
    labels: Objects  # "approve" (repaid) | "decline" (defaulted)
    versions: Objects  # for the scenario's own bookkeeping; not part of the wire format

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


@dataclass(frozen=True, slots=True)
class GpuPoint:
    """One GPU reading, in the units of the OpenTelemetry ``hw.*`` conventions."""

    host: str
    uuid: str
    index: str
    timestamp: float
    utilization: float  # ratio 0..1
    memory_used_bytes: float
    memory_limit_bytes: float
    power_watts: float
    temperature_celsius: float


@dataclass(frozen=True, slots=True)
class KpiPoint:
    """One business KPI value for a minute that just ended."""

    name: str
    unit: str
    timestamp: float
    value: float


@dataclass(frozen=True, slots=True)
class Step:
    """Everything the scenario emitted over one step of simulated time."""

    predictions: dict[str, Predictions]
    labels: LabelEvents
    gpus: list[GpuPoint]
    kpis: list[KpiPoint]


@dataclass(slots=True)
class _Pending:
    """Labels waiting for their arrival time: a heap of (arrival, sequence) plus columns."""

    heap: list[tuple[float, int]] = field(default_factory=list)
    rows: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    sequence: int = 0


@dataclass(slots=True)
class CreditRisk:
    """The scenario's state; :meth:`step` advances it over ``[start, end)`` of simulated time."""

    seed: int = 1
    start: float = EPOCH
    incident_at: float | None = None  # default: six hours in
    canary_share: float = 0.3
    label_delay_s: tuple[float, float] = (120.0, 3 * 3600.0)  # labels arrive between 2 min and 3 h later
    loss_lag_s: float = 30 * 60.0  # approved loans that go bad show in the KPIs this much later
    gpu_incident: tuple[float, float] | None = None  # (start, end) of gpu-host-a's memory pressure
    _rng: np.random.Generator = field(init=False)
    _pending: _Pending = field(init=False, default_factory=_Pending)
    _next_kpi_minute: float = field(init=False)
    _next_gpu_minute: float = field(init=False)
    _served: dict[str, int] = field(init=False, default_factory=dict)
    _mix: dict[bool, tuple[float, float]] = field(init=False, default_factory=dict)
    _counter: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        if self.incident_at is None:
            self.incident_at = self.start + 6 * 3600.0
        if self.gpu_incident is None:
            self.gpu_incident = (self.start + 2 * 3600.0, self.start + 2.5 * 3600.0)
        self._next_kpi_minute = math.floor(self.start / 60.0) * 60.0 + 60.0
        self._next_gpu_minute = self._next_kpi_minute
        # Business outcomes per population, from one large sample: (approval rate, default rate of approved).
        rng = np.random.default_rng(self.seed + 10_000)
        for drifted in (False, True):
            population = sample_applicants(rng, 200_000, drifted=drifted)
            approved = approval_score(population) >= 0.5
            defaulted = rng.random(approved.shape[0]) >= _repay_probability(population, np.full(200_000, drifted))
            self._mix[drifted] = (float(approved.mean()), float(defaulted[approved].mean()))

    # -- the shape of the day ------------------------------------------------------------------
    def traffic(self, t: float | Floats) -> Floats:
        """Relative traffic at time ``t``, 0.4..1.6: a daily cycle whose day begins at ``start``.

        It peaks fifteen hours into each simulated day ("mid-afternoon" when the scenario
        starts at midnight). Counting from ``start`` rather than from UTC midnight keeps a
        seeded replay the same whatever hour it runs at.
        """
        phase = 2.0 * np.pi * (((np.asarray(t, dtype=np.float64) - self.start) % _DAY) / _DAY - 0.375)
        return np.asarray(1.0 + 0.6 * np.sin(phase))

    def drifted(self, version: str, t: float | Floats) -> npt.NDArray[np.bool_]:
        """Whether ``version`` sees the shifted population at time ``t``."""
        assert self.incident_at is not None
        return np.asarray((np.asarray(t) >= self.incident_at) & (version == "v2"))

    # -- one step ---------------------------------------------------------------------------------
    def step(self, start: float, end: float, *, predictions: int) -> Step:
        """Advance over ``[start, end)``, emitting about ``predictions`` predictions (traffic-weighted)."""
        if end <= start:
            raise ValueError(f"step: end ({end}) must be after start ({start})")
        rng = self._rng
        n = int(rng.poisson(predictions * float(self.traffic((start + end) / 2.0))))
        timestamps = np.sort(rng.uniform(start, end, size=n))
        canary = rng.random(n) < self.canary_share
        out: dict[str, Predictions] = {}
        for version, mask in (("v1", ~canary), ("v2", canary)):
            out[version] = self._predict(version, timestamps[mask])
        return Step(out, self._labels_due(end), self._gpus(end), self._kpis(end))

    def _predict(self, version: str, timestamps: Floats) -> Predictions:
        rng = self._rng
        n = timestamps.shape[0]
        drifted = self.drifted(version, timestamps)
        features = sample_applicants(rng, n, drifted=False)
        if drifted.any():
            shifted = sample_applicants(rng, int(drifted.sum()), drifted=True)
            for name in DRIFTED_FEATURES:
                features[name][drifted] = shifted[name]
        scores = approval_score(features)
        decisions = np.where(scores >= 0.5, "approve", "decline").astype(object)
        ids = np.array([f"{version}-{self._counter + i:09d}" for i in range(n)], dtype=object)
        self._counter += n
        self._served[version] = self._served.get(version, 0) + n
        # The truth, revealed later: repaid → "approve" was right, defaulted → "decline" was.
        repaid = rng.random(n) < _repay_probability(features, drifted)
        truth = np.where(repaid, "approve", "decline")
        low, high = self.label_delay_s
        arrivals = timestamps + np.exp(rng.uniform(math.log(low), math.log(high), size=n))
        pending = self._pending
        for arrival, pid, label in zip(arrivals.tolist(), ids.tolist(), truth.tolist(), strict=True):
            heapq.heappush(pending.heap, (arrival, pending.sequence))
            pending.rows[pending.sequence] = (pid, label, version)
            pending.sequence += 1
        latencies = rng.gamma(4.0, 0.005, size=n) * (1.0 + 0.5 * self.traffic(timestamps))
        return Predictions(timestamps, ids, decisions, scores, latencies, features)

    def _labels_due(self, end: float) -> LabelEvents:
        pending = self._pending
        stamps: list[float] = []
        rows: list[tuple[str, str, str]] = []
        while pending.heap and pending.heap[0][0] < end:
            arrival, sequence = heapq.heappop(pending.heap)
            stamps.append(arrival)
            rows.append(pending.rows.pop(sequence))
        columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        return LabelEvents(
            np.asarray(stamps, dtype=np.float64),
            np.asarray(columns[0], dtype=object),
            np.asarray(columns[1], dtype=object),
            np.asarray(columns[2], dtype=object),
        )

    def _gpus(self, end: float) -> list[GpuPoint]:
        """One reading per GPU for every whole minute that ended before ``end`` (an exporter's scrape).

        v1 serves on gpu-host-a, the canary on gpu-host-b; ``gpu-host-c`` runs an unrelated
        batch job, and the simulator exposes it through a DCGM-exporter-style endpoint
        instead of OTLP.
        """
        assert self.gpu_incident is not None
        rng = self._rng
        points = []
        while self._next_gpu_minute <= end:
            t = self._next_gpu_minute
            busy = 0.1 + 0.5 * float(self.traffic(t))  # each host is sized for its share of traffic
            for host in ("gpu-host-a", "gpu-host-b", BATCH_HOST):
                load = 0.45 if host == BATCH_HOST else busy  # the batch job ignores traffic
                for index in ("0", "1"):
                    utilization = float(np.clip(load + rng.normal(0.0, 0.02), 0.0, 1.0))
                    limit = 80 * 1024 * _MIB
                    used = (18 * 1024 + 20 * 1024 * utilization) * _MIB
                    if host == "gpu-host-a" and index == "0" and self.gpu_incident[0] <= t < self.gpu_incident[1]:
                        used = 0.97 * limit  # a co-located job leaks memory; unrelated to the model
                    points.append(
                        GpuPoint(
                            host=host,
                            uuid=f"GPU-{host[-1]}{index}00000-0000-4000-8000-00000000000{index}",
                            index=index,
                            timestamp=t,
                            utilization=utilization,
                            memory_used_bytes=used,
                            memory_limit_bytes=limit,
                            power_watts=float(90.0 + 560.0 * utilization + rng.normal(0.0, 5.0)),
                            temperature_celsius=float(34.0 + 40.0 * utilization + rng.normal(0.0, 0.5)),
                        )
                    )
            self._next_gpu_minute += 60.0
        return points

    def _kpis(self, end: float) -> list[KpiPoint]:
        """KPI values for every whole minute that ended before ``end``.

        The business is far larger than the sampled predictions, so KPIs come from the
        population mix (share of shifted applicants) rather than from the sampled rows:
        approvals react at once, losses and lost revenue ``loss_lag_s`` later.
        """
        points: list[KpiPoint] = []
        rng = self._rng
        while self._next_kpi_minute <= end:
            t = self._next_kpi_minute
            approval_now, _ = self._blend(t)
            approval_then, default_then = self._blend(t - self.loss_lag_s)
            volume_then = 1200.0 * float(self.traffic(t - self.loss_lag_s))
            loans_then = volume_then * approval_then
            expected_loss = loans_then * default_then * 9_000.0  # average loss given default
            revenue = loans_then * (1.0 - default_then) * 450.0 - expected_loss * 0.1
            noise = rng.normal(0.0, 1.0, size=3)
            points += [
                KpiPoint("credit.approval_rate", "1", t, float(np.clip(approval_now + 0.004 * noise[0], 0.0, 1.0))),
                KpiPoint("credit.expected_loss_per_hour", "USD/h", t, max(0.0, float(expected_loss * (1.0 + 0.03 * noise[1])))),
                KpiPoint("credit.revenue_per_hour", "USD/h", t, float(revenue * (1.0 + 0.02 * noise[2]))),
            ]
            self._next_kpi_minute += 60.0
        return points

    def _blend(self, t: float) -> tuple[float, float]:
        """(approval rate, default rate among approved) of all traffic at time ``t``."""
        share = self.canary_share if bool(self.drifted("v2", t)) else 0.0
        (a0, d0), (a1, d1) = self._mix[False], self._mix[True]
        approval = (1.0 - share) * a0 + share * a1
        defaults = ((1.0 - share) * a0 * d0 + share * a1 * d1) / approval
        return approval, defaults
