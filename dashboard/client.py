"""The dashboard's one way to reach Driftline: a typed, caching client of the HTTP API.

Every response is parsed here into small frozen dataclasses, tolerantly: unknown fields are
ignored and optional ones default, so the pages never index into raw JSON. Reads are cached for
``ttl`` seconds per (path, query), so a page that asks twice in one render asks the server once.

Endpoints that a server does not offer (an older Driftline) answer 404 with FastAPI's plain ``Not Found``; the
client raises :class:`NotAvailable` for them, so a page can say "not available yet" instead of
failing. Any other error status raises :class:`ApiError` with the server's ``detail``.

Examples
--------
A mock transport stands in for the server here; the dashboard passes only ``base_url``.

>>> import httpx
>>> def server(request):
...     if request.url.path == "/api/v1/models":
...         item = {"model": "churn", "version": "v3", "status": "drift", "features_drifting": 2,
...                 "features_tested": 9, "predictions_total": 120, "has_reference": True, "new_field": 1}
...         return httpx.Response(200, json={"items": [item], "total": 1, "limit": 100, "offset": 0})
...     return httpx.Response(404, json={"detail": "Not Found"})
>>> client = DriftlineClient("http://driftline:4318", transport=httpx.MockTransport(server))
>>> [(m.model, m.version, m.status, m.features_drifting) for m in client.models()]
[('churn', 'v3', 'drift', 2)]
>>> client.gate("churn", "v3")
Traceback (most recent call last):
...
dashboard.client.NotAvailable: GET /api/v1/gates/churn is not offered by this server yet
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "Action",
    "Alert",
    "ApiError",
    "Distribution",
    "DriftResult",
    "DriftlineClient",
    "Finding",
    "GateVerdict",
    "Gpu",
    "Hardware",
    "Incident",
    "ModelVersion",
    "NotAvailable",
    "Quality",
    "QualityWindow",
    "Series",
    "Silence",
    "matcher",
    "split_key",
]

DEFAULT_API = "http://127.0.0.1:4318"
DEFAULT_TTL = 5.0

Params = Sequence[tuple[str, str | float | int]]


class ApiError(RuntimeError):
    """The server answered an error status; ``status`` and ``detail`` say which and why."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {detail}")
        self.status = status
        self.detail = detail


class NotAvailable(ApiError):
    """The server has no such endpoint (an older Driftline)."""

    def __init__(self, method: str, path: str) -> None:
        RuntimeError.__init__(self, f"{method} {path} is not offered by this server yet")
        self.status = 404
        self.detail = "Not Found"


