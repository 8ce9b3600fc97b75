"""Control charts on values standardised by a reference mean and standard deviation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_int, check_real
from detectors.streaming._chunked import ChunkedDetector
from detectors.streaming._kernels import estimate_reference

__all__ = ["ReferenceChart"]


class ReferenceChart(ChunkedDetector):
    """A chart whose reference ``(mean, std)`` is given, or learnt from the first ``warm_up`` values.

    A learnt reference is frozen once estimated: one that kept adapting would absorb the very
    change the chart is there to see. After an alarm a learnt reference is learnt again from
    the new regime; a given one is kept. Subclasses store ``mean``, ``std`` and ``warm_up`` as
    public attributes and call :meth:`_reset_reference` from ``_reset``.
    """

    mean: float | None
    std: float | None
    warm_up: int

    @staticmethod
    def _check_reference(mean: float | None, std: float | None, warm_up: int) -> None:
        if mean is not None:
            check_real("mean", mean)
        if std is not None:
            check_real("std", std, low=0.0, low_open=True)
        check_int("warm_up", warm_up, 2)

    def _reset_reference(self) -> None:
        self._warm: list[float] = []  # values collected towards the reference estimate
        self._ready = self.mean is not None and self.std is not None
        self._mu, self._sigma = estimate_reference([], self.mean, self.std) if self._ready else (0.0, 1.0)

    @property
    def reference(self) -> tuple[float, float] | None:
        """The frozen ``(mean, std)``, or ``None`` while warming up."""
        return (self._mu, self._sigma) if self._ready else None

    def _collect(self, values: list[float]) -> None:
        self._warm.extend(values)
        if len(self._warm) == self.warm_up:
            self._mu, self._sigma = estimate_reference(self._warm, self.mean, self.std)
            self._warm, self._ready = [], True

    def _take_warm_up(self, chunk: npt.NDArray[np.float64]) -> int:
        """Feed the chunk's leading values to the warm-up; return how many it took."""
        if self._ready:
            return 0
        taken = min(chunk.size, self.warm_up - len(self._warm))
        self._collect(chunk[:taken].tolist())
        return taken
