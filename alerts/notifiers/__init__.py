"""Notifiers: one module per receiver type, built from a receiver's config by :func:`build_notifier`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.model import Notifier
from alerts.notifiers.memory import MemoryNotifier

__all__ = ["build_notifier"]


def build_notifier(name: str, spec: Mapping[str, Any]) -> Notifier:
    """Build the notifier a receiver's config describes (``spec["type"]`` selects the kind).

    Raises :class:`ValueError` naming the receiver, the field and the rule it breaks.

    >>> build_notifier("ops", {"type": "memory"}).name
    'ops'
    >>> build_notifier("ops", {"type": "carrier-pigeon"})
    Traceback (most recent call last):
    ...
    ValueError: receivers.ops.type: unknown receiver type 'carrier-pigeon' (known: memory)
    """
    kind = spec.get("type")
    if kind == "memory":
        return MemoryNotifier(name)
    raise ValueError(f"receivers.{name}.type: unknown receiver type {kind!r} (known: memory)")