# -- parsing helpers: tolerant of missing and extra fields --------------------------------------
def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` present (not None) in ``data``: tolerates renamed fields."""
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def _items(body: Any, *keys: str) -> list[Mapping[str, Any]]:
    """The list of objects in a response: the body itself, or under ``items`` (or ``keys``)."""
    if isinstance(body, list):
        return [item for item in body if isinstance(item, Mapping)]
    if isinstance(body, Mapping):
        for key in (*keys, "items"):
            if isinstance(body.get(key), list):
                return [item for item in body[key] if isinstance(item, Mapping)]
    return []


# -- response types ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelVersion:
    model: str
    version: str
    status: str
    features_drifting: int
    features_tested: int
    predictions_total: int
    has_reference: bool
    created_at: float | None = None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> ModelVersion:
        return ModelVersion(
            model=str(data["model"]),
            version=str(data["version"]),
            status=str(data.get("status", "unknown")),
            features_drifting=int(data.get("features_drifting") or 0),
            features_tested=int(data.get("features_tested") or 0),
            predictions_total=int(data.get("predictions_total") or 0),
            has_reference=bool(data.get("has_reference", False)),
            created_at=_float(data.get("created_at")),
        )


@dataclass(frozen=True, slots=True)
class DriftResult:
    feature: str
    test: str
    statistic: float
    p_value: float | None
    effect_size: float
    threshold: float
    drift_detected: bool
    window_start: float
    window_end: float
    n: int

    @staticmethod
    def parse(data: Mapping[str, Any]) -> DriftResult:
        return DriftResult(
            feature=str(data["feature"]),
            test=str(data.get("test", "")),
            statistic=float(data.get("statistic") or 0.0),
            p_value=_float(data.get("p_value")),
            effect_size=float(data.get("effect_size") or 0.0),
            threshold=float(data.get("threshold") or 0.0),
            drift_detected=bool(data.get("drift_detected", False)),
            window_start=float(data.get("window_start") or 0.0),
            window_end=float(data.get("window_end") or 0.0),
            n=int(data.get("n") or 0),
        )


@dataclass(frozen=True, slots=True)
class Series:
    """One stored series: its labels and per-bucket values (``mean``, ``max``, ``last``)."""

    labels: Mapping[str, Any]
    t: tuple[float, ...]
    mean: tuple[float, ...]
    max: tuple[float, ...]
    last: tuple[float, ...]
    count: tuple[int, ...]

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Series:
        points = [p for p in data.get("points", []) if isinstance(p, Mapping)]
        return Series(
            labels=dict(data.get("labels") or {}),
            t=tuple(float(p["t"]) for p in points),
            mean=tuple(float(_first(p, "mean", "last") or 0.0) for p in points),
            max=tuple(float(_first(p, "max", "last") or 0.0) for p in points),
            last=tuple(float(_first(p, "last", "mean") or 0.0) for p in points),
            count=tuple(int(p.get("count") or 0) for p in points),
        )


@dataclass(frozen=True, slots=True)
class Distribution:
    """Reference vs newest closed window of one feature, on the reference's bins or categories."""

    feature: str
    kind: str
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...] | None
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    window_end: float | None = None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Distribution:
        reference = data.get("reference") or {}
        current = data.get("current") or None
        lows = [v for v in (_float(reference.get("min")), _float(current and current.get("min"))) if v is not None]
        highs = [v for v in (_float(reference.get("max")), _float(current and current.get("max"))) if v is not None]
        return Distribution(
            feature=str(data.get("feature", "")),
            kind=str(reference.get("kind", "numeric")),
            reference_counts=tuple(int(c) for c in reference.get("counts", [])),
            current_counts=None if not current else tuple(int(c) for c in current.get("counts", [])),
            edges=tuple(float(e) for e in reference.get("edges") or []),
            categories=tuple(str(c) for c in reference.get("categories") or []),
            low=min(lows) if lows else None,
            high=max(highs) if highs else None,
            window_end=_float(current and current.get("window_end")),
        )


@dataclass(frozen=True, slots=True)
class QualityWindow:
    """One closed quality window: metrics on the prediction-label pairs that joined in it."""

    window_start: float
    window_end: float
    n: int
    metrics: Mapping[str, float]
    drift_detected: bool

    @staticmethod
    def parse(data: Mapping[str, Any]) -> QualityWindow:
        raw = data.get("metrics") or {}
        metrics = (
            {str(k): v for k, v in ((k, _float(v)) for k, v in raw.items()) if v is not None} if isinstance(raw, Mapping) else {}
        )
        return QualityWindow(
            window_start=float(data.get("window_start") or 0.0),
            window_end=float(data.get("window_end") or 0.0),
            n=int(data.get("n") or 0),
            metrics=metrics,
            drift_detected=bool(data.get("drift_detected", False)),
        )


@dataclass(frozen=True, slots=True)
class Quality:
    """Quality of a model version on its joined labels: the latest closed window and the history."""

    task: str
    drift_detected: bool
    alarms: int
    latest: QualityWindow | None
    history: tuple[QualityWindow, ...]  # newest first

    @property
    def metrics(self) -> Mapping[str, float]:
        """The latest closed window's metrics (none before a window has closed)."""
        return {} if self.latest is None else self.latest.metrics

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Quality:
        latest = data.get("latest")
        return Quality(
            task=str(data.get("task", "")),
            drift_detected=bool(data.get("drift_detected", False)),
            alarms=int(data.get("alarms") or 0),
            latest=QualityWindow.parse(latest) if isinstance(latest, Mapping) else None,
            history=tuple(QualityWindow.parse(w) for w in _items(data, "history")),
        )


@dataclass(frozen=True, slots=True)
class Gpu:
    """A GPU linked to the model, its latest fresh readings and its efficiency over the range."""

    host: str
    gpu: str
    uuid: str
    version: str
    model_name: str
    readings: Mapping[str, float]
    gpu_seconds: float
    idle_ratio: float | None
    memory_headroom_min_bytes: float | None
    last_seen: float | None

    @property
    def utilization(self) -> float | None:
        return self.readings.get("utilization_ratio")

    @property
    def memory_used_bytes(self) -> float | None:
        return self.readings.get("memory_used_bytes")

    @property
    def power_watts(self) -> float | None:
        return self.readings.get("power_watts")

    @property
    def temperature_celsius(self) -> float | None:
        return self.readings.get("temperature_celsius")

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Gpu:
        raw = data.get("readings") or {}
        readings = (
            {str(k): v for k, v in ((k, _float(v)) for k, v in raw.items()) if v is not None} if isinstance(raw, Mapping) else {}
        )
        return Gpu(
            host=str(data.get("host", "")),
            gpu=str(data.get("gpu", "")),
            uuid=str(data.get("uuid", "")),
            version=str(data.get("version", "")),
            model_name=str(data.get("model_name", "")),
            readings=readings,
            gpu_seconds=float(data.get("gpu_seconds") or 0.0),
            idle_ratio=_float(data.get("idle_ratio")),
            memory_headroom_min_bytes=_float(data.get("memory_headroom_min_bytes")),
            last_seen=_float(data.get("last_seen")),
        )


@dataclass(frozen=True, slots=True)
class Hardware:
    """GPUs linked to a model version (``gpu_models``) and their efficiency over [start, end)."""

    gpus: tuple[Gpu, ...]
    predictions: int
    gpu_seconds: float
    idle_ratio: float | None
    gpu_seconds_per_1k_predictions: float | None
    memory_headroom_min_bytes: float | None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Hardware:
        return Hardware(
            gpus=tuple(Gpu.parse(g) for g in _items(data, "gpus")),
            predictions=int(data.get("predictions") or 0),
            gpu_seconds=float(data.get("gpu_seconds") or 0.0),
            idle_ratio=_float(data.get("idle_ratio")),
            gpu_seconds_per_1k_predictions=_float(data.get("gpu_seconds_per_1k_predictions")),
            memory_headroom_min_bytes=_float(data.get("memory_headroom_min_bytes")),
        )


def split_key(key: str) -> tuple[str, dict[str, str]]:
    """A finding's series key ``name{k=v,k=v}`` as (name, labels).

    >>> split_key("driftline.model.latency{model=credit,version=v2}")
    ('driftline.model.latency', {'model': 'credit', 'version': 'v2'})
    >>> split_key("shop.revenue")
    ('shop.revenue', {})
    """
    name, brace, rest = key.partition("{")
    if not brace or not rest.endswith("}"):
        return key, {}
    pairs = (item.partition("=") for item in rest[:-1].split(",") if item)
    return name, {k: v for k, sep, v in pairs if sep}


@dataclass(frozen=True, slots=True)
class Incident:
    """The latest incident's estimated KPI change and, with a KPI unit value, its worth."""

    start: float
    end: float
    kpi_change: float
    value: float | None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Incident:
        return Incident(
            start=float(data.get("start") or 0.0),
            end=float(data.get("end") or 0.0),
            kpi_change=float(data.get("kpi_change") or 0.0),
            value=_float(data.get("value")),
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """A ranked model-metric → KPI correlation, with its plain-language sentence."""

    sentence: str
    metric: str  # the series key, e.g. driftline.model.latency{model=m,version=v1}
    kpi: str
    model: str | None
    version: str | None
    metric_label: str
    lag_seconds: float | None
    strength: float | None
    q_value: float | None
    effect: float | None
    evidence: int
    value_name: str = ""
    incident: Incident | None = None
    method: str = "correlation"  # or "event": one incident's onset followed by an unusual KPI shift

    @property
    def series(self) -> tuple[str, dict[str, str]]:
        """The stored series behind the metric: (name, labels)."""
        return split_key(self.metric)

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Finding:
        metric = str(data.get("metric") or "")
        kpi = str(data.get("kpi") or "")
        unit = data.get("unit") or {}
        incident = data.get("incident")
        model, version = data.get("model"), data.get("version")
        return Finding(
            sentence=str(data.get("sentence") or f"{metric} moves with {kpi}"),
            metric=metric,
            kpi=kpi,
            model=None if model is None else str(model),
            version=None if version is None else str(version),
            metric_label=str(data.get("metric_label") or metric),
            lag_seconds=_float(data.get("lag_seconds")),
            strength=_float(data.get("strength")),
            q_value=_float(data.get("q_value")),
            effect=_float(data.get("effect")),
            evidence=int(data.get("evidence") or 0),
            value_name=str(unit.get("value_name") or "") if isinstance(unit, Mapping) else "",
            incident=Incident.parse(incident) if isinstance(incident, Mapping) else None,
            method=str(data.get("method") or "correlation"),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of the history; ``starts_at`` is when it started firing, else when it became active."""

    alertname: str
    state: str
    severity: str
    labels: Mapping[str, str]
    summary: str
    starts_at: float
    ends_at: float | None
    fingerprint: str
    value: float | None = None
    silenced: bool = False

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Alert:
        labels = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
        annotations = data.get("annotations") or {}
        return Alert(
            alertname=str(data.get("alertname") or labels.get("alertname", "")),
            state=str(data.get("state") or "firing"),
            severity=str(data.get("severity") or labels.get("severity", "")),
            labels=labels,
            summary=str(annotations.get("summary", "")) if isinstance(annotations, Mapping) else "",
            starts_at=float(_first(data, "starts_at", "active_since") or 0.0),
            ends_at=_float(data.get("ends_at")),
            fingerprint=str(data.get("fingerprint", "")),
            value=_float(data.get("value")),
            silenced=bool(data.get("silenced", False)),
        )


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    active: bool

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Silence:
        return Silence(
            id=str(data.get("id", "")),
            matchers=tuple(str(m) for m in data.get("matchers") or []),
            starts_at=float(data.get("starts_at") or 0.0),
            ends_at=float(data.get("ends_at") or 0.0),
            created_by=str(data.get("created_by", "")),
            comment=str(data.get("comment", "")),
            active=bool(data.get("active", False)),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One entry of the rollback audit: what fired, what the policy decided and the result."""

    at: float
    policy: str
    action: str
    decision: str  # run, dry_run, cooldown, rate_limited
    result: str  # queued, ok, failed, skipped
    alertname: str
    detail: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        return self.decision == "dry_run"

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Action:
        return Action(
            at=float(_first(data, "created_at", "updated_at") or 0.0),
            policy=str(data.get("policy") or ""),
            action=str(data.get("action") or ""),
            decision=str(data.get("decision") or ""),
            result=str(data.get("result") or ""),
            alertname=str(data.get("alertname") or ""),
            detail=str(data.get("detail") or ""),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The progressive-delivery gate's verdict on a version: pass (True), fail (False) or unknown (None)."""

    ok: bool | None
    score: float
    reasons: tuple[str, ...]
    baseline: str | None

    @property
    def word(self) -> str:
        return "unknown" if self.ok is None else "pass" if self.ok else "fail"

    @staticmethod
    def parse(data: Mapping[str, Any]) -> GateVerdict:
        ok = data.get("ok")
        baseline = data.get("baseline")
        return GateVerdict(
            ok=None if ok is None else bool(ok),
            score=float(data.get("score") or 0.0),
            reasons=tuple(str(r) for r in data.get("reasons") or []),
            baseline=None if baseline is None else str(baseline),
        )


def matcher(name: str, value: str) -> str:
    """An equality matcher as the silences API reads it, quotes and backslashes escaped.

    >>> print(matcher("alertname", 'Drift "x"'))
    alertname="Drift \\"x\\""
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


# -- the client -----------------------------------------------------------------------------------------
class DriftlineClient:
    """Typed reads (cached ``ttl`` seconds) and the few writes the dashboard makes.

    ``read_token`` defaults to ``DRIFTLINE_READ_TOKEN``; writes ("check now", silences) send
    ``admin_token`` (default ``DRIFTLINE_ADMIN_TOKEN``) when one is set.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API,
        *,
        read_token: str | None = None,
        admin_token: str | None = None,
        ttl: float = DEFAULT_TTL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0 seconds, got {ttl}")
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self._read_token = read_token if read_token is not None else os.environ.get("DRIFTLINE_READ_TOKEN")
        self._admin_token = admin_token if admin_token is not None else os.environ.get("DRIFTLINE_ADMIN_TOKEN")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # -- transport --
    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    @staticmethod
    def _check(method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
            raise NotAvailable(method, path)
        raise ApiError(method, path, response.status_code, str(detail))

    def get(self, path: str, params: Params = ()) -> Any:
        """GET ``path`` as JSON, served from the cache when younger than ``ttl``."""
        key = (path, tuple((k, str(v)) for k, v in params))
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        body = self._check("GET", path, self._http.get(path, params=list(key[1]), headers=self._headers(self._read_token)))
        with self._lock:
            self._cache[key] = (now, body)
        return body

    def post(self, path: str, params: Params = (), json: Any = None) -> Any:
        """POST, never cached; clears the cache so the next reads show the change."""
        response = self._http.post(
            path, params=[(k, str(v)) for k, v in params], json=json, headers=self._headers(self._admin_token or self._read_token)
        )
        with self._lock:
            self._cache.clear()
        return self._check("POST", path, response)

    def close(self) -> None:
        self._http.close()

    # -- reads --
    def models(self) -> list[ModelVersion]:
        return [ModelVersion.parse(item) for item in _items(self.get("/api/v1/models", [("limit", 1000)]))]

    def drift(self, model: str, version: str) -> list[DriftResult]:
        body = self.get(f"/api/v1/models/{model}/drift", [("version", version)])
        return [DriftResult.parse(item) for item in _items(body, "results")]

    def drift_history(
        self, model: str, version: str, *, start: float, end: float, feature: str | None = None
    ) -> list[DriftResult]:
        params: list[tuple[str, str | float | int]] = [("version", version), ("start", start), ("end", end), ("limit", 10_000)]
        if feature is not None:
            params.append(("feature", feature))
        body = self.get(f"/api/v1/models/{model}/drift/history", params)
        return [DriftResult.parse(item) for item in _items(body)]

    def distribution(self, model: str, version: str, feature: str) -> Distribution:
        return Distribution.parse(self.get(f"/api/v1/models/{model}/distribution", [("version", version), ("feature", feature)]))

    def series(self, name: str, *, start: float, end: float, labels: Mapping[str, str] | None = None) -> list[Series]:
        params: list[tuple[str, str | float | int]] = [("name", name), ("start", start), ("end", end), ("limit", 1000)]
        params += [("label", f"{k}:{v}") for k, v in (labels or {}).items()]
        return [Series.parse(item) for item in _items(self.get("/api/v1/series", params), "series")]

    def quality(self, model: str, version: str) -> Quality:
        return Quality.parse(self.get(f"/api/v1/models/{model}/quality", [("version", version)]))

    def hardware(self, model: str, version: str, *, start: float, end: float) -> Hardware:
        params: Params = [("version", version), ("start", start), ("end", end)]
        return Hardware.parse(self.get(f"/api/v1/models/{model}/hardware", params))

    def correlations(self, *, limit: int = 100) -> list[Finding]:
        """Active findings, best first."""
        return [Finding.parse(item) for item in _items(self.get("/api/v1/correlations", [("limit", limit)]))]

    def alerts(self, *, limit: int = 1000) -> list[Alert]:
        """Alert history, newest first: pending, firing and resolved."""
        return [Alert.parse(item) for item in _items(self.get("/api/v1/alerts", [("limit", limit)]))]

    def silences(self) -> list[Silence]:
        """Active and future silences, newest first."""
        return [Silence.parse(item) for item in _items(self.get("/api/v1/silences", [("limit", 1000)]))]

    def actions(self, *, limit: int = 1000) -> list[Action]:
        """The rollback audit, newest first."""
        return [Action.parse(item) for item in _items(self.get("/api/v1/actions", [("limit", limit)]))]

    def gate(self, model: str, version: str) -> GateVerdict:
        return GateVerdict.parse(self.get(f"/api/v1/gates/{model}", [("version", version)]))

    # -- writes --
    def evaluate(self, model: str, version: str) -> list[DriftResult]:
        """Close the current window now ("check now") and return its drift results."""
        body = self.post(f"/api/v1/models/{model}/evaluate", [("version", version)])
        return [DriftResult.parse(item) for item in _items(body, "results")]

    def silence(self, matchers: Mapping[str, str], *, duration_seconds: float, comment: str, created_by: str) -> Silence:
        """Silence alerts whose labels equal every matcher, for ``duration_seconds`` from now."""
        now = time.time()
        body = self.post(
            "/api/v1/silences",
            json={
                "matchers": [matcher(k, v) for k, v in matchers.items()],
                "starts_at": now,
                "ends_at": now + duration_seconds,
                "comment": comment,
                "created_by": created_by,
            },
        )
        return Silence.parse(body)

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now."""
        response = self._http.delete(
            f"/api/v1/silences/{silence_id}", headers=self._headers(self._admin_token or self._read_token)
        )
        with self._lock:
            self._cache.clear()
        if response.status_code >= 400:
            self._check("DELETE", f"/api/v1/silences/{silence_id}", response)
