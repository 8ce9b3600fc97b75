"""Streaming anomaly scorers: a score in [0, 1] per point (see :mod:`detectors.anomaly.base`)."""

from detectors.anomaly.base import AnomalyScorer
from detectors.anomaly.hst import HalfSpaceTreesScorer
from detectors.anomaly.novelty import SeasonalNoveltyScorer

__all__ = ["AnomalyScorer", "HalfSpaceTreesScorer", "SeasonalNoveltyScorer"]
