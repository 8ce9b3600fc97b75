"""The contract every streaming anomaly scorer follows.

A scorer watches one scalar series (a KPI, a GPU metric, a latency) and gives each new
point an anomaly score in ``[0, 1]``, seeing points in order only (no look-ahead). The
contract, which ``tests/detectors/test_anomaly_contract.py`` checks for every subclass:

* ``__init__`` validates each parameter (``ValueError`` naming the parameter, the value and
  the rule), stores it unchanged as a public attribute, then calls :meth:`_reset`, which builds
  all running state. Memory is bounded per series: it does not grow with the stream.
* :meth:`score_one` scores one value (optionally with its timestamp in Unix seconds) and then
  learns from it; :meth:`score_many` does the same for an array and returns exactly the scores
  a loop of :meth:`score_one` would, leaving the same state behind.
* :attr:`threshold` is the scorer's own alarm level: a point is an anomaly when its score is
  ``>= threshold``.
* :meth:`state_dict` / :meth:`from_state` round-trip parameters and running state through plain
  Python values (so :mod:`monitor.statecodec` can store them); a restored scorer continues
  exactly as the original would. :meth:`clone` gives a fresh scorer with the same parameters.
"""

from __future__ import annotations

import abc
import copy
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from detectors._params import Parametrised

__all__ = ["AnomalyScorer", "as_timestamps"]

FloatArray = npt.NDArray[np.float64]


def as_timestamps(timestamps: npt.ArrayLike | None, n: int) -> FloatArray | None:
    """Timestamps as float Unix seconds: ``datetime64`` values are converted (NaT to NaN).

    Examples
    --------
    >>> as_timestamps(np.array(["1970-01-01T00:05"], dtype="datetime64[s]"), 1).tolist()
    [300.0]
    """
    if timestamps is None:
        return None
    ts = np.asarray(timestamps)
    if np.issubdtype(ts.dtype, np.datetime64):
        missing = np.isnat(ts)
        ts = ts.astype("datetime64[ns]").astype(np.int64) / 1e9
        ts[missing] = np.nan  # NaT: the scorer treats the time as unknown
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    if ts.size != n:
        raise ValueError(f"timestamps: need one per value ({n}), got {ts.size}")
    return ts


class AnomalyScorer(Parametrised, abc.ABC):
    """Base class of streaming anomaly scorers; see the module docstring."""

    #: The default alarm level of the scorer's scores (subclasses document how it was chosen).
    threshold: ClassVar[float] = 0.5

    def __init__(self) -> None:
        self._reset()

    @abc.abstractmethod
    def _reset(self) -> None:
        """Build all running state from the parameters."""

    @abc.abstractmethod
    def score_many(self, values: npt.ArrayLike, timestamps: npt.ArrayLike | None = None) -> FloatArray:
        """Score ``values`` in order (learning from each after scoring it); return the scores."""

    def score_one(self, x: float, timestamp: float | None = None) -> float:
        """Score one value, then learn from it. ``timestamp`` is in Unix seconds."""
        ts = None if timestamp is None else [timestamp]
        return float(self.score_many([x], ts)[0])

    # -- parameters, cloning and state ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Parameters and running state as plain Python values (lists, numbers, ``None``)."""
        return {"class": type(self).__name__, "params": self.get_params(), "state": copy.deepcopy(self._running_state())}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a scorer that continues exactly where the saved one stopped."""
        if state.get("class") != cls.__name__:
            raise ValueError(f"state is for {state.get('class')!r}, not {cls.__name__!r}")
        scorer = cls(**state["params"])
        scorer._load_state(copy.deepcopy(state["state"]))
        return scorer

    def _load_state(self, state: dict[str, Any]) -> None:
        """Install running state produced by :meth:`_running_state`."""
        for key, value in state.items():
            setattr(self, key, value)
