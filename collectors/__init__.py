"""Collectors: decode, validate and normalise incoming telemetry into columnar records.

Nothing here knows about HTTP frameworks or databases.
"""

from collectors.errors import DecodeError, PayloadTooLarge, UnsupportedMediaType
from collectors.records import Batch, Column, InferenceBatch, Kind, LabelBatch, MetricBatch, batch_from_arrow

__all__ = [
    "Batch",
    "Column",
    "DecodeError",
    "InferenceBatch",
    "Kind",
    "LabelBatch",
    "MetricBatch",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "batch_from_arrow",
]
