"""Per-record ingest limits shared by every decoder: attributes per record and string length.

The server passes the values of its settings ``max_attributes_per_record`` and
``max_string_length``; the defaults here are those settings' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DEFAULT_LIMITS", "IngestLimits", "long_strings"]


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """How many attributes a record may carry, and how long a string it may give Driftline to read."""

    #: most attributes of one OTLP log record, or labels of one metric data point
    max_attributes_per_record: int = 256
    #: most characters of a string value that is read (a category, an id, a label...)
    max_string_length: int = 1024

    def string_rule(self) -> str:
        """How a rejection for a long string names the limit.

        >>> IngestLimits(max_string_length=8).string_rule()
        'longer than 8 characters (max_string_length)'
        """
        return f"longer than {self.max_string_length} characters (max_string_length)"


#: the settings' defaults
DEFAULT_LIMITS = IngestLimits()


def long_strings(strings: pa.Array, limit: int) -> npt.NDArray[np.bool_]:
    """Which strings have more than ``limit`` characters (a null has none).

    Characters are counted as Python counts them (code points); only strings with
    more than ``limit`` bytes are counted at all, so ordinary data costs one pass
    over the offsets.

    >>> long_strings(pa.array(["abc", None, "ééé", "abcd"]), 3).tolist()
    [False, False, False, True]
    """
    sizes = np.asarray(pc.fill_null(pc.binary_length(strings), 0).to_numpy(), dtype=np.int64)
    long = sizes > limit
    if long.any():
        suspects = np.flatnonzero(long)
        characters = np.asarray(pc.utf8_length(strings.take(pa.array(suspects))).to_numpy(), dtype=np.int64)
        long[suspects] = characters > limit
    return long
