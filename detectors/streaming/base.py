"""The contract every streaming change detector follows.

A detector watches one scalar series (prediction mean, error indicator,
latency, a KPI) and raises an alarm when the series changes. The contract, which
``tests/detectors/test_contract.py`` checks for every subclass at once:

* ``__init__`` validates each parameter (``ValueError`` naming the parameter, the
  value and the rule), stores it unchanged as a public attribute, then calls
  :meth:`_reset`, which builds all running state.
* :meth:`update` consumes one value; :attr:`drift_detected` tells whether that
  value raised an alarm. After an alarm the detector starts afresh with the next
  value (as river's detectors do), so consecutive alarms are separate changes.
* :meth:`update_many` consumes an array and returns the positions (within that
  array) that raised alarms — exactly the alarms a loop of :meth:`update` would
  raise, and leaving the same state behind. Subclasses override it with
  vectorised code where that is faster; the default is that loop.
* :meth:`state_dict` / :meth:`from_state` round-trip the full state (parameters
  and running state) through plain Python values and numpy arrays, so a restored
  detector continues exactly as the original would.
* :meth:`clone` returns a fresh detector with the same parameters.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from detectors._params import Parametrised

__all__ = ["StreamDetector"]


class StreamDetector(Parametrised, abc.ABC):
    """Base class of streaming change detectors; see the module docstring."""

    #: Whether the detector expects 0/1 inputs (error indicators) rather than real values.
    binary_input: ClassVar[bool] = False

    def __init__(self) -> None:
        self.drift_detected = False
        self._reset()

    @abc.abstractmethod
    def _reset(self) -> None:
        """Build all running state from the parameters (called on start and after an alarm)."""

    @abc.abstractmethod
    def update(self, x: float) -> None:
        """Consume one value and set :attr:`drift_detected`."""

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Consume ``xs`` in order; return the positions that raised an alarm."""
        alarms = []
        for i, x in enumerate(np.asarray(xs, dtype=np.float64).tolist()):
            self.update(x)
            if self.drift_detected:
                alarms.append(i)
        return np.asarray(alarms, dtype=np.int64)

    # -- parameters, cloning and state ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Parameters and running state, as plain values and numpy arrays."""
        return {"class": type(self).__name__, "params": self.get_params(), "state": _copy(self._running_state())}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector that continues exactly where the saved one stopped."""
        if state.get("class") != cls.__name__:
            raise ValueError(f"state is for {state.get('class')!r}, not {cls.__name__!r}")
        detector = cls(**state["params"])
        for key, value in _copy(state["state"]).items():
            setattr(detector, key, value)
        return detector


def _copy(value: Any) -> Any:
    """Deep-copy containers and arrays so saved state never aliases live state."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return value
    # Anything else (a random generator, a deque, an object) could alias live state:
    # a detector holding one overrides _running_state / from_state to convert it.
    raise TypeError(f"state value of type {type(value).__name__} is not plain data; convert it in _running_state")
