"""Rollback policies: decide, for each alert that starts firing, whether its action runs.

A decision is one of ``run`` (queued in the outbox), ``dry_run`` (the action only
describes what it would do), ``cooldown`` (the policy acted on the same scope less
than ``cooldown`` ago) or ``rate_limited`` (``max_per_hour`` reached). Every
decision is written to the ``action_audit`` table, which ``GET /api/v1/actions``
lists; dry runs count towards cooldown and rate limit, so a dry run shows exactly
what the live policy would do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from sqlalchemy import Connection, func, insert, select

from alerts.model import Action, Alert, Result
from alerts.outbox import Outbox
from alerts.rules import Policy
from monitor.store.tables import action_audit

__all__ = ["Decision", "apply_policies", "scope_key"]

Decision = Literal["run", "dry_run", "cooldown", "rate_limited"]
_COUNTED = ("run", "dry_run")


def scope_key(policy: Policy, labels: Mapping[str, str]) -> str:
    """The cooldown scope of an alert under ``policy``: the values of its ``scope`` labels.

    >>> p = Policy(name="abort", action={"type": "record"}, scope=("model", "version"))
    >>> scope_key(p, {"model": "fraud", "version": "v2", "feature": "income"})
    'model=fraud,version=v2'
    """
    return ",".join(f"{label}={labels.get(label, '')}" for label in policy.scope)


def _decide(connection: Connection, policy: Policy, scope: str, now: float) -> Decision:
    counted = action_audit.c.decision.in_(_COUNTED)
    last = connection.execute(
        select(func.max(action_audit.c.created_at)).where(
            action_audit.c.policy == policy.name, action_audit.c.scope == scope, counted
        )
    ).scalar()
    if last is not None and now - float(last) < policy.cooldown:
        return "cooldown"
    in_hour = connection.execute(
        select(func.count()).where(action_audit.c.policy == policy.name, counted, action_audit.c.created_at > now - 3600.0)
    ).scalar_one()
    if in_hour >= policy.max_per_hour:
        return "rate_limited"
    return "dry_run" if policy.dry_run else "run"


def apply_policies(
    connection: Connection,
    policies: tuple[Policy, ...],
    actions: Mapping[str, Action],
    outbox: Outbox,
    alert: Alert,
    now: float,
) -> list[Decision]:
    """Decide and record every policy that matches ``alert`` (which just started firing)."""
    decisions: list[Decision] = []
    for policy in policies:
        if not policy.applies_to(alert.labels):
            continue
        scope = scope_key(policy, alert.labels)
        decision = _decide(connection, policy, scope, now)
        result, detail = "queued", ""
        if decision == "dry_run":
            outcome = _dry_run(actions[policy.name], alert)
            result, detail = ("ok" if outcome.ok else "failed"), outcome.detail
        elif decision == "cooldown":
            result, detail = "skipped", f"acted on scope {scope!r} less than {policy.cooldown:g} s ago"
        elif decision == "rate_limited":
            result, detail = "skipped", f"{policy.max_per_hour} actions in the last hour"
        audit_id = connection.execute(
            insert(action_audit).values(
                policy=policy.name,
                action=str(policy.action.get("type", "")),
                scope=scope,
                decision=decision,
                trigger=f"rule {alert.alertname} started firing (fingerprint {alert.fingerprint})",
                alertname=alert.alertname,
                fingerprint=alert.fingerprint,
                severity=alert.severity,
                labels=json.dumps(dict(alert.labels), sort_keys=True),
                value=alert.value,
                result=result,
                detail=detail,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key
        if decision == "run" and audit_id is not None:
            entry = outbox.add_action(connection, policy.name, alert, int(audit_id[0]), now)
            connection.execute(action_audit.update().where(action_audit.c.id == audit_id[0]).values(outbox_id=entry))
        decisions.append(decision)
    return decisions


def _dry_run(action: Action, alert: Alert) -> Result:
    try:
        return action.run(alert, dry_run=True)
    except Exception as exc:  # a broken action never stops evaluation
        return Result(ok=False, detail=f"{type(exc).__name__}: {exc}")
