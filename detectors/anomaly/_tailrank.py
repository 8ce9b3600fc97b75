"""Bounded-memory tail rank: how far into the upper tail of its own past a value lies."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from typing import Any

__all__ = ["MAX_SURPRISE", "TailRank"]

#: Surprise is capped here (nats); beyond it every value is simply "unprecedented".
MAX_SURPRISE = 50.0
#: Nats per tail-spread beyond the record. Going past the largest value seen is the strongest
#: single sign of an anomaly in real metrics, so the extrapolation is steep: one spread (the
#: width of the stored tail) above the record saturates. On the NAB dev subset a gentle tail
#: (3 nats per spread) scored 67.5 on the standard profile, 20-80 nats per spread 72-74.
EXTRAPOLATION = 80.0


class TailRank:
    """Streaming conformal surprise ``-ln p`` with ``p = (1 + #{past >= y}) / (1 + #past)``.

    Only the upper tail matters for anomalies, so each generation of ``memory`` values keeps
    just its ``size`` largest values, sorted; the current and the previous generation together
    cover the last ``memory`` to ``2 * memory`` values. Values at or below the lowest stored
    one are ordinary and score 0 (their exact rank is unknown and irrelevant). A value above
    everything stored scores the rank of a record plus an extrapolation, so "far beyond the
    record" outranks "just beyond it". Ties count as seen: a value equal to a past one is not
    novel, which keeps discrete and constant series quiet.
    """

    __slots__ = ("memory", "n_cur", "n_prev", "size", "tail_cur", "tail_prev", "warmup")

    def __init__(self, size: int, memory: int, warmup: int) -> None:
        self.size, self.memory, self.warmup = size, memory, warmup
        self.tail_cur: list[float] = []
        self.tail_prev: list[float] = []
        self.n_cur = 0
        self.n_prev = 0

    def update(self, y: float) -> float:
        """Surprise of ``y`` against the past (0 during warm-up), then remember ``y``."""
        cur, prev = self.tail_cur, self.tail_prev
        n_cur = self.n_cur
        n = n_cur + self.n_prev
        surprise = 0.0
        if n >= self.warmup:
            stored = len(cur) + len(prev)
            above = stored - bisect_left(cur, y) - bisect_left(prev, y)
            if 0 < above < stored:
                surprise = math.log((1.0 + n) / (1.0 + above))
            elif above == 0:  # a record: extrapolate with the stored tail's spread
                top = max(cur[-1] if cur else -math.inf, prev[-1] if prev else -math.inf)
                spread = top - min(cur[0] if cur else math.inf, prev[0] if prev else math.inf)
                beyond = EXTRAPOLATION * (y - top) / spread if spread > 0 else MAX_SURPRISE
                surprise = min(math.log(1.0 + n) + beyond, MAX_SURPRISE)
        if len(cur) < self.size:
            insort(cur, y)
        elif y > cur[0]:
            insort(cur, y)
            del cur[0]
        n_cur += 1
        if n_cur >= self.memory:  # start a new generation; the oldest one is forgotten
            self.tail_prev, self.n_prev = cur, n_cur
            self.tail_cur, n_cur = [], 0
        self.n_cur = n_cur
        return surprise

    def state(self) -> dict[str, Any]:
        """The running state as plain values."""
        return {"cur": list(self.tail_cur), "prev": list(self.tail_prev), "n_cur": self.n_cur, "n_prev": self.n_prev}

    @classmethod
    def restore(cls, size: int, memory: int, warmup: int, state: dict[str, Any]) -> TailRank:
        """Rebuild from :meth:`state`."""
        rank = cls(size, memory, warmup)
        rank.tail_cur = [float(v) for v in state["cur"]]
        rank.tail_prev = [float(v) for v in state["prev"]]
        rank.n_cur, rank.n_prev = int(state["n_cur"]), int(state["n_prev"])
        return rank
