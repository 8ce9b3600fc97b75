"""The durable outbox: retries with backoff and Retry-After, deadlines, dead letters, restarts."""

from __future__ import annotations

import time

import pytest
from alert_support import Clock
from sqlalchemy import Engine, select

from alerts.model import Alert, Result
from alerts.notifiers.memory import MemoryNotifier
from alerts.outbox import Outbox
from monitor.store.tables import outbox as outbox_table

ALERT = Alert("f00d", "Drift", "firing", "critical", {"alertname": "Drift"}, {"summary": "s"}, 1.0, value=0.4)


def make(db: Engine, clock: Clock, notifier: MemoryNotifier, **options: float) -> Outbox:
    return Outbox(db, {notifier.name: notifier}, {}, jitter=0.0, clock=clock, **options)  # type: ignore[arg-type]


def enqueue(box: Outbox, db: Engine, clock: Clock) -> str:
    with db.begin() as connection:
        return box.add_notification(connection, "ops", "g1", [ALERT], clock.now)


def row(db: Engine, entry: str) -> dict[str, object]:
    with db.connect() as connection:
        return dict(connection.execute(select(outbox_table).where(outbox_table.c.id == entry)).mappings().one())


def test_retryable_failures_back_off_and_honour_retry_after(db: Engine, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    ops.fail_next(
        Result(ok=False, retryable=True, detail="connection refused"),
        Result(ok=False, retryable=True, status_code=503, retry_after=30.0),
        Result(ok=False, retryable=True, status_code=429),
    )
    box = make(db, clock, ops, backoff_initial=1.0, backoff_max=60.0)
    entry = enqueue(box, db, clock)
    start = clock.now

    assert box.deliver_due() == 1
    assert row(db, entry)["next_attempt_at"] == start + 1.0  # first retry: initial delay
    assert box.deliver_due() == 0  # not due yet
    clock.advance(1.0)
    box.deliver_due()
    assert row(db, entry)["next_attempt_at"] == clock.now + 30.0  # Retry-After beats the 2 s backoff
    assert row(db, entry)["last_status"] == 503
    clock.advance(29.0)
    assert box.deliver_due() == 0
    clock.advance(1.0)
    box.deliver_due()
    assert row(db, entry)["next_attempt_at"] == clock.now + 4.0  # third retry: 4 s
    clock.advance(4.0)
    box.deliver_due()

    assert ops.attempts == 4
    assert [n.id for n in ops.sent] == [entry]  # one delivery, with the id it had from the start
    stored = row(db, entry)
    assert (stored["state"], stored["attempts"]) == ("delivered", 4)
    assert box.counts() == {"pending": 0, "delivered": 1, "dead": 0}
    clock.advance(3600)
    assert box.deliver_due() == 0  # delivered entries are never sent again


def test_deadline_makes_an_entry_dead(db: Engine, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    ops.fail_next(*[Result(ok=False, retryable=True, status_code=502)] * 10)
    box = make(db, clock, ops, backoff_initial=10.0, backoff_max=1000.0, deadline=60.0)
    entry = enqueue(box, db, clock)
    box.deliver_due()  # t=0: retry at 10
    clock.advance(10)
    box.deliver_due()  # t=10: retry at 30
    assert row(db, entry)["state"] == "pending"
    clock.advance(20)
    box.deliver_due()  # t=30: the next retry (t=70) would be past the deadline (t=60)
    stored = row(db, entry)
    assert (stored["state"], stored["attempts"]) == ("dead", 3)
    assert stored["last_error"] == "deadline passed after 3 attempts; last: status 502"
    assert ops.sent == []
    assert box.counts()["dead"] == 1


def test_retry_after_beyond_deadline_is_dead(db: Engine, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    ops.fail_next(Result(ok=False, retryable=True, status_code=503, retry_after=7200.0))
    box = make(db, clock, ops, deadline=3600.0)
    entry = enqueue(box, db, clock)
    box.deliver_due()
    assert row(db, entry)["state"] == "dead"


def test_non_retryable_failure_is_dead_at_once(db: Engine, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    ops.fail_next(Result(ok=False, retryable=False, status_code=400, detail="bad payload"))
    box = make(db, clock, ops)
    entry = enqueue(box, db, clock)
    box.deliver_due()
    stored = row(db, entry)
    assert (stored["state"], stored["last_error"], stored["attempts"]) == ("dead", "bad payload", 1)


def test_a_raising_notifier_is_a_retryable_failure(db: Engine, clock: Clock) -> None:
    class Broken(MemoryNotifier):
        def send(self, batch):  # type: ignore[no-untyped-def]
            raise ConnectionError("refused")

    box = make(db, clock, Broken("ops"))
    entry = enqueue(box, db, clock)
    box.deliver_due()
    stored = row(db, entry)
    assert (stored["state"], stored["last_error"]) == ("pending", "ConnectionError: refused")


def test_restart_mid_retry_delivers_once_with_the_same_id(db: Engine, clock: Clock) -> None:
    before = MemoryNotifier("ops")
    before.fail_next(Result(ok=False, retryable=True, status_code=503, retry_after=5.0))
    box = make(db, clock, before)
    entry = enqueue(box, db, clock)
    box.deliver_due()
    assert before.sent == []

    after = MemoryNotifier("ops")  # a new process: new notifier, same database
    box = make(db, clock, after)
    clock.advance(5)
    box.deliver_due()
    assert [n.id for n in after.sent] == [entry]
    box = make(db, clock, after)  # and once more: acknowledged entries stay delivered
    clock.advance(60)
    box.deliver_due()
    assert len(after.sent) == 1


def test_unknown_receiver_is_dead_with_a_reason(db: Engine, clock: Clock) -> None:
    box = make(db, clock, MemoryNotifier("other"))
    entry = enqueue(box, db, clock)
    box.deliver_due()
    assert row(db, entry)["last_error"] == "no receiver named 'ops' is configured"


def test_worker_thread_delivers_and_stops(db: Engine) -> None:
    ops = MemoryNotifier("ops")
    box = Outbox(db, {"ops": ops}, {}, jitter=0.0)
    box.start()
    try:
        with db.begin() as connection:
            entry = box.add_notification(connection, "ops", "g", [ALERT], 0.0)
        box.wake()
        deadline = time.monotonic() + 20
        while not ops.sent and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        box.stop()
    assert [n.id for n in ops.sent] == [entry]


@pytest.mark.parametrize("jitter", [-0.1, 1.0])
def test_jitter_is_validated(db: Engine, jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        Outbox(db, {}, {}, jitter=jitter)
