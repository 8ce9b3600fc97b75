"""Streaming change detectors on scalar series (see :mod:`detectors.streaming.base`)."""

from detectors.streaming.base import StreamDetector

__all__ = ["StreamDetector"]
