"""The alert lifecycle: evaluate rules, move alerts pending → firing → resolved, notify, act.

Each :meth:`AlertEngine.evaluate` reads current samples from a
:class:`~alerts.source.ValueSource` once, and for every rule and every matching
sample whose comparison holds keeps one alert, identified by its *fingerprint*
(a stable hash of the rule name and the sample's labels), so the same condition is
one alert however often it is seen. An alert is *pending* until its condition has
held for the rule's ``for``, then *firing*; when the condition stops holding (or
the sample disappears) a firing alert is *resolved* and a pending one dropped.

Firing alerts that no silence covers are routed to receivers and grouped by the
rule's ``group_by`` labels. A group is notified when it gains an alert or one of
its alerts resolves, and again every ``repeat_interval`` while it keeps firing.
Alerts that start firing go through the rollback policies.

One evaluation writes everything it decided — alert rows, group state, outbox
entries and audit records — in one transaction, so after a restart the engine
continues exactly where the database says it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy import Connection, Engine, delete, insert, select, update

from alerts.matchers import matches_all
from alerts.model import Action, Alert
from alerts.outbox import Outbox
from alerts.policies import apply_policies
from alerts.rules import Policy, Route, Rule, render
from alerts.silences import Silence, active_silences
from alerts.source import Sample, ValueSource
from monitor.store.tables import alert_groups, alerts

__all__ = ["AlertEngine", "fingerprint", "group_key"]

Phase = Literal["pending", "firing"]


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """A stable id for the alert a rule raises on a series with ``labels`` (order does not matter).

    >>> fingerprint("FeatureDrift", {"model": "m", "feature": "x"}) == fingerprint("FeatureDrift", {"feature": "x", "model": "m"})
    True
    >>> len(fingerprint("FeatureDrift", {}))
    16
    """
    text = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def group_key(receiver: str, group_by: Sequence[str], labels: Mapping[str, str]) -> str:
    """The notification group of an alert at ``receiver``: the values of its ``group_by`` labels.

    >>> group_key("ops", ["model"], {"model": "m", "feature": "a"}) == group_key("ops", ["model"], {"model": "m"})
    True
    """
    text = json.dumps([receiver, [(name, labels.get(name, "")) for name in group_by]], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Active:
    """A pending or firing alert as the engine holds it."""

    row_id: int | None
    rule: Rule
    fingerprint: str
    labels: Mapping[str, str]
    phase: Phase
    active_since: float
    starts_at: float | None
    value: float | None
    annotations: Mapping[str, str]

    def to_alert(self, ends_at: float | None = None) -> Alert:
        rule = self.rule
        return Alert(
            fingerprint=self.fingerprint,
            alertname=rule.name,
            state="resolved" if ends_at is not None else "firing",
            severity=rule.severity,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            starts_at=self.starts_at if self.starts_at is not None else self.active_since,
            ends_at=ends_at,
            value=self.value,
            evidence={
                "metric": rule.metric,
                "op": rule.op,
                "threshold": rule.threshold,
                "for_seconds": rule.for_,
                "increase_over_seconds": rule.increase_over,
            },
        )


@dataclass(slots=True)
class _Step:
    """What one evaluation changes."""

    active: dict[str, _Active] = field(default_factory=dict)  # pending and firing after this step
    started: list[_Active] = field(default_factory=list)  # began firing now
    resolved: list[Alert] = field(default_factory=list)  # stopped firing now
    ended_rows: list[int] = field(default_factory=list)  # their rows: firing → resolved
    dropped: list[int] = field(default_factory=list)  # pending that never fired: not an incident, not history


@dataclass(frozen=True, slots=True)
class _Group:
    labels: Mapping[str, str]
    fingerprints: frozenset[str]
    last_sent_at: float


class AlertEngine:
    """Evaluates rules against a value source; see the module docstring.

    Parameters
    ----------
    rules, routes, policies
        What to evaluate, who hears about which alerts (every matching route applies),
        and what runs when alerts start firing.
    actions
        The action of each policy, by policy name (dry runs call it with ``dry_run=True``).
    receiver_repeat
        Longest repeat interval per receiver, whatever the rules say (Alertmanager forgets
        alerts that are not re-sent within a few of its resend intervals).
    clock
        Unix time; tests pass a settable clock and call :meth:`evaluate` themselves.
    """

    def __init__(
        self,
        engine: Engine,
        rules: Sequence[Rule],
        source: ValueSource,
        outbox: Outbox,
        *,
        routes: Sequence[Route] = (),
        policies: Sequence[Policy] = (),
        actions: Mapping[str, Action] | None = None,
        receiver_repeat: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.rules = {rule.name: rule for rule in rules}
        self.source = source
        self.outbox = outbox
        self.routes = tuple(routes)
        self.policies = tuple(policies)
        self.actions = dict(actions or {})
        self.receiver_repeat = dict(receiver_repeat or {})
        self.clock = clock
        self._active: dict[str, _Active] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._evaluated = False
        self._lock = threading.Lock()  # guards _active for readers on other threads

    # -- restore ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Take up pending/firing alerts and group state from the database."""
        now = self.clock()
        active: dict[str, _Active] = {}
        with self.engine.begin() as connection:
            rows = connection.execute(select(alerts).where(alerts.c.state.in_(("pending", "firing")))).mappings()
            orphans = []
            for row in rows:
                rule = self.rules.get(row["rule"])
                if rule is None:  # the rule was removed from the config
                    orphans.append(row["id"])
                    continue
                active[row["fingerprint"]] = _Active(
                    row_id=row["id"],
                    rule=rule,
                    fingerprint=row["fingerprint"],
                    labels=json.loads(row["labels"]),
                    phase=row["state"],
                    active_since=row["active_since"],
                    starts_at=row["starts_at"],
                    value=row["value"],
                    annotations=json.loads(row["annotations"]),
                )
            if orphans:
                connection.execute(
                    update(alerts).where(alerts.c.id.in_(orphans)).values(state="resolved", ends_at=now, updated_at=now)
                )
            groups = {
                (row["receiver"], row["group_key"]): _Group(
                    json.loads(row["labels"]), frozenset(json.loads(row["fingerprints"])), row["last_sent_at"]
                )
                for row in connection.execute(select(alert_groups)).mappings()
            }
        with self._lock:
            self._active = active
            self._groups = groups

    # -- views ------------------------------------------------------------------------------------
    def firing_counts(self) -> dict[tuple[str, str], int]:
        """Firing alerts per (alertname, severity), zero for every rule with none."""
        counts: dict[tuple[str, str], int] = {(rule.name, rule.severity): 0 for rule in self.rules.values()}
        with self._lock:
            for alert in self._active.values():
                if alert.phase == "firing":
                    key = (alert.rule.name, alert.rule.severity)
                    counts[key] = counts.get(key, 0) + 1
        return counts

    # -- one evaluation ---------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Evaluate every rule once and write what changed (see the module docstring)."""
        now = self.clock()
        by_name: dict[str, list[Sample]] = {}
        for sample in self.source.samples():
            by_name.setdefault(sample.name, []).append(sample)
        step = self._transition(self._holding(by_name, now), now)
        self._evaluated = True
        with self.engine.begin() as connection:
            silences = active_silences(connection, now)
            active = self._write_alerts(connection, step, now)
            groups = self._notify(connection, active, step.resolved, silences, now)
            for alert in step.started:
                if not _silenced(silences, alert.labels, now):
                    apply_policies(connection, self.policies, self.actions, self.outbox, alert.to_alert(), now)
        with self._lock:
            self._active = active
            self._groups = groups
        self.outbox.wake()

    def _transition(self, holding: Mapping[str, tuple[Rule, dict[str, str], float]], now: float) -> _Step:
        """Move each alert along pending → firing → resolved from what holds now."""
        step = _Step()
        for fp, (rule, labels, value) in holding.items():
            previous = self._active.get(fp)
            phase: Phase = previous.phase if previous else "pending"
            since = previous.active_since if previous else now
            starts_at = previous.starts_at if previous else None
            if phase == "pending" and now - since >= rule.for_:
                phase, starts_at = "firing", now
            values = {"value": value, "threshold": rule.threshold, "alertname": rule.name, "metric": rule.metric}
            annotations = {
                "summary": render(rule.summary, labels, **values),
                "description": render(rule.description, labels, **values),
            }
            row_id = previous.row_id if previous else None
            current = _Active(row_id, rule, fp, labels, phase, since, starts_at, value, annotations)
            step.active[fp] = current
            if phase == "firing" and (previous is None or previous.phase == "pending"):
                step.started.append(current)
        for fp, previous in self._active.items():
            if fp in holding:
                continue
            if previous.phase == "firing":
                step.resolved.append(previous.to_alert(ends_at=now))
            if previous.row_id is not None:
                (step.ended_rows if previous.phase == "firing" else step.dropped).append(previous.row_id)
        return step

    def _holding(self, by_name: Mapping[str, Iterable[Sample]], now: float) -> dict[str, tuple[Rule, dict[str, str], float]]:
        """Fingerprint → (rule, alert labels, value) of every series whose condition holds now."""
        holding: dict[str, tuple[Rule, dict[str, str], float]] = {}
        seen: set[str] = set()
        for rule in self.rules.values():
            for sample in by_name.get(rule.metric, ()):
                if not matches_all(rule.matchers, sample.labels):
                    continue
                fp = fingerprint(rule.name, sample.labels)
                value = sample.value
                if rule.increase_over is not None:
                    seen.add(fp)
                    value = self._increase(fp, rule.increase_over, value, now)
                if rule.holds(value):
                    labels = {**sample.labels, **rule.labels, "alertname": rule.name, "severity": rule.severity}
                    holding[fp] = (rule, labels, value)
        for fp in self._history.keys() - seen:
            del self._history[fp]
        return holding

    def _increase(self, fp: str, window: float, value: float, now: float) -> float:
        """A counter's increase over the last ``window`` seconds, across counter resets.

        A series first seen after the engine's first evaluation counts from zero (it
        appeared because something was counted); at the first evaluation, from itself.
        """
        history = self._history.get(fp)
        if history is None:
            history = self._history[fp] = deque([(now, 0.0 if self._evaluated else value)])
        history.append((now, value))
        while len(history) > 2 and history[1][0] <= now - window:
            history.popleft()
        increase = 0.0
        for (_, before), (_, after) in itertools.pairwise(history):
            increase += after - before if after >= before else after
        return increase

    def _write_alerts(self, connection: Connection, step: _Step, now: float) -> dict[str, _Active]:
        """Store the step's alerts; returns them with the row ids of new ones."""
        active = dict(step.active)
        for fp, alert in step.active.items():
            values = {
                "state": alert.phase,
                "labels": json.dumps(dict(alert.labels), sort_keys=True),
                "annotations": json.dumps(dict(alert.annotations), sort_keys=True),
                "value": alert.value,
                "starts_at": alert.starts_at,
                "updated_at": now,
            }
            if alert.row_id is None:
                key = connection.execute(
                    insert(alerts).values(
                        fingerprint=fp,
                        rule=alert.rule.name,
                        severity=alert.rule.severity,
                        active_since=alert.active_since,
                        **values,
                    )
                ).inserted_primary_key
                active[fp] = replace(alert, row_id=int(key[0]) if key is not None else None)
            else:
                connection.execute(update(alerts).where(alerts.c.id == alert.row_id).values(**values))
        if step.ended_rows:
            connection.execute(
                update(alerts).where(alerts.c.id.in_(step.ended_rows)).values(state="resolved", ends_at=now, updated_at=now)
            )
        if step.dropped:
            connection.execute(delete(alerts).where(alerts.c.id.in_(step.dropped)))
        return active

    def _receivers(self, labels: Mapping[str, str]) -> list[str]:
        return list(dict.fromkeys(route.receiver for route in self.routes if matches_all(route.matchers, labels)))

    def _notify(
        self, connection: Connection, active: Mapping[str, _Active], resolved: list[Alert], silences: list[Silence], now: float
    ) -> dict[tuple[str, str], _Group]:
        """Queue a notification for every group that changed or is due for a repeat."""
        firing: dict[tuple[str, str], list[_Active]] = {}
        labels_of: dict[tuple[str, str], dict[str, str]] = {}
        for alert in active.values():
            if alert.phase != "firing" or _silenced(silences, alert.labels, now):
                continue
            for receiver in self._receivers(alert.labels):
                key = (receiver, group_key(receiver, alert.rule.group_by, alert.labels))
                firing.setdefault(key, []).append(alert)
                labels_of[key] = {name: alert.labels.get(name, "") for name in alert.rule.group_by}
        ended: dict[tuple[str, str], list[Alert]] = {}
        for gone in resolved:
            rule = self.rules[gone.alertname]
            for receiver in self._receivers(gone.labels):
                ended.setdefault((receiver, group_key(receiver, rule.group_by, gone.labels)), []).append(gone)

        groups = dict(self._groups)
        for key in firing.keys() | {k for k, g in self._groups.items() if g.fingerprints}:
            group = self._groups.get(key)
            told = group.fingerprints if group else frozenset()
            members = sorted(firing.get(key, []), key=lambda a: a.fingerprint)
            current = frozenset(a.fingerprint for a in members)
            told_ended = [a for a in ended.get(key, []) if a.fingerprint in told]
            repeat = min([a.rule.repeat_interval for a in members] + [self.receiver_repeat.get(key[0], float("inf"))])
            due = bool(members) and group is not None and now - group.last_sent_at >= repeat
            if current - told or told_ended or due:
                batch = [a.to_alert() for a in members] + told_ended
                self.outbox.add_notification(connection, key[0], key[1], batch, now)
                groups[key] = _Group(labels_of.get(key, group.labels if group else {}), current, now)
            elif current != told and group is not None:
                groups[key] = replace(group, fingerprints=current)
            else:
                continue
            connection.execute(delete(alert_groups).where(alert_groups.c.receiver == key[0], alert_groups.c.group_key == key[1]))
            connection.execute(
                insert(alert_groups).values(
                    receiver=key[0],
                    group_key=key[1],
                    labels=json.dumps(dict(groups[key].labels), sort_keys=True),
                    fingerprints=json.dumps(sorted(groups[key].fingerprints)),
                    last_sent_at=groups[key].last_sent_at,
                )
            )
        return groups


def _silenced(silences: Iterable[Silence], labels: Mapping[str, str], now: float) -> bool:
    return any(s.silences(labels, now) for s in silences)
