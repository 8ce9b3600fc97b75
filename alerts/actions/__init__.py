"""Rollback actions, built from a policy's action config by :func:`build_action`.

==============  ====================================================================
``type``        what runs
==============  ====================================================================
http            a templated HTTP request
argo-rollouts   abort an Argo Rollouts canary (Kubernetes API PATCH, or kubectl plugin)
command         a program run as an argv list, without a shell
record          in-process test double
==============  ====================================================================

Every action honours ``dry_run``: nothing is called and the result says what would run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alerts.actions.argo import ArgoRolloutsAbort
from alerts.actions.command import CommandAction
from alerts.actions.http import HttpAction
from alerts.actions.memory import RecordingAction
from alerts.model import Action

__all__ = ["ArgoRolloutsAbort", "CommandAction", "HttpAction", "RecordingAction", "build_action"]

_KINDS: dict[str, Callable[[str, Mapping[str, Any]], Action]] = {
    "argo-rollouts": ArgoRolloutsAbort.from_spec,
    "command": CommandAction.from_spec,
    "http": HttpAction.from_spec,
    "record": lambda name, _spec: RecordingAction(name),
}


def build_action(name: str, spec: Mapping[str, Any]) -> Action:
    """Build the action a policy's config describes (``spec["type"]`` selects the kind).

    Raises :class:`ValueError` naming the policy, the field and the rule it breaks.

    >>> build_action("abort-canary", {"type": "record"}).name
    'abort-canary'
    >>> build_action("abort-canary", {})
    Traceback (most recent call last):
    ...
    ValueError: policies.abort-canary.action.type: unknown action type None (known: argo-rollouts, command, http, record)
    >>> build_action("page", {"type": "command", "argv": ["notify", "{{ labels.model "]})
    Traceback (most recent call last):
    ...
    ValueError: policies.page.action.argv.1: Value error, template syntax error: unexpected end of template, ...
    """
    kind = spec.get("type")
    factory = _KINDS.get(kind) if isinstance(kind, str) else None
    if factory is None:
        raise ValueError(f"policies.{name}.action.type: unknown action type {kind!r} (known: {', '.join(sorted(_KINDS))})")
    return factory(name, spec)
