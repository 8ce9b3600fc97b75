"""The progressive-delivery gate: pass, fail or "not yet" for one model version.

Evidence, for the candidate version:

* **drift** — the latest drift result per feature (the pipeline's
  ``latest_results``): any drifting feature fails;
* **quality** — the ``driftline.model.quality`` series (labels ``model``,
  ``version``, ``metric``) over the lookback: a loss of more than
  ``gate_max_quality_drop`` against the stable version on the same metric fails
  (``mae``, ``rmse``, ``loss``… count lower as better);
* **anomaly** — when ``gate_anomaly_series`` names a series, a score at or above
  ``gate_anomaly_threshold`` in the lookback fails;
* **canary vs stable** — prediction scores, predictions and latency of both
  versions over the same period (:mod:`monitor.canary`).

Verdict: ``False`` as soon as a check fails; ``None`` (insufficient evidence)
while the canary has fewer than ``gate_min_samples`` rows in the lookback or no
check could run; ``True`` otherwise. **Hysteresis**: a failed version keeps
failing until ``gate_recover_after`` consecutive evaluations pass, so a verdict
near a threshold does not flap between polls. The state is per (model, version),
in memory. ``score`` is the share of checks that ran and passed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric

from monitor.canary import CanarySamples, Check, Rows, compare
from monitor.drift import FeatureDrift
from monitor.pipeline import Pipeline
from monitor.series import Bucket
from monitor.settings import Settings

__all__ = ["QUALITY_SERIES", "Gate", "GateDecision", "SeriesReader", "attach_gate"]

QUALITY_SERIES = "driftline.model.quality"
_LOWER_IS_BETTER = ("mae", "mse", "rmse", "mape", "loss", "error")

SeriesReader = Callable[[str, float, float], list[Bucket]]
"""``(name, start, end)`` → every bucket of series ``name`` overlapping ``[start, end)``, each once."""


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What the gate answers: ``ok`` (``None`` = not enough evidence yet), ``score`` and the reasons."""

    model: str
    version: str
    baseline: str | None
    ok: bool | None
    score: float
    reasons: list[str]
    checks: list[Check]
    samples: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "score": self.score,
            "reasons": self.reasons,
            "model": self.model,
            "version": self.version,
            "baseline": self.baseline,
            "samples": self.samples,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "p_value": c.p_value, "effect": c.effect}
                for c in self.checks
            ],
        }


