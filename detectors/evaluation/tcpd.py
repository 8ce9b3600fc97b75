"""Change-point scores as the Turing Change Point Dataset benchmark defines them.

Two metrics compare predicted change points with the points several annotators
marked (van den Burg & Williams, 2020):

* **F1 with a margin**: a prediction within ``margin`` points of an annotated
  change matches it (one-to-one). Precision is measured against the union of all
  annotators' points, recall is averaged over annotators, and index 0 is added
  to every set, as TCPDBench does.
* **Covering**: each annotator's segmentation is covered by the predicted one,
  weighting every annotated segment by its length and taking its best Jaccard
  overlap with a predicted segment; averaged over annotators.

Examples
--------
>>> annotations = {"a": [50], "b": [52], "c": []}
>>> round(f_measure(annotations, [51]), 4), round(covering(annotations, [51], 100), 4)
(1.0, 0.8235)
>>> round(f_measure(annotations, []), 4)  # predicting no change at all
0.8

References
----------
G. J. J. van den Burg and C. K. I. Williams, "An Evaluation of Change Point
Detection Algorithms", arXiv:2003.06222, 2020.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

__all__ = ["covering", "f_measure", "true_positives"]


def true_positives(annotated: Iterable[int], predicted: Iterable[int], *, margin: int = 5) -> set[int]:
    """Annotated points matched by a distinct prediction within ``margin`` (closest first)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    remaining = set(predicted)
    matched: set[int] = set()
    for tau in sorted(set(annotated)):
        close = sorted((abs(tau - x), x) for x in remaining if abs(tau - x) <= margin)
        if close:
            matched.add(tau)
            remaining.remove(close[0][1])
    return matched


def f_measure(
    annotations: Mapping[str, Iterable[int]], predictions: Iterable[int], *, margin: int = 5, alpha: float = 0.5
) -> float:
    """TCPDBench's F-measure: precision against all annotators, recall averaged over them."""
    if not annotations:
        raise ValueError("annotations must hold at least one annotator")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    per_annotator = [set(points) | {0} for points in annotations.values()]
    predicted = set(predictions) | {0}
    union = set().union(*per_annotator)
    precision = len(true_positives(union, predicted, margin=margin)) / len(predicted)
    recall = sum(len(true_positives(points, predicted, margin=margin)) / len(points) for points in per_annotator) / len(
        per_annotator
    )
    return precision * recall / (alpha * recall + (1 - alpha) * precision)


def _segments(points: Iterable[int], n_obs: int) -> list[tuple[int, int]]:
    """Half-open segments [start, end) that change points at ``points`` cut 0..n_obs into."""
    cuts = sorted({p for p in points if 0 < p < n_obs})
    bounds = [0, *cuts, n_obs]
    return list(itertools.pairwise(bounds))


def _jaccard(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def covering(annotations: Mapping[str, Iterable[int]], predictions: Iterable[int], n_obs: int) -> float:
    """TCPDBench's covering of each annotator's segmentation by the predicted one, averaged."""
    if not annotations:
        raise ValueError("annotations must hold at least one annotator")
    if n_obs < 1:
        raise ValueError(f"n_obs must be >= 1, got {n_obs}")
    predicted = _segments(predictions, n_obs)
    scores = []
    for points in annotations.values():
        truth = _segments(points, n_obs)
        scores.append(sum((end - start) * max(_jaccard((start, end), p) for p in predicted) for start, end in truth) / n_obs)
    return sum(scores) / len(scores)
