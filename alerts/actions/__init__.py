"""Rollback actions, built from a policy's action config by :func:`build_action`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.actions.memory import RecordingAction
from alerts.model import Action

__all__ = ["build_action"]


def build_action(name: str, spec: Mapping[str, Any]) -> Action:
    """Build the action a policy's config describes (``spec["type"]`` selects the kind).

    Raises :class:`ValueError` naming the policy, the field and the rule it breaks.

    >>> build_action("abort-canary", {"type": "record"}).name
    'abort-canary'
    >>> build_action("abort-canary", {})
    Traceback (most recent call last):
    ...
    ValueError: policies.abort-canary.action.type: unknown action type None (known: record)
    """
    kind = spec.get("type")
    if kind == "record":
        return RecordingAction(name)
    raise ValueError(f"policies.{name}.action.type: unknown action type {kind!r} (known: record)")
