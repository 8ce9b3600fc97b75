"""The Numenta Anomaly Benchmark (NAB) scorer, reproducing NAB's own rules exactly.

A detector emits one anomaly score per row; a row is a *detection* when its score is
``>= threshold``. Each file is scored with NAB's sweep:

* the first ``min(floor(0.15 N), 750)`` rows (probation) are not scored;
* inside a labelled window of rows ``a..b`` (width ``w = b - a + 1``) only the earliest
  detection counts, worth ``A_tp * sigma(-(b - i + 1) / w) / sigma(-1)``; a window without a
  detection costs ``A_fn``;
* every detection outside the windows is worth ``A_fp * sigma(d)`` with ``d`` the distance past
  the preceding window's right edge over that window's width less one (NAB's
  ``prevWindowWidth - 1``), or ``-A_fp`` when no window precedes it;
* ``sigma(y) = 2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``.

Raw scores add up over files; one threshold serves the whole corpus. The normalised score is
``100 (S - S_null) / (S_perfect - S_null)`` with ``S_perfect = A_tp * windows`` and ``S_null`` the
raw score of a detector that never fires (``-A_fn`` per window with a scored row, as NAB gets it
by running its null detector: the README's ``-A_fn * windows`` unless a window lies wholly inside
probation). :func:`optimise_threshold` sweeps every distinct score over the whole corpus as NAB's
optimiser does and keeps the highest threshold among those with the best raw score.

This module is pure: file reading lives in :mod:`monitor.evaluation`.

References
----------
.. [1] Lavin, A. and Ahmad, S. (2015). Evaluating real-time anomaly detection algorithms -- the
   Numenta Anomaly Benchmark. IEEE ICMLA. arXiv:1510.03336.
.. [2] numenta/NAB, ``nab/sweeper.py`` (``calcSweepScore``, ``calcScoreByThreshold``),
   ``nab/optimizer.py`` and ``nab/runner.py`` (``normalize``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "NAB_PROFILES",
    "NabProfile",
    "NabScore",
    "NabSeries",
    "optimise_threshold",
    "probation_length",
    "scaled_sigmoid",
    "score_corpus",
    "window_rows",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NabProfile:
    """An application profile: the weights of true positives, misses and false positives."""

    name: str
    tp_weight: float
    fn_weight: float
    fp_weight: float


#: NAB's three profiles, as in its ``config/profiles.json``.
NAB_PROFILES: tuple[NabProfile, ...] = (
    NabProfile("standard", 1.0, 1.0, 0.11),
    NabProfile("reward_low_FP_rate", 1.0, 1.0, 0.22),
    NabProfile("reward_low_FN_rate", 1.0, 2.0, 0.11),
)


@dataclass(frozen=True)
class NabSeries:
    """One scored file: its anomaly scores and its labelled windows as inclusive row ranges."""

    name: str
    scores: FloatArray
    windows: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        n = len(self.scores)
        for a, b in self.windows:
            if not 0 <= a <= b < n:
                raise ValueError(f"{self.name}: window rows ({a}, {b}) must satisfy 0 <= start <= end < {n}")


@dataclass(frozen=True)
class NabScore:
    """A profile's result over a corpus at one threshold.

    ``detected`` and ``missed`` count windows; ``false_positives`` counts detections outside
    every window (after probation).
    """

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalised: float
    detected: int
    missed: int
    false_positives: int


def scaled_sigmoid(y: npt.ArrayLike) -> FloatArray:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``.

    Examples
    --------
    >>> [round(float(v), 4) for v in scaled_sigmoid([-1.0, 0.0, 1.0, 3.5])]
    [0.9866, 0.0, -0.9866, -1.0]
    """
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, value)


def probation_length(n_rows: int, probation_percent: float = 0.15) -> int:
    """Rows at the start of a file that are not scored: ``min(floor(p N), p * 5000)``.

    Examples
    --------
    >>> probation_length(4032), probation_length(22695)
    (604, 750)
    """
    return int(min(math.floor(probation_percent * n_rows), probation_percent * 5000))


def window_rows(timestamps: npt.ArrayLike, windows: Sequence[tuple[object, object]]) -> tuple[tuple[int, int], ...]:
    """Map ``[start, end]`` window timestamps to inclusive row ranges, as NAB does.

    NAB takes the first row whose timestamp equals each edge. When an edge is not an exact row
    timestamp (hand-made labels) the window is taken as the rows between the edges instead: the
    first row ``>= start`` to the last row ``<= end``. Timestamps may be ``datetime64`` values or
    anything numpy can turn into them (ISO strings).

    Examples
    --------
    >>> ts = np.arange("2024-01-01T00:00", "2024-01-01T01:00", 5, dtype="datetime64[m]")
    >>> window_rows(ts, [("2024-01-01 00:10", "2024-01-01 00:20"), ("2024-01-01 00:31", "2024-01-01 00:59")])
    ((2, 4), (7, 11))
    """
    ts = np.asarray(timestamps).astype("datetime64[us]")
    rows = []
    for start, end in windows:
        t0, t1 = np.datetime64(str(start), "us"), np.datetime64(str(end), "us")
        if t1 < t0:
            raise ValueError(f"window ({start}, {end}) ends before it starts")
        exact0, exact1 = np.flatnonzero(ts == t0), np.flatnonzero(ts == t1)
        a = int(exact0[0]) if exact0.size else int(np.argmax(ts >= t0)) if (ts >= t0).any() else -1
        b = int(exact1[0]) if exact1.size else int(np.flatnonzero(ts <= t1)[-1]) if (ts <= t1).any() else -1
        if a < 0 or b < a:
            raise ValueError(f"window ({start}, {end}) covers no row")
        rows.append((a, b))
    return tuple(sorted(rows))


