"""The dashboard's one way to reach Driftline: a typed, caching client of the HTTP API.

Every response is parsed here into small frozen dataclasses, tolerantly: unknown fields are
ignored and optional ones default, so the pages never index into raw JSON. Reads are cached for
``ttl`` seconds per (path, query), so a page that asks twice in one render asks the server once.

Endpoints that a server does not offer yet answer 404 with FastAPI's plain ``Not Found``; the
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
>>> client.correlations()
Traceback (most recent call last):
...
dashboard.client.NotAvailable: GET /api/v1/correlations is not offered by this server yet
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
    "Gpu",
    "Hardware",
    "ModelVersion",
    "NotAvailable",
    "Quality",
    "Series",
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
class Quality:
    """Quality metrics of a model version (accuracy, f1, mae …) on labels that joined."""

    metrics: Mapping[str, float]
    labelled: int | None = None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Quality:
        raw = data.get("metrics", data)
        if isinstance(raw, list):  # [{"metric": "accuracy", "value": 0.9}, ...]
            pairs = {str(_first(m, "metric", "name")): _float(m.get("value")) for m in raw if isinstance(m, Mapping)}
        else:
            pairs = {str(k): _float(v) for k, v in raw.items() if not isinstance(v, (Mapping, list, bool))}
        metrics = {k: v for k, v in pairs.items() if v is not None and k not in ("labelled", "joined", "n")}
        labelled = _first(data, "labelled", "joined", "n")
        return Quality(metrics=metrics, labelled=None if labelled is None else int(labelled))


@dataclass(frozen=True, slots=True)
class Gpu:
    host: str
    gpu: str
    model_name: str
    utilization: float | None
    memory_used_bytes: float | None
    power_watts: float | None
    temperature_celsius: float | None

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Gpu:
        return Gpu(
            host=str(data.get("host", "")),
            gpu=str(_first(data, "gpu", "uuid") or ""),
            model_name=str(data.get("model_name", "")),
            utilization=_float(_first(data, "utilization_ratio", "utilization")),
            memory_used_bytes=_float(data.get("memory_used_bytes")),
            power_watts=_float(data.get("power_watts")),
            temperature_celsius=_float(data.get("temperature_celsius")),
        )


@dataclass(frozen=True, slots=True)
class Hardware:
    gpus: tuple[Gpu, ...]
    efficiency: Mapping[str, float]

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Hardware:
        efficiency = data.get("efficiency") or {}
        return Hardware(
            gpus=tuple(Gpu.parse(g) for g in _items(data, "gpus")),
            efficiency={str(k): float(v) for k, v in efficiency.items() if _float(v) is not None}
            if isinstance(efficiency, Mapping)
            else {},
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """A ranked model-metric ⇄ KPI correlation, with its plain-language sentence."""

    sentence: str
    metric: str
    kpi: str
    lag_seconds: float | None
    strength: float | None
    q_value: float | None
    impact: float | None
    labels: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Finding:
        metric = _first(data, "metric", "series") or ""
        kpi = data.get("kpi") or ""
        return Finding(
            sentence=str(data.get("sentence") or f"{metric} moves with {kpi}"),
            metric=str(metric),
            kpi=str(kpi),
            lag_seconds=_float(_first(data, "lag_seconds", "lag")),
            strength=_float(_first(data, "strength", "correlation")),
            q_value=_float(data.get("q_value")),
            impact=_float(data.get("impact")),
            labels=dict(_first(data, "metric_labels", "labels") or {}),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    alertname: str
    state: str
    severity: str
    labels: Mapping[str, str]
    summary: str
    starts_at: float
    ends_at: float | None
    fingerprint: str

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Alert:
        labels = {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
        annotations = data.get("annotations") or {}
        return Alert(
            alertname=str(_first(data, "alertname", "name") or labels.get("alertname", "")),
            state=str(_first(data, "state", "status") or "firing"),
            severity=str(data.get("severity") or labels.get("severity", "")),
            labels=labels,
            summary=str(_first(data, "summary") or annotations.get("summary", "")),
            starts_at=float(_first(data, "starts_at", "startsAt") or 0.0),
            ends_at=_float(_first(data, "ends_at", "endsAt")),
            fingerprint=str(data.get("fingerprint", "")),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One entry of the rollback audit."""

    at: float
    action: str
    alertname: str
    outcome: str
    dry_run: bool
    detail: str

    @staticmethod
    def parse(data: Mapping[str, Any]) -> Action:
        return Action(
            at=float(_first(data, "at", "created_at", "started_at", "time") or 0.0),
            action=str(_first(data, "action", "name", "kind") or ""),
            alertname=str(_first(data, "alertname", "alert") or ""),
            outcome=str(_first(data, "outcome", "status", "result") or ""),
            dry_run=bool(data.get("dry_run", False)),
            detail=str(data.get("detail") or ""),
        )


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

    def hardware(self, model: str, version: str) -> Hardware:
        return Hardware.parse(self.get(f"/api/v1/models/{model}/hardware", [("version", version)]))

    def correlations(self) -> list[Finding]:
        return [Finding.parse(item) for item in _items(self.get("/api/v1/correlations"), "findings")]

    def alerts(self) -> list[Alert]:
        return [Alert.parse(item) for item in _items(self.get("/api/v1/alerts"), "alerts")]

    def actions(self) -> list[Action]:
        return [Action.parse(item) for item in _items(self.get("/api/v1/actions"), "actions")]

    # -- writes --
    def evaluate(self, model: str, version: str) -> list[DriftResult]:
        """Close the current window now ("check now") and return its drift results."""
        body = self.post(f"/api/v1/models/{model}/evaluate", [("version", version)])
        return [DriftResult.parse(item) for item in _items(body, "results")]

    def silence(self, matchers: Mapping[str, str], *, duration_seconds: float, comment: str, created_by: str) -> Any:
        """Silence alerts whose labels equal every matcher, for ``duration_seconds`` from now."""
        now = time.time()
        return self.post(
            "/api/v1/silences",
            json={
                "matchers": [{"name": k, "value": v, "is_equal": True} for k, v in matchers.items()],
                "starts_at": now,
                "ends_at": now + duration_seconds,
                "comment": comment,
                "created_by": created_by,
            },
        )
