"""The credit-risk scenario: the incident it injects, and only that, with seeded outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from collectors.gpu import GpuMetric, from_otlp_metrics, parse_dcgm
from collectors.otlp.metrics import decode_metrics
from monitor.scenario import BATCH_HOST, DRIFTED_FEATURES, EPOCH, CreditRisk, Step
from monitor.simulate import dcgm_text, metrics_request

HOUR = 3600.0


def _run(scenario: CreditRisk, hours: float, per_minute: int = 60) -> list[Step]:
    steps = []
    t = scenario.start
    while t < scenario.start + hours * HOUR:
        steps.append(scenario.step(t, t + 60.0, predictions=per_minute))
        t += 60.0
    return steps


@pytest.fixture(scope="module")
def day() -> tuple[CreditRisk, list[Step]]:
    scenario = CreditRisk(seed=11, incident_at=EPOCH + 4 * HOUR)
    return scenario, _run(scenario, 8.0)


def _column(steps: list[Step], version: str, name: str, *, after: float | None = None, before: float | None = None) -> np.ndarray:
    parts = []
    for step in steps:
        batch = step.predictions[version]
        keep = np.ones(len(batch), dtype=bool)
        if after is not None:
            keep &= batch.timestamps >= after
        if before is not None:
            keep &= batch.timestamps < before
        parts.append(batch.features[name][keep] if name in batch.features else getattr(batch, name)[keep])
    return np.concatenate(parts)


def test_same_seed_same_world() -> None:
    first = _run(CreditRisk(seed=5), 0.5)
    second = _run(CreditRisk(seed=5), 0.5)
    assert [len(s.predictions["v2"]) for s in first] == [len(s.predictions["v2"]) for s in second]
    np.testing.assert_array_equal(first[-1].predictions["v1"].scores, second[-1].predictions["v1"].scores)


def test_only_the_canary_drifts_and_only_on_the_two_features(day: tuple[CreditRisk, list[Step]]) -> None:
    scenario, steps = day
    onset = scenario.incident_at
    assert onset is not None
    for version in ("v1", "v2"):
        for name in ("income", "age", "debt_ratio", "loan_amount", "years_employed"):
            before = _column(steps, version, name, before=onset)
            after = _column(steps, version, name, after=onset)
            p = stats.ks_2samp(before, after).pvalue
            if version == "v2" and name in DRIFTED_FEATURES:
                assert p < 1e-10, (version, name)
            else:
                assert p > 1e-3, (version, name, p)
    share = {
        (version, period): float(np.mean(_column(steps, version, "employment", **{period: onset}) == "self_employed"))
        for version in ("v1", "v2")
        for period in ("before", "after")
    }
    assert share[("v2", "after")] > 0.35 > 0.2 > max(share[("v1", "before")], share[("v1", "after")], share[("v2", "before")])


def test_labels_arrive_late_for_every_prediction_and_quality_drops_on_the_drifted_canary(
    day: tuple[CreditRisk, list[Step]],
) -> None:
    scenario, steps = day
    onset = scenario.incident_at
    assert onset is not None
    made = {}
    for step in steps:
        for version, batch in step.predictions.items():
            for pid, t, decision in zip(batch.prediction_ids, batch.timestamps, batch.decisions, strict=True):
                made[pid] = (version, t, decision)
    correct: dict[tuple[str, bool], list[bool]] = {}
    delays = []
    for step in steps:
        labels = step.labels
        for pid, t, label in zip(labels.prediction_ids, labels.timestamps, labels.labels, strict=True):
            version, made_at, decision = made.pop(pid)
            delays.append(t - made_at)
            correct.setdefault((version, bool(made_at >= onset)), []).append(decision == label)
    low, high = scenario.label_delay_s
    assert low <= min(delays)
    assert max(delays) <= high
    # What has not arrived yet was made within the last label delay.
    assert all(t > scenario.start + 8 * HOUR - high for _, t, _ in made.values())
    accuracy = {key: float(np.mean(values)) for key, values in correct.items()}
    assert abs(accuracy[("v1", True)] - accuracy[("v1", False)]) < 0.03
    assert accuracy[("v2", False)] - accuracy[("v2", True)] > 0.1


def test_kpis_degrade_after_the_incident_with_the_loss_lag(day: tuple[CreditRisk, list[Step]]) -> None:
    scenario, steps = day
    onset = scenario.incident_at
    assert onset is not None
    loss = {k.timestamp: k.value for s in steps for k in s.kpis if k.name == "credit.expected_loss_per_hour"}
    approval = {k.timestamp: k.value for s in steps for k in s.kpis if k.name == "credit.approval_rate"}
    assert len(loss) == len(approval) == 8 * 60
    times = np.array(sorted(loss))
    values = np.array([loss[t] for t in times])
    lagged = onset + scenario.loss_lag_s
    # Normalised by traffic, losses are flat until the lag has passed, then jump.
    per_traffic = values / scenario.traffic(times - scenario.loss_lag_s)
    quiet = per_traffic[(times >= onset - HOUR) & (times < lagged)]
    hit = per_traffic[times >= lagged + 60.0]
    assert hit.mean() > 1.4 * quiet.mean()
    assert quiet.std() / quiet.mean() < 0.1
    # Approvals react at once (the canary approves the shifted population more often).
    rates = np.array([approval[t] for t in times])
    assert rates[times >= onset + 60.0].mean() - rates[times < onset].mean() > 0.02


def test_gpu_memory_incident_is_on_one_gpu_only(day: tuple[CreditRisk, list[Step]]) -> None:
    scenario, steps = day
    assert scenario.gpu_incident is not None
    begin, end = scenario.gpu_incident
    high = {(g.host, g.index) for s in steps for g in s.gpus if g.memory_used_bytes > 0.9 * g.memory_limit_bytes}
    assert high == {("gpu-host-a", "0")}
    during = [
        g
        for s in steps
        for g in s.gpus
        if (g.host, g.index) == ("gpu-host-a", "0") and g.memory_used_bytes > 0.9 * g.memory_limit_bytes
    ]
    assert all(begin <= g.timestamp < end for g in during)


def test_simulated_gpu_and_kpi_metrics_decode_as_gpu_samples() -> None:
    step = CreditRisk(seed=2).step(EPOCH, EPOCH + 120.0, predictions=10)
    otlp_gpus = [g for g in step.gpus if g.host != BATCH_HOST]
    decoded = decode_metrics(metrics_request(otlp_gpus, step.kpis))
    assert decoded.batch is not None
    assert not decoded.rejected
    samples, problems = from_otlp_metrics(decoded.batch)
    assert not problems
    utilization = {(s.host, s.gpu): s.value for s in samples if s.metric is GpuMetric.UTILIZATION_RATIO}
    assert utilization == {(g.host, g.index): pytest.approx(g.utilization) for g in otlp_gpus}
    assert {s.metric for s in samples} >= {GpuMetric.MEMORY_USED_BYTES, GpuMetric.POWER_WATTS, GpuMetric.TEMPERATURE_CELSIUS}
    kpi_names = {name for name in decoded.batch.names if name.startswith("credit.")}
    assert kpi_names == {"credit.approval_rate", "credit.expected_loss_per_hour", "credit.revenue_per_hour"}


def test_dcgm_endpoint_text_parses_back_to_the_readings() -> None:
    step = CreditRisk(seed=2).step(EPOCH, EPOCH + 60.0, predictions=10)
    batch_host = [g for g in step.gpus if g.host == BATCH_HOST]
    samples, problems = parse_dcgm(dcgm_text(batch_host), now=0.0)
    assert not problems
    used = {s.gpu: s.value for s in samples if s.metric is GpuMetric.MEMORY_USED_BYTES}
    for g in batch_host:
        assert used[g.index] == pytest.approx(g.memory_used_bytes, abs=1024 * 1024)
    assert {s.host for s in samples} == {BATCH_HOST}
