"""Benchmark scorers, pure functions with no file I/O: :mod:`~detectors.evaluation.nab` judges
anomaly scores with NAB's rules, :mod:`~detectors.evaluation.tcpd` change points with TCPDBench's."""

from detectors.evaluation.nab import (
    NAB_PROFILES,
    NabProfile,
    NabScore,
    NabSeries,
    optimise_threshold,
    score_corpus,
    window_rows,
)

__all__ = [
    "NAB_PROFILES",
    "NabProfile",
    "NabScore",
    "NabSeries",
    "optimise_threshold",
    "score_corpus",
    "window_rows",
]
