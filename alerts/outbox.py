"""The durable outbox: notifications and actions are stored first, then delivered with retries.

Entries are written in the same transaction as the alert state change that caused
them, so a crash never loses one. A worker delivers due entries; a retryable
:class:`~alerts.model.Result` (429, 5xx, connection errors) schedules the next
attempt after an exponential backoff with jitter, or after the receiver's
``Retry-After`` when that is longer, until the entry's deadline; then the entry is
*dead* (kept, listed by the API, counted in ``/metrics``). A non-retryable failure
is dead at once.

The entry's id is the :class:`~alerts.model.Notification` id (the ``webhook-id``):
it is fixed when the entry is written and reused on every attempt, also after a
restart. An entry is marked delivered as soon as the receiver acknowledged it; only
a crash between that acknowledgement and the mark can repeat a delivery, with the
same id, which receivers that deduplicate on it ignore.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Literal

from sqlalchemy import Connection, Engine, func, insert, select, update

from alerts.model import Action, Alert, Notification, Notifier, Result
from monitor.store.tables import action_audit, outbox

__all__ = ["Outbox", "alert_from_dict", "backoff_delay"]

log = logging.getLogger(__name__)
Kind = Literal["notification", "action"]
_BATCH = 64


def alert_from_dict(data: Mapping[str, Any]) -> Alert:
    """Rebuild an :class:`Alert` from its stored JSON form."""
    return Alert(**{**data, "labels": dict(data["labels"]), "annotations": dict(data["annotations"])})


def backoff_delay(attempt: int, initial: float, maximum: float, jitter: float, rng: random.Random) -> float:
    """Seconds before retry number ``attempt`` (1-based): ``initial * 2**(attempt-1)``, capped, +-jitter.

    >>> import random
    >>> [backoff_delay(n, 1.0, 5.0, 0.0, random.Random(0)) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    >>> 0.8 <= backoff_delay(1, 1.0, 5.0, 0.2, random.Random(0)) <= 1.2
    True
    """
    delay = min(maximum, initial * 2.0 ** (attempt - 1))
    return delay * (1.0 + rng.uniform(-jitter, jitter)) if jitter else delay


class Outbox:
    """Stores and delivers notifications (to notifiers) and actions (of policies).

    Parameters
    ----------
    notifiers, actions
        Delivery targets by receiver name and by policy name.
    deadline
        Seconds after an entry is written at which it stops being retried and is dead.
    backoff_initial, backoff_max
        First retry delay and the cap on later ones (each retry doubles the delay).
    jitter
        Relative spread of each delay (0.2: +-20 %); tests pass 0 for exact delays.
    clock
        Unix time; tests pass a settable clock and call :meth:`deliver_due` themselves.
    """

    def __init__(
        self,
        engine: Engine,
        notifiers: Mapping[str, Notifier],
        actions: Mapping[str, Action],
        *,
        deadline: float = 3600.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        jitter: float = 0.2,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter={jitter!r} must be in [0, 1)")
        self.engine = engine
        self.notifiers = dict(notifiers)
        self.actions = dict(actions)
        self.deadline = deadline
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- writing (inside the caller's transaction) ------------------------------------------------
    def add_notification(self, connection: Connection, receiver: str, group_key: str, alerts: list[Alert], now: float) -> str:
        """Store a notification of ``alerts`` for ``receiver``; returns its id."""
        payload = {"alerts": [asdict(a) for a in alerts]}
        return self._add(connection, "notification", receiver, group_key, payload, now, None)

    def add_action(self, connection: Connection, policy: str, alert: Alert, audit_id: int, now: float) -> str:
        """Store a run of ``policy``'s action for ``alert``; its result goes to audit row ``audit_id``."""
        return self._add(connection, "action", policy, alert.fingerprint, {"alert": asdict(alert)}, now, audit_id)

    def _add(
        self,
        connection: Connection,
        kind: Kind,
        target: str,
        group_key: str,
        payload: dict[str, Any],
        now: float,
        audit: int | None,
    ) -> str:
        entry_id = f"msg_{uuid.uuid4().hex}"
        connection.execute(
            insert(outbox).values(
                id=entry_id,
                kind=kind,
                target=target,
                group_key=group_key,
                payload=json.dumps(payload, sort_keys=True, default=str),
                state="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                deadline=now + self.deadline,
                last_error="",
                audit_id=audit,
            )
        )
        return entry_id

    def wake(self) -> None:
        """Tell the worker that new entries may be due."""
        self._wake.set()

    # -- delivering -------------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Attempt every entry that is due now; returns how many were attempted."""
        now = self.clock()
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(outbox)
                .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.created_at)
                .limit(_BATCH)
            ).mappings()
            due = [dict(row) for row in rows]
        for row in due:
            if self._stop.is_set():
                break
            self._attempt(row)
        return len(due)

    def _attempt(self, row: dict[str, Any]) -> None:
        payload = json.loads(row["payload"])
        try:
            result = self._send(row, payload)
        except Exception as exc:  # a failing receiver never stops the worker; treated as a connection error
            result = Result(ok=False, retryable=True, detail=f"{type(exc).__name__}: {exc}")
        now = self.clock()
        attempts = row["attempts"] + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status": result.status_code, "last_error": result.detail}
        if result.ok:
            values |= {"state": "delivered", "finished_at": now, "last_error": ""}
        elif result.retryable:
            delay = backoff_delay(attempts, self.backoff_initial, self.backoff_max, self.jitter, self.rng)
            if result.retry_after is not None:
                delay = max(delay, result.retry_after)
            if now + delay <= row["deadline"]:
                values["next_attempt_at"] = now + delay
            else:
                last = result.detail or f"status {result.status_code}"
                values |= {
                    "state": "dead",
                    "finished_at": now,
                    "last_error": f"deadline passed after {attempts} attempts; last: {last}",
                }
        else:
            values |= {"state": "dead", "finished_at": now}
        with self.engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.id == row["id"], outbox.c.state == "pending").values(**values))
            if row["audit_id"] is not None and values.get("state") in ("delivered", "dead"):
                outcome = "ok" if values["state"] == "delivered" else "failed"
                connection.execute(
                    update(action_audit)
                    .where(action_audit.c.id == row["audit_id"])
                    .values(result=outcome, detail=result.detail or outcome, updated_at=now)
                )
        if not result.ok:
            log.warning("delivery %s to %s failed (attempt %d): %s", row["id"], row["target"], attempts, result.detail)

    def _send(self, row: dict[str, Any], payload: dict[str, Any]) -> Result:
        if row["kind"] == "action":
            action = self.actions.get(row["target"])
            if action is None:
                return Result(ok=False, detail=f"no policy named {row['target']!r} is configured")
            return action.run(alert_from_dict(payload["alert"]))
        notifier = self.notifiers.get(row["target"])
        if notifier is None:
            return Result(ok=False, detail=f"no receiver named {row['target']!r} is configured")
        batch = Notification(
            id=row["id"],
            receiver=row["target"],
            group_key=row["group_key"],
            alerts=tuple(alert_from_dict(a) for a in payload["alerts"]),
            created_at=row["created_at"],
        )
        return notifier.send(batch)

    # -- the worker -------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="driftline-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker; an attempt in progress finishes, waiting retries stay stored."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for notifier in self.notifiers.values():
            notifier.shutdown()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                wait = self._next_due() - self.clock()
            except Exception:
                log.exception("outbox pass failed; retrying")
                wait = 1.0
            self._wake.wait(timeout=min(max(wait, 0.01), 1.0))
            self._wake.clear()

    def _next_due(self) -> float:
        with self.engine.connect() as connection:
            due = connection.execute(select(func.min(outbox.c.next_attempt_at)).where(outbox.c.state == "pending")).scalar()
        return float(due) if due is not None else self.clock() + 1.0

    # -- views ------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Entries per state (pending, delivered, dead)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
        return {"pending": 0, "delivered": 0, "dead": 0} | {str(state): int(n) for state, n in rows}
