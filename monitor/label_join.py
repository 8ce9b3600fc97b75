"""The join buffer: predictions waiting for their labels, and labels waiting for their predictions.

Labels (``ml.label`` events) name the prediction they grade by ``ml.prediction.id``. The
buffer keeps recent predictions in fixed columns used as a ring (the oldest entry is
overwritten, and counted as *evicted* if it was still waiting for a label), with a dict from
prediction id to slot. Time is the *join clock*: the newest event time seen, predictions and
labels alike, moved on by the caller when traffic stops (see :mod:`monitor.labels`).

What happens to a label, counted in :attr:`JoinBuffer.counts` (``joined`` is counted by the
caller, which also checks that the pair can be scored):

* its prediction is in the buffer and the label is at most ``window`` seconds after it (by
  event time): the pair is **joined**;
* the label is later than that: **expired**;
* its prediction already has a label, or the same id is already waiting: **duplicate**;
* its prediction is not there (yet): the label waits, up to ``window`` seconds of join
  clock past its own time; its prediction arriving meanwhile joins it (out-of-order
  arrival), otherwise it is **unjoined** (an unknown prediction id).

A prediction stays ``2 * window`` past its own time, so that a label arriving too late is
told apart from one for an unknown id; the ``capacity`` bound applies to predictions and to
waiting labels alike.

Examples
--------
>>> import numpy as np
>>> from collectors.records import Column, InferenceBatch, LabelBatch
>>> buffer = JoinBuffer(window=60.0, capacity=100)
>>> ids = np.array(["a", "b"], dtype=object)
>>> label = LabelBatch(np.array([10.0, 10.0]), ids, Column("numeric", np.array([1.0, 0.0])))
>>> buffer.add_labels(label).size  # no prediction yet: both wait
0
>>> predictions = InferenceBatch("m", "v1", np.array([5.0, 6.0]), ids, Column("numeric", np.array([1.0, 1.0])),
...                              np.full(2, np.nan), np.full(2, np.nan))
>>> joined = buffer.add_predictions(predictions)
>>> joined.size, joined.label_values.tolist(), buffer.pending
(2, [1.0, 0.0], 0)
>>> _ = buffer.add_labels(label)  # the same labels again
>>> buffer.counts
{'duplicate': 2, 'expired': 0, 'unjoined': 0}
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from collectors.records import Column, InferenceBatch, LabelBatch

__all__ = ["JoinBuffer", "Joined"]

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]
Ints = npt.NDArray[np.intp]

_MIN_ALLOCATION = 1024
_Pending = tuple[float, float, str | None]  # label time, numeric label, categorical label


@dataclass(frozen=True, slots=True)
class Joined:
    """Prediction-label pairs, in join order; ``model`` indexes :attr:`JoinBuffer.models`.

    Numeric values are ``NaN`` where the value was categorical or missing; texts are
    ``None`` where it was numeric or missing.
    """

    model: Ints
    prediction_values: Floats
    prediction_texts: Objects
    scores: Floats
    label_values: Floats
    label_texts: Objects

    @property
    def size(self) -> int:
        return int(self.model.shape[0])

    def take(self, rows: Ints) -> Joined:
        """The pairs at ``rows``."""
        return Joined(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def _split(column: Column) -> tuple[Floats, Objects]:
    """A column as (numeric values, categorical values), each with its missing marker."""
    n = column.values.shape[0]
    if column.kind == "numeric":
        return np.asarray(column.values, dtype=np.float64), np.full(n, None, dtype=object)
    return np.full(n, np.nan), np.asarray(column.values, dtype=object)


class JoinBuffer:
    """Predictions and waiting labels; see the module docstring. Not thread-safe."""

    def __init__(self, window: float, capacity: int) -> None:
        if not window > 0:
            raise ValueError(f"label window must be > 0 seconds; got {window!r}")
        if capacity < 1:
            raise ValueError(f"label buffer capacity must be >= 1; got {capacity!r}")
        self.window = float(window)
        self.capacity = int(capacity)
        self.clock = -math.inf
        self.models: list[tuple[str, str]] = []
        self.counts = {"duplicate": 0, "expired": 0, "unjoined": 0}
        self.evicted = 0  # predictions overwritten before any label came for them
        self._model_index: dict[tuple[str, str], int] = {}
        self._seq = 0  # predictions ever written; the next goes to slot _seq % capacity
        self._allocate(0)
        self._index: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._next_expiry = math.inf  # join clock at which the next prediction expires
        self._next_pending_expiry = math.inf

    # -- views --------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Labels waiting for their prediction."""
        return len(self._pending)

    @property
    def entries(self) -> int:
        """Predictions in the buffer."""
        return int(self._live.sum())

    # -- input --------------------------------------------------------------------------------
    def add_predictions(self, batch: InferenceBatch, *, horizon: float = math.inf) -> Joined:
        """Buffer a batch of predictions; returns the pairs it completes with waiting labels.

        The batch moves the join clock to its newest event time, but not past ``horizon``
        (so one event stamped far in the future cannot expire everything).
        """
        ids = batch.prediction_ids
        rows = np.flatnonzero((ids != None) & (ids != ""))  # noqa: E711 - elementwise comparison
        rows = rows[-self.capacity :]
        if rows.size == 0:
            self._advance_to(min(float(batch.timestamps.max(initial=-math.inf)), horizon))
            return _EMPTY
        slots = self._claim(rows.size)
        values, texts = _split(batch.predictions)
        self._ids[slots] = ids[rows]
        self._t[slots] = batch.timestamps[rows]
        self._model[slots] = self._model_code(batch.model, batch.version)
        self._values[slots] = values[rows]
        self._texts[slots] = texts[rows]
        self._scores[slots] = batch.scores[rows]
        self._live[slots] = True
        self._labeled[slots] = False
        id_list = ids[rows].tolist()
        self._index.update(zip(id_list, slots.tolist(), strict=True))
        self._next_expiry = min(self._next_expiry, float(batch.timestamps[rows].min()) + 2 * self.window)
        joined = self._join_waiting(id_list) if self._pending else _EMPTY
        self._advance_to(min(float(batch.timestamps.max()), horizon))
        return joined

    def add_labels(self, batch: LabelBatch, *, horizon: float = math.inf) -> Joined:
        """Join a batch of labels to buffered predictions; the rest wait or are counted.

        ``horizon`` bounds the join clock as in :meth:`add_predictions`.
        """
        n = len(batch)
        if n == 0:
            return _EMPTY
        ids = batch.prediction_ids
        _, first = np.unique(ids.astype(str), return_index=True)
        rows = np.sort(first)
        self.counts["duplicate"] += n - rows.size
        values, texts = _split(batch.labels)
        slots = self._lookup(ids[rows])
        found = slots >= 0
        hit_rows, hit_slots = rows[found], slots[found]
        already = self._labeled[hit_slots]
        self.counts["duplicate"] += int(already.sum())
        hit_rows, hit_slots = hit_rows[~already], hit_slots[~already]
        self._labeled[hit_slots] = True
        late = batch.timestamps[hit_rows] - self._t[hit_slots] > self.window
        self.counts["expired"] += int(late.sum())
        joined = self._pairs(hit_slots[~late], values[hit_rows[~late]], texts[hit_rows[~late]])
        for row in rows[~found].tolist():  # only labels that came before their prediction
            key = str(ids[row])
            if key in self._pending:
                self.counts["duplicate"] += 1
                continue
            t = float(batch.timestamps[row])
            self._pending[key] = (t, float(values[row]), texts[row])
            self._next_pending_expiry = min(self._next_pending_expiry, t + self.window)
        while len(self._pending) > self.capacity:  # the oldest waiting label gives up
            del self._pending[next(iter(self._pending))]
            self.counts["unjoined"] += 1
        self._advance_to(min(float(batch.timestamps.max()), horizon))
        return joined

    def advance(self, clock: float) -> None:
        """Move the join clock on (never back): expire old predictions and waiting labels."""
        self._advance_to(clock)

    # -- internals ------------------------------------------------------------------------------
    def _model_code(self, model: str, version: str) -> int:
        key = (model, version)
        code = self._model_index.get(key)
        if code is None:
            code = self._model_index[key] = len(self.models)
            self.models.append(key)
        return code

    def _allocate(self, size: int) -> None:
        """(Re)allocate the columns to ``size`` slots, keeping what the current ones hold."""
        old = getattr(self, "_t", None)
        ids, t, model = np.full(size, None, dtype=object), np.zeros(size), np.zeros(size, dtype=np.int32)
        values, texts, scores = np.full(size, np.nan), np.full(size, None, dtype=object), np.full(size, np.nan)
        live, labeled = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
        if old is not None:
            n = self._t.shape[0]
            ids[:n], t[:n], model[:n] = self._ids, self._t, self._model
            values[:n], texts[:n], scores[:n] = self._values, self._texts, self._scores
            live[:n], labeled[:n] = self._live, self._labeled
        self._ids: Objects = ids
        self._t: Floats = t
        self._model: npt.NDArray[np.int32] = model
        self._values: Floats = values
        self._texts: Objects = texts
        self._scores: Floats = scores
        self._live: npt.NDArray[np.bool_] = live
        self._labeled: npt.NDArray[np.bool_] = labeled

    def _claim(self, n: int) -> Ints:
        """Slots for ``n`` new predictions (n <= capacity), growing the columns or overwriting the oldest."""
        size = self._t.shape[0]
        if self._seq + n > size and size < self.capacity:
            self._allocate(min(self.capacity, max(self._seq + n, 2 * size, _MIN_ALLOCATION)))
        slots = (self._seq + np.arange(n)) % self.capacity
        self._seq += n
        overwritten = self._live[slots]
        self.evicted += int((overwritten & ~self._labeled[slots]).sum())
        if overwritten.any() and len(self._index) > 2 * self.capacity:
            self._reindex()
        return slots

    def _lookup(self, ids: Objects) -> Ints:
        """Slot of each id's live prediction, or -1."""
        slots = np.fromiter(map(self._index.get, ids.tolist(), itertools.repeat(-1)), dtype=np.intp, count=ids.shape[0])
        known = np.flatnonzero(slots >= 0)
        # The dict may still name a slot that has since been overwritten or expired.
        stale = ~self._live[slots[known]] | (self._ids[slots[known]] != ids[known])
        slots[known[stale]] = -1
        return slots

    def _pairs(self, slots: Ints, label_values: Floats, label_texts: Objects) -> Joined:
        return Joined(
            self._model[slots].astype(np.intp),
            self._values[slots],
            self._texts[slots],
            self._scores[slots],
            np.asarray(label_values, dtype=np.float64),
            np.asarray(label_texts, dtype=object),
        )

    def _join_waiting(self, ids: list[str]) -> Joined:
        """Pair new predictions with the labels that were waiting for them."""
        common = self._pending.keys() & set(ids)
        if not common:
            return _EMPTY
        matched = sorted(common, key=self._index.__getitem__)
        labels = [self._pending.pop(key) for key in matched]
        slots = np.array([self._index[key] for key in matched], dtype=np.intp)
        label_t = np.array([item[0] for item in labels])
        values = np.array([item[1] for item in labels])
        texts = np.array([item[2] for item in labels], dtype=object)
        self._labeled[slots] = True
        late = label_t - self._t[slots] > self.window
        self.counts["expired"] += int(late.sum())
        return self._pairs(slots[~late], values[~late], texts[~late])

    def _advance_to(self, clock: float) -> None:
        if not clock > self.clock:
            return
        self.clock = clock
        if clock >= self._next_expiry:
            size = min(self._seq, self._t.shape[0])
            live = self._live[:size]
            gone = live & (self._t[:size] + 2 * self.window < clock)
            live[gone] = False
            self._ids[:size][gone] = None
            self._texts[:size][gone] = None
            remaining = self._t[:size][live]
            self._next_expiry = float(remaining.min()) + 2 * self.window if remaining.size else math.inf
            if len(self._index) > 2 * remaining.size + _MIN_ALLOCATION:
                self._reindex()
        if clock >= self._next_pending_expiry:
            expired = [key for key, item in self._pending.items() if item[0] + self.window < clock]
            for key in expired:
                del self._pending[key]
            self.counts["unjoined"] += len(expired)
            self._next_pending_expiry = min((item[0] for item in self._pending.values()), default=math.inf) + self.window

    def _reindex(self) -> None:
        """Rebuild the id -> slot dict from the live slots, oldest first (newest wins on repeats)."""
        order = self._age_order()
        live = order[self._live[order]]
        self._index = dict(zip(self._ids[live].tolist(), live.tolist(), strict=True))

    def _age_order(self) -> Ints:
        """Slot numbers from the oldest written to the newest."""
        size = min(self._seq, self._t.shape[0])
        start = self._seq % self.capacity if self._seq > size else 0
        return np.roll(np.arange(size, dtype=np.intp), -start)

    # -- checkpoint state ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Live predictions (oldest first), waiting labels and counters, for the pipeline checkpoint."""
        order = self._age_order()
        live = order[self._live[order]]
        pending = list(self._pending.items())
        return {
            "clock": self.clock,
            "models": [list(key) for key in self.models],
            "counts": dict(self.counts),
            "evicted": self.evicted,
            "ids": _pack_strings(self._ids[live].tolist()),
            "t": self._t[live],
            "model": self._model[live],
            "values": self._values[live],
            "texts": _pack_strings(self._texts[live].tolist()),
            "scores": self._scores[live],
            "labeled": self._labeled[live],
            "pending_ids": [key for key, _ in pending],
            "pending_t": np.array([item[0] for _, item in pending]),
            "pending_values": np.array([item[1] for _, item in pending]),
            "pending_texts": [item[2] for _, item in pending],
        }

    @staticmethod
    def from_state(state: dict[str, Any] | None, window: float, capacity: int) -> JoinBuffer:
        """Rebuild from :meth:`state_dict`; with a smaller capacity, the newest entries stay."""
        buffer = JoinBuffer(window, capacity)
        if not state:
            return buffer
        buffer.clock = float(state["clock"])
        for model, version in state["models"]:
            buffer._model_code(model, version)
        buffer.counts.update({key: int(value) for key, value in state["counts"].items()})
        buffer.evicted = int(state["evicted"])
        keep = slice(-capacity, None)
        ids = _unpack_strings(state["ids"])[keep]
        n = ids.shape[0]
        buffer._allocate(max(n, min(capacity, _MIN_ALLOCATION)))
        buffer._seq = n
        buffer._ids[:n] = ids
        buffer._t[:n] = state["t"][keep]
        buffer._model[:n] = state["model"][keep]
        buffer._values[:n] = state["values"][keep]
        buffer._texts[:n] = _unpack_strings(state["texts"])[keep]
        buffer._scores[:n] = state["scores"][keep]
        buffer._labeled[:n] = state["labeled"][keep]
        buffer._live[:n] = True
        buffer._index = dict(zip(ids.tolist(), range(n), strict=True))
        buffer._next_expiry = float(buffer._t[:n].min()) + 2 * window if n else math.inf
        for key, t, value, text in zip(
            state["pending_ids"],
            state["pending_t"].tolist(),
            state["pending_values"].tolist(),
            state["pending_texts"],
            strict=True,
        ):
            buffer._pending[key] = (t, value, text)
        buffer._next_pending_expiry = min((t for t, _, _ in buffer._pending.values()), default=math.inf) + window
        return buffer


def _pack_strings(values: list[str | None]) -> dict[str, Any]:
    """Strings (or None) as one text and their lengths (-1: None): far cheaper in a checkpoint
    than a JSON list of many short strings.

    >>> _unpack_strings(_pack_strings(["ab", None, "", "c"])).tolist()
    ['ab', None, '', 'c']
    >>> _unpack_strings(_pack_strings([])).tolist()
    []
    """
    lengths = pc.utf8_length(pa.array(values, type=pa.string())).fill_null(-1).to_numpy().astype(np.int64)
    return {"text": "".join(filter(None, values)), "lengths": lengths}  # filter(None) drops "" too: harmless


def _unpack_strings(packed: dict[str, Any]) -> Objects:
    text, lengths = packed["text"], packed["lengths"]
    ends = np.cumsum(np.maximum(lengths, 0)).tolist()
    starts = [0, *ends[:-1]] if ends else []
    out = np.array([text[a:b] for a, b in zip(starts, ends, strict=True)] + [None], dtype=object)[:-1]
    out[lengths < 0] = None
    return out


_EMPTY = Joined(
    np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0, dtype=object), np.zeros(0), np.zeros(0), np.zeros(0, dtype=object)
)