class Gate:
    """Evaluates versions from the running server's evidence; see the module docstring.

    ``latest_results`` is the pipeline's view of the newest drift result per
    (model, version); ``samples`` the recent rows the pipeline feeds.
    """

    def __init__(
        self,
        settings: Settings,
        samples: CanarySamples,
        latest_results: Callable[[], dict[tuple[str, str], list[FeatureDrift]]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.samples = samples
        self.latest_results = latest_results
        self.clock = clock
        self._passes_since_failure: dict[tuple[str, str], int] = {}  # versions held failed
        self._verdicts: Counter[tuple[str, str, str]] = Counter()
        self._rejected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def evaluate(self, model: str, version: str, read_series: SeriesReader, baseline: str | None = None) -> GateDecision:
        """Gather the evidence, decide, and apply hysteresis (each call counts as one evaluation)."""
        s = self.settings
        notes: list[str] = []
        if baseline == version:
            notes.append(f"baseline {baseline!r} is the version being judged; comparing with the busiest other version")
            baseline = None
        baseline = baseline or self._default_baseline(model, version)
        canary, stable = self._same_period(self.samples.rows(model, version), self._baseline_rows(model, baseline))
        checks = [self._drift(model, version)]
        if baseline is not None:
            checks += compare(canary, stable, alpha=s.gate_alpha, min_effect=s.gate_min_effect, min_samples=s.gate_min_samples)
        now = self.clock()
        start = now - s.gate_lookback_seconds
        checks += self._quality(model, version, baseline, read_series(QUALITY_SERIES, start, now + 1))
        if s.gate_anomaly_series:
            checks.append(self._anomaly(model, version, read_series(s.gate_anomaly_series, start, now + 1)))
        failed = [c for c in checks if c.status == "fail"]
        passed = [c for c in checks if c.status == "pass"]
        if baseline is None:
            notes.append("no stable version with recent rows to compare with (pass ?baseline=)")
        raw: bool | None = True
        if failed:
            raw = False
        elif canary.n < s.gate_min_samples:
            raw = None
            notes.append(
                f"insufficient evidence: {canary.n} of {s.gate_min_samples} canary rows in the last {s.gate_lookback_seconds:g} s"
            )
        elif not passed:
            raw = None
            notes.append("insufficient evidence: no check could run")
        ok = self._hysteresis(model, version, raw, notes)
        ran = len(failed) + len(passed)
        if canary.n or ran:  # a version nobody has seen does not get a time series of its own
            with self._lock:
                self._verdicts[(model, version, "pass" if ok else "inconclusive" if ok is None else "fail")] += 1
        ordered = failed + [c for c in checks if c.status == "skip"] + passed
        reasons = notes + [f"{c.status} {c.name}: {c.detail}" for c in ordered]
        score = round(len(passed) / ran, 4) if ran else 0.0
        return GateDecision(model, version, baseline, ok, score, reasons, ordered, {"canary": canary.n, "baseline": stable.n})

    def reject(self, reason: str) -> None:
        """Count a gate request refused as bad input."""
        with self._lock:
            self._rejected[reason] += 1

    def collect(self) -> Iterator[Metric]:
        """Prometheus families (the gate registers itself as a collector)."""
        verdicts = CounterMetricFamily(
            "driftline_gate_evaluations", "Gate evaluations by verdict.", labels=["model", "version", "result"]
        )
        rejected = CounterMetricFamily("driftline_gate_rejected", "Gate requests refused as bad input.", labels=["reason"])
        with self._lock:
            for (model, version, result), count in sorted(self._verdicts.items()):
                verdicts.add_metric([model, version, result], count)
            for reason, count in sorted(self._rejected.items()):
                rejected.add_metric([reason], count)
        yield verdicts
        yield rejected

    # -- evidence ------------------------------------------------------------------------------
    def _default_baseline(self, model: str, version: str) -> str | None:
        """The other version of ``model`` with the most recent rows: the stable one carries most traffic."""
        others = {v: n for v, n in self.samples.versions(model).items() if v != version and n}
        return min(others, key=lambda v: (-others[v], v)) if others else None

    def _baseline_rows(self, model: str, baseline: str | None) -> Rows:
        return Rows.empty() if baseline is None else self.samples.rows(model, baseline)

    def _same_period(self, canary: Rows, stable: Rows) -> tuple[Rows, Rows]:
        """Both versions' rows over the newest common ``gate_lookback_seconds`` of event time."""
        if canary.n == 0:
            return canary, Rows.empty()
        end = float(canary.t.max())
        start = end - self.settings.gate_lookback_seconds
        if stable.n:
            end = min(end, float(stable.t.max()))
            start = max(end - self.settings.gate_lookback_seconds, float(canary.t.min()), float(stable.t.min()))
        return canary.between(start, end), stable.between(start, end)

    def _drift(self, model: str, version: str) -> Check:
        results = self.latest_results().get((model, version), [])
        if not results:
            return Check("drift", "skip", "no drift results yet (no reference profile, or no window closed)")
        drifting = sorted((r for r in results if r.result.drift_detected), key=lambda r: -r.result.effect_size)
        window = f"window ending {max(r.window_end for r in results):.0f}"
        if not drifting:
            return Check("drift", "pass", f"no drift in {len(results)} features ({window})")
        listed = ", ".join(
            f"{r.feature} ({r.result.test} {r.result.statistic:.3g}, effect {r.result.effect_size:.3g})" for r in drifting[:5]
        )
        worst = drifting[0].result
        return Check(
            "drift",
            "fail",
            f"{len(drifting)} of {len(results)} features drifted: {listed} ({window})",
            worst.p_value,
            worst.effect_size,
        )

    def _quality(self, model: str, version: str, baseline: str | None, buckets: list[Bucket]) -> list[Check]:
        means = _means(buckets, "metric", model)
        canary = {metric: value for (v, metric), value in means.items() if v == version}
        checks = []
        for metric, value in sorted(canary.items()):
            name = f"quality:{metric}"
            reference = None if baseline is None else means.get((baseline, metric))
            if reference is None:
                checks.append(Check(name, "skip", f"{metric} {value:.4g}; no stable value to compare with"))
                continue
            loss = value - reference if metric.lower().endswith(_LOWER_IS_BETTER) else reference - value
            failed = loss > self.settings.gate_max_quality_drop
            detail = f"{metric} {value:.4g} vs stable {reference:.4g} (allowed loss {self.settings.gate_max_quality_drop:g})"
            checks.append(Check(name, "fail" if failed else "pass", detail, None, loss))
        return checks

    def _anomaly(self, model: str, version: str, buckets: list[Bucket]) -> Check:
        mine = [b for b in buckets if _labels(b).get("model") == model and _labels(b).get("version") == version]
        if not mine:
            return Check("anomaly", "skip", "no anomaly scores in the lookback")
        peak = max(b.max for b in mine)
        failed = peak >= self.settings.gate_anomaly_threshold
        return Check(
            "anomaly",
            "fail" if failed else "pass",
            f"peak score {peak:.3g} (threshold {self.settings.gate_anomaly_threshold:g})",
            None,
            peak,
        )

    # -- hysteresis ----------------------------------------------------------------------------
    def _hysteresis(self, model: str, version: str, raw: bool | None, notes: list[str]) -> bool | None:
        """Fail at once; after a failure, pass only after ``gate_recover_after`` passes in a row."""
        need = self.settings.gate_recover_after
        key = (model, version)
        with self._lock:
            if raw is False:
                self._passes_since_failure[key] = 0
                return False
            if key not in self._passes_since_failure:
                return raw
            if raw is True:
                self._passes_since_failure[key] += 1
                if self._passes_since_failure[key] >= need:
                    del self._passes_since_failure[key]
                    return True
            passes = self._passes_since_failure[key]
            notes.insert(0, f"held failed after an earlier failure: {passes} of {need} consecutive passes needed")
            return False


def attach_gate(settings: Settings, pipeline: Pipeline, registry: CollectorRegistry) -> Gate:
    """A gate fed with every inference batch ``pipeline`` applies, exporting its counters to ``registry``."""
    samples = CanarySamples(settings.gate_sample_size)
    pipeline.inference_listeners.append(samples.add)
    gate = Gate(settings, samples, pipeline.latest_results)
    registry.register(gate)
    return gate


def _labels(bucket: Bucket) -> dict[str, Any]:
    labels: dict[str, Any] = json.loads(bucket.labels)
    return labels


def _means(buckets: list[Bucket], key: str, model: str) -> dict[tuple[str, str], float]:
    """Mean value per (version, ``key`` label) of ``model``'s series over the buckets."""
    sums: dict[tuple[str, str], list[float]] = {}
    for bucket in buckets:
        labels = _labels(bucket)
        if labels.get("model") != model or "version" not in labels or key not in labels:
            continue
        acc = sums.setdefault((str(labels["version"]), str(labels[key])), [0.0, 0.0])
        acc[0] += bucket.sum
        acc[1] += bucket.count
    return {k: total / count for k, (total, count) in sums.items() if count}