def _sweep(series: NabSeries, profile: NabProfile) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Per-row NAB weight and window index (-1 outside windows, -2 in probation)."""
    n = len(series.scores)
    weight = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    index = np.arange(n, dtype=np.float64)
    max_tp = float(scaled_sigmoid(-1.0))
    weight[:] = -profile.fp_weight  # before any window
    for k, (a, b) in enumerate(series.windows):
        width = b - a + 1
        weight[a : b + 1] = profile.tp_weight * scaled_sigmoid(-(b - index[a : b + 1] + 1) / width) / max_tp
        window[a : b + 1] = k
        stop = series.windows[k + 1][0] if k + 1 < len(series.windows) else n
        # NAB divides by (width - 1); a one-row window would divide by zero there, so use 1.
        weight[b + 1 : stop] = profile.fp_weight * scaled_sigmoid((index[b + 1 : stop] - b) / max(width - 1, 1))
    window[: probation_length(n)] = -2
    return weight, window


def _normalise(
    profile: NabProfile, raw: float, n_windows: int, n_scorable: int, threshold: float, counts: tuple[int, int, int]
) -> NabScore:
    null = -profile.fn_weight * n_scorable
    perfect = profile.tp_weight * n_windows
    span = perfect - null
    normalised = 100.0 * (raw - null) / span if span > 0 else 0.0
    return NabScore(profile.name, threshold, raw, null, perfect, normalised, *counts)


def score_corpus(series: Sequence[NabSeries], profile: NabProfile, threshold: float) -> NabScore:
    """Score every file at one threshold and add the results up.

    Examples
    --------
    >>> scores = np.zeros(100)
    >>> scores[[60, 90]] = 0.9  # one early detection in the window, one false positive after it
    >>> s = score_corpus([NabSeries("a.csv", scores, ((55, 70),))], NAB_PROFILES[0], threshold=0.5)
    >>> s.detected, s.missed, s.false_positives, round(s.raw, 4), round(s.normalised, 2)
    (1, 0, 1, 0.8407, 92.04)
    """
    raw, n_windows, n_scorable, detected, missed, fps = 0.0, 0, 0, 0, 0, 0
    for one in series:
        weight, window = _sweep(one, profile)
        hit = np.asarray(one.scores) >= threshold
        n_windows += len(one.windows)
        fp_rows = hit & (window == -1)
        raw += float(weight[fp_rows].sum())
        fps += int(fp_rows.sum())
        for k in range(len(one.windows)):
            rows = np.flatnonzero(window == k)
            if rows.size == 0:
                continue  # wholly inside probation: NAB neither rewards nor charges it
            n_scorable += 1
            found = rows[hit[rows]]
            if found.size:
                raw += max(float(weight[found[0]]), -profile.fn_weight)
                detected += 1
            else:
                raw -= profile.fn_weight
                missed += 1
    return _normalise(profile, raw, n_windows, n_scorable, threshold, (detected, missed, fps))


def optimise_threshold(series: Sequence[NabSeries], profile: NabProfile) -> NabScore:
    """The best corpus-wide threshold for a profile, found by NAB's exhaustive sweep.

    Every distinct score is a candidate; the raw score at each is built incrementally (rows
    in decreasing score order: a false positive adds its weight, a window row raises its
    window's value to the best weight seen so far). Ties go to the highest threshold, as in
    NAB's stable sort.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scores = rng.uniform(0.0, 0.6, 400)
    >>> scores[250] = 0.8  # a confident detection inside the window
    >>> best = optimise_threshold([NabSeries("a.csv", scores, ((240, 280),))], NAB_PROFILES[0])
    >>> best.threshold, best.detected, best.false_positives
    (0.8, 1, 0)
    """
    if not series:
        raise ValueError("series: need at least one file to optimise a threshold on")
    scores, weights, groups = [], [], []
    n_windows, offset = 0, 0
    for one in series:
        weight, window = _sweep(one, profile)
        keep = window != -2
        scores.append(np.asarray(one.scores, dtype=np.float64)[keep])
        weights.append(weight[keep])
        groups.append(np.where(window[keep] >= 0, window[keep] + offset, -1))
        n_windows += len(one.windows)
        offset += len(one.windows)
    s, w, g = np.concatenate(scores), np.concatenate(weights), np.concatenate(groups)
    if s.size == 0:
        return score_corpus(series, profile, 1.1)
    n_scorable = np.unique(g[g >= 0]).size
    delta = np.where(g < 0, w, 0.0)
    # Window rows: running maximum of the weight within each window, in decreasing score order.
    in_window = np.flatnonzero(g >= 0)
    order = in_window[np.lexsort((-s[in_window], g[in_window]))]
    if order.size:
        shift = 4.0 * (profile.tp_weight + profile.fn_weight + 1.0)  # > any weight span
        stacked = np.maximum(w[order], -profile.fn_weight) + shift * g[order]
        best = np.maximum.accumulate(stacked) - shift * g[order]
        first = np.r_[True, g[order][1:] != g[order][:-1]]
        before = np.where(first, -profile.fn_weight, np.r_[0.0, best[:-1]])
        delta[order] = best - before
    by_score = np.argsort(-s, kind="stable")
    running = -profile.fn_weight * n_scorable + np.cumsum(delta[by_score])
    ordered = s[by_score]
    last = np.r_[ordered[1:] != ordered[:-1], True]  # last row of each distinct score
    candidates = np.r_[max(1.1, float(np.nextafter(ordered[0], np.inf))), ordered[last]]
    values = np.r_[-profile.fn_weight * n_scorable, running[last]]
    # ties (up to float noise from summing in a different order) go to the highest threshold
    chosen = int(np.flatnonzero(values >= values.max() - 1e-9)[0])
    return score_corpus(series, profile, float(candidates[chosen]))
