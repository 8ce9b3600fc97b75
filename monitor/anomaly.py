"""Anomaly scores on the series the configuration marks, one per bucket as buckets close.

The pipeline passes every bucket the series rollup closes to :meth:`AnomalyWatch.observe`.
A bucket of a watched series (``anomaly_series``: a name and label values; by default every
KPI, GPU utilisation and model latency) is scored by its mean with Driftline's default anomaly
detector, :class:`~detectors.anomaly.SeasonalNoveltyScorer` (the one ``driftline eval nab``
scores), one scorer per series, in bucket order, with the bucket start as its timestamp.
The answer is two more closed buckets for the time series store, at the same slot:

* ``driftline.anomaly.score`` -- the score in ``[0, 1]``;
* ``driftline.anomaly.detected`` -- 1 when the score reaches the threshold, else 0;

both labelled with the source series' labels plus ``series=<name>``. A bucket that closes
again for a slot already scored (late points) is stored but not scored twice.

At most ``max_series`` series are scored (each scorer holds about 50 kB); buckets of further
series are counted in :attr:`AnomalyWatch.skipped`. Each scorer's state is its own row of the
``checkpoints`` table (``anomaly:<digest>``), written in the pipeline's checkpoint transaction
only when it changed, so a restart neither loses nor repeats a score.

Examples
--------
>>> import numpy as np
>>> from monitor.series import Bucket
>>> watch = AnomalyWatch([AnomalySelector(name="shop.revenue")])
>>> values = np.random.default_rng(1).normal(100, 2, 300)
>>> values[250] = 140.0
>>> closed = [Bucket("shop.revenue", "{}", 60, 60.0 * i, 1, v, v, v, v, 60.0 * i) for i, v in enumerate(values)]
>>> flags = [b for b in watch.observe(closed) if b.name == DETECTED_SERIES and b.last == 1.0]
>>> [b.start / 60 for b in flags], flags[0].labels
([250.0], '{"series":"shop.revenue"}')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, update

from detectors.anomaly import AnomalyScorer, SeasonalNoveltyScorer
from monitor.kpi import label_text
from monitor.kpi_config import AnomalySelector
from monitor.series import Bucket
from monitor.statecodec import pack, unpack
from monitor.store.tables import checkpoints

__all__ = [
    "CHECKPOINT_PREFIX",
    "DETECTED_SERIES",
    "SCORE_SERIES",
    "AnomalyReading",
    "AnomalyWatch",
    "load_anomaly_state",
    "write_anomaly_state",
]

SCORE_SERIES = "driftline.anomaly.score"
DETECTED_SERIES = "driftline.anomaly.detected"
CHECKPOINT_PREFIX = "anomaly:"
_MAX_DECISIONS = 100_000  # remembered "is this series watched?" answers before the memo is cleared


@dataclass(frozen=True, slots=True)
class AnomalyReading:
    """The latest score of one watched series."""

    series: str
    labels: dict[str, Any]
    timestamp: float  # start of the scored bucket
    score: float
    detected: bool


@dataclass(slots=True)
class _Watched:
    name: str
    labels: str
    scorer: AnomalyScorer
    last_start: float = -np.inf
    score: float = float("nan")
    detected: bool = False
    dirty: bool = True

    def row_name(self) -> str:
        digest = hashlib.sha256(f"{self.name}\0{self.labels}".encode()).hexdigest()[:48]
        return CHECKPOINT_PREFIX + digest

    def to_bytes(self) -> bytes:
        document = {
            "name": self.name,
            "labels": self.labels,
            "last_start": self.last_start,
            "score": self.score,
            "detected": self.detected,
            "scorer": self.scorer.state_dict(),
        }
        return pack(document)


class AnomalyWatch:
    """Scores the closing buckets of watched series; owned by the pipeline thread."""

    def __init__(
        self,
        selectors: Sequence[AnomalySelector],
        *,
        threshold: float | None = None,
        max_series: int = 200,
        scorer: type[AnomalyScorer] = SeasonalNoveltyScorer,
    ) -> None:
        self.selectors = list(selectors)
        self.threshold = scorer.threshold if threshold is None else threshold
        self.max_series = max_series
        self.scorer = scorer
        self.skipped = 0
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._decisions: dict[tuple[str, str], bool] = {}
        self._names = {s.name for s in self.selectors}

    def observe(self, closed: Sequence[Bucket]) -> list[Bucket]:
        """Score the watched series' buckets among ``closed``; return score and flag buckets."""
        groups: dict[tuple[str, str], list[Bucket]] = {}
        for bucket in closed:
            if bucket.name in self._names and self._is_watched(bucket.name, bucket.labels):
                groups.setdefault((bucket.name, bucket.labels), []).append(bucket)
        out: list[Bucket] = []
        for key, buckets in groups.items():
            watched = self._watched.get(key)
            if watched is None:
                if len(self._watched) >= self.max_series:
                    self.skipped += len(buckets)
                    continue
                watched = self._watched[key] = _Watched(key[0], key[1], self.scorer())
            buckets.sort(key=lambda b: b.start)
            fresh = [b for b in buckets if b.start > watched.last_start]
            if not fresh:
                continue
            starts = np.array([b.start for b in fresh])
            scores = watched.scorer.score_many(np.array([b.sum / b.count for b in fresh]), timestamps=starts)
            labels = json.dumps({**json.loads(key[1]), "series": key[0]}, sort_keys=True, separators=(",", ":"))
            for bucket, score in zip(fresh, scores.tolist(), strict=True):
                flag = 1.0 if score >= self.threshold else 0.0
                for name, value in ((SCORE_SERIES, score), (DETECTED_SERIES, flag)):
                    out.append(Bucket(name, labels, bucket.resolution, bucket.start, 1, value, value, value, value, bucket.start))
            watched.last_start = fresh[-1].start
            watched.score = float(scores[-1])
            watched.detected = bool(scores[-1] >= self.threshold)
            watched.dirty = True
        return out

    def _is_watched(self, name: str, labels: str) -> bool:
        key = (name, labels)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            parsed = json.loads(labels)
            decision = self._decisions[key] = any(
                s.name == name and all(k in parsed and label_text(parsed[k]) == v for k, v in s.labels.items())
                for s in self.selectors
            )
        return decision

    def readings(self) -> list[AnomalyReading]:
        """The latest score of every watched series that has been scored."""
        return [
            AnomalyReading(w.name, json.loads(w.labels), w.last_start, w.score, w.detected)
            for w in sorted(self._watched.values(), key=lambda w: (w.name, w.labels))
            if np.isfinite(w.last_start)
        ]

    # -- checkpoint rows -------------------------------------------------------------------------
    def changed_rows(self) -> dict[str, bytes]:
        """Checkpoint rows of the series scored since :meth:`mark_written` was last called."""
        return {w.row_name(): w.to_bytes() for w in self._watched.values() if w.dirty}

    def mark_written(self) -> None:
        for watched in self._watched.values():
            watched.dirty = False

    def restore(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Continue from rows written by :func:`write_anomaly_state`.

        Rows of series the configuration no longer marks, and rows past ``max_series``, are
        left unused (a series marked again later continues from its row).
        """
        for _name, blob in rows:
            document = unpack(blob)
            if not self._is_watched(str(document["name"]), str(document["labels"])) or len(self._watched) >= self.max_series:
                continue
            watched = _Watched(
                str(document["name"]),
                str(document["labels"]),
                self.scorer.from_state(document["scorer"]),
                float(document["last_start"]),
                float(document["score"]),
                bool(document["detected"]),
                dirty=False,
            )
            self._watched[(watched.name, watched.labels)] = watched


def write_anomaly_state(connection: Connection, rows: dict[str, bytes], *, offset: int, now: float) -> None:
    """Upsert scorer rows into ``checkpoints`` (inside the pipeline's checkpoint transaction)."""
    for name, blob in rows.items():
        values = {"log_offset": offset, "state": blob, "updated_at": now}
        updated = connection.execute(update(checkpoints).where(checkpoints.c.name == name).values(**values))
        if not updated.rowcount:
            connection.execute(insert(checkpoints).values(name=name, **values))


def load_anomaly_state(connection: Connection) -> list[tuple[str, bytes]]:
    """Every scorer row of the ``checkpoints`` table."""
    query = select(checkpoints.c.name, checkpoints.c.state).where(checkpoints.c.name.startswith(CHECKPOINT_PREFIX))
    return [(str(name), bytes(state)) for name, state in connection.execute(query)]
