"""The contract of online change-point detectors: alarms now, change points dated in the past.

A change-point detector is a :class:`~detectors.streaming.base.StreamDetector` (validated
parameters stored unchanged, ``update`` / ``update_many``, ``drift_detected``, ``state_dict`` /
``from_state``, ``clone``) with two differences, which is why it lives in its own package:

* An alarm at time ``t`` *reports a change point* ``s <= t``: the estimated index of the first
  value of the new segment. The decision is taken from ``x[0..t]`` only; the date may lie in
  the past (a segment can only be recognised some values after it began).
  :attr:`ChangePointDetector.change_points` lists every reported point, in stream indices.
* Reports are final: the list only ever grows, so the points reported by time ``t`` do not
  depend on anything after ``t`` (no look-ahead). After an alarm the detector does *not* start
  afresh: the values of the new segment seen so far keep informing it.

``tests/detectors/test_changepoint_contract.py`` checks every detector that
:mod:`detectors.changepoint` exports against this contract and the streaming one.
"""

from __future__ import annotations

import abc

from detectors.streaming.base import StreamDetector

__all__ = ["ChangePointDetector"]


class ChangePointDetector(StreamDetector):
    """Base class of online change-point detectors; see the module docstring."""

    @property
    @abc.abstractmethod
    def change_points(self) -> tuple[int, ...]:
        """Every change point reported so far: 0-based index of the first value of a new segment."""

    @property
    @abc.abstractmethod
    def n_seen(self) -> int:
        """Values consumed so far (the index the next value will have)."""
