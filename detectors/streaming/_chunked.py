"""The shared ``update_many`` of detectors whose state can advance a whole chunk at once."""

from __future__ import annotations

import abc

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import binary_array, finite_array
from detectors.streaming._kernels import scan
from detectors.streaming.base import StreamDetector

__all__ = ["ChunkedDetector"]


class ChunkedDetector(StreamDetector):
    """A detector that implements :meth:`_advance`; ``update_many`` then runs in vectorised chunks.

    The whole input is validated before anything is consumed (finite values, or 0/1 for
    ``binary_input`` detectors), so a bad value leaves the state untouched.
    """

    @abc.abstractmethod
    def _advance(self, chunk: npt.NDArray[np.float64]) -> int:
        """Consume ``chunk``; return -1, or the offset of the first alarm (state left reset)."""

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Consume ``xs`` in order; return the positions that raised an alarm."""
        values = binary_array(xs) if self.binary_input else finite_array(xs)
        alarms = scan(values, self._advance)
        if values.size:
            self.drift_detected = bool(alarms) and alarms[-1] == values.size - 1
        return np.asarray(alarms, dtype=np.int64)
