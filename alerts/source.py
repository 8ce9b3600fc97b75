"""Where rules read current values: a small interface the service implements over ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Sample", "ValueSource"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One current value: a sample name as ``/metrics`` writes it, its labels and its value."""

    name: str
    labels: Mapping[str, str]
    value: float


class ValueSource(Protocol):
    """Yields the current samples; called once per evaluation, from the evaluating thread."""

    def samples(self) -> Iterable[Sample]: ...
