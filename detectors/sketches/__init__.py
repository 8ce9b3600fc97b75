"""Mergeable column summaries: reference profiles and window state."""

from detectors.sketches.categorical import (
    OTHER,
    CategoricalReference,
    CategoricalWindow,
)
from detectors.sketches.numeric import NumericReference, NumericWindow

__all__ = ["OTHER", "CategoricalReference", "CategoricalWindow", "NumericReference", "NumericWindow"]
