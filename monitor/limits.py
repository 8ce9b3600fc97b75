"""Cardinality guards: how many models, versions, features and metric series may exist.

Every new name becomes state (windows, rollups, Prometheus series), so a client
that sends a fresh model name or a request id as a metric label per request would
grow the server without bound. The guard admits a batch before it is acknowledged;
past a limit it refuses the batch (inference) or the offending points (metrics)
with a reason that is counted and a message naming the setting.

A name, once admitted, stays admitted: retries of a request are never refused.

>>> guard = CardinalityGuard(Limits(max_models=1, max_versions_per_model=2, max_features_per_model=3, max_series_per_metric=2))
>>> guard.admit_model("fraud", "v1", ["amount", "country"]) is None
True
>>> guard.admit_model("churn", "v1", ["tenure"]).reason
'too_many_models'
>>> guard.admit_model("fraud", "v1", ["amount", "country", "device", "hour"]).message
"model 'fraud' would have 4 features; the limit is 3 (max_features_per_model)"
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, select

from collectors.records import MetricBatch
from monitor.store.tables import features, models, series_points

__all__ = ["CardinalityGuard", "Limits", "Refusal"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_models: int = 1000
    max_versions_per_model: int = 50
    max_features_per_model: int = 1000
    max_series_per_metric: int = 10_000


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why something was not admitted: ``reason`` for counters, ``message`` for the client."""

    reason: str
    message: str


class CardinalityGuard:
    """Thread-safe record of admitted names, checked against :class:`Limits`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._versions: dict[str, set[str]] = {}
        self._features: dict[str, set[str]] = {}
        self._series: dict[str, set[str]] = {}

    def seed(self, engine: Engine) -> None:
        """Admit everything the store already holds (called once the log has been replayed)."""
        with engine.connect() as connection:
            known_models = connection.execute(select(models.c.model, models.c.version)).all()
            known_features = connection.execute(select(features.c.model, features.c.feature).distinct()).all()
            known_series = connection.execute(select(series_points.c.name, series_points.c.labels).distinct()).all()
        with self._lock:
            for model, version in known_models:
                self._versions.setdefault(model, set()).add(version)
            for model, feature in known_features:
                self._features.setdefault(model, set()).add(feature)
            for name, labels in known_series:
                self._series.setdefault(name, set()).add(labels)

    def admit_model(self, model: str, version: str, feature_names: Iterable[str]) -> Refusal | None:
        """Admit ``model``/``version`` with these features, or say which limit it breaks."""
        limits = self.limits
        with self._lock:
            versions = self._versions.get(model)
            if versions is None and len(self._versions) >= limits.max_models:
                return Refusal(
                    "too_many_models",
                    f"model {model!r} would be model {len(self._versions) + 1}; the limit is {limits.max_models} (max_models)",
                )
            if versions is not None and version not in versions and len(versions) >= limits.max_versions_per_model:
                return Refusal(
                    "too_many_versions",
                    f"model {model!r} would have {len(versions) + 1} versions; the limit is {limits.max_versions_per_model} "
                    "(max_versions_per_model)",
                )
            known = self._features.get(model, set())
            wanted = known.union(feature_names)
            if len(wanted) > limits.max_features_per_model:
                return Refusal(
                    "too_many_features",
                    f"model {model!r} would have {len(wanted)} features; the limit is {limits.max_features_per_model} "
                    "(max_features_per_model)",
                )
            self._versions.setdefault(model, set()).add(version)
            self._features[model] = wanted
        return None

    def admit_metrics(self, batch: MetricBatch) -> tuple[MetricBatch | None, int, str]:
        """The points whose series fit under the limit; plus how many were refused and why.

        >>> import numpy as np
        >>> from collectors.records import MetricBatch
        >>> guard = CardinalityGuard(Limits(max_series_per_metric=2))
        >>> names = np.array(["kpi"] * 3, dtype=object)
        >>> labels = np.array(['{"user":"a"}', '{"user":"b"}', '{"user":"c"}'], dtype=object)
        >>> kept, refused, why = guard.admit_metrics(MetricBatch(names, np.zeros(3), np.ones(3), labels))
        >>> len(kept), refused
        (2, 1)
        """
        limit = self.limits.max_series_per_metric
        name_values, name_codes = np.unique(batch.names.astype(str), return_inverse=True)
        label_values, label_codes = np.unique(batch.attributes.astype(str), return_inverse=True)
        keys, inverse = np.unique(name_codes.astype(np.int64) * len(label_values) + label_codes, return_inverse=True)
        refused_series = np.zeros(keys.shape[0], dtype=bool)
        message = ""
        with self._lock:
            for i, key in enumerate(keys.tolist()):
                name, labels = str(name_values[key // len(label_values)]), str(label_values[key % len(label_values)])
                series = self._series.setdefault(name, set())
                if labels in series:
                    continue
                if len(series) >= limit:
                    refused_series[i] = True
                    message = message or (
                        f"metric {name!r} already has {len(series)} label sets; the limit is {limit} (max_series_per_metric)"
                    )
                else:
                    series.add(labels)
        refused = refused_series[inverse]
        count = int(refused.sum())
        if count == 0:
            return batch, 0, ""
        keep = ~refused
        if not keep.any():
            return None, count, message
        kept = MetricBatch(batch.names[keep], batch.timestamps[keep], batch.values[keep], batch.attributes[keep])
        return kept, count, message
