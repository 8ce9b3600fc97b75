"""Alert lifecycle over a real database: for, dedup, grouping, repeat, silences, restarts."""

from __future__ import annotations

from alert_support import Clock, Values, build
from sqlalchemy import Engine, select

from alerts.notifiers.memory import MemoryNotifier
from alerts.silences import add_silence, expire_silence
from monitor.store.tables import alerts

DRIFT = {
    "default_rules": False,
    "rules": [
        {
            "name": "Drift",
            "metric": "drift_score",
            "matchers": ['model="fraud"'],
            "op": ">",
            "threshold": 0.2,
            "for": "5m",
            "severity": "critical",
            "labels": {"team": "ml"},
            "group_by": ["alertname", "model"],
            "repeat_interval": "1h",
            "summary": "Drift on $feature: $value > $threshold",
        }
    ],
}


def states(db: Engine) -> list[tuple[str, str | None, str]]:
    with db.connect() as connection:
        rows = connection.execute(select(alerts.c.rule, alerts.c.labels, alerts.c.state).order_by(alerts.c.id)).all()
    return [(rule, labels, state) for rule, labels, state in rows]


def test_pending_then_firing_after_for_then_resolved(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    engine, outbox = build(db, DRIFT, values, clock, {"ops": ops})
    values.set("drift_score", 0.31, model="fraud", feature="income")
    values.set("drift_score", 0.9, model="other", feature="income")  # not selected by the matcher
    engine.evaluate()
    assert [s for _, _, s in states(db)] == ["pending"]
    assert engine.firing_counts() == {("Drift", "critical"): 0}

    clock.advance(299)
    engine.evaluate()
    assert [s for _, _, s in states(db)] == ["pending"]
    clock.advance(1)
    engine.evaluate()
    assert [s for _, _, s in states(db)] == ["firing"]
    assert engine.firing_counts() == {("Drift", "critical"): 1}
    outbox.deliver_due()
    (sent,) = ops.sent
    (alert,) = sent.alerts
    assert alert.state == "firing"
    assert alert.labels == {"model": "fraud", "feature": "income", "team": "ml", "alertname": "Drift", "severity": "critical"}
    assert alert.annotations["summary"] == "Drift on income: 0.31 > 0.2"
    assert alert.starts_at == clock.now

    clock.advance(60)
    values.set("drift_score", 0.1, model="fraud", feature="income")
    engine.evaluate()
    outbox.deliver_due()
    assert [s for _, _, s in states(db)] == ["resolved"]
    assert [a.state for a in ops.sent[1].alerts] == ["resolved"]
    assert ops.sent[1].alerts[0].ends_at == clock.now
    assert ops.sent[1].alerts[0].fingerprint == alert.fingerprint


def test_pending_that_clears_before_for_leaves_no_history(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    engine, outbox = build(db, DRIFT, values, clock, {"ops": ops})
    values.set("drift_score", 0.5, model="fraud", feature="age")
    engine.evaluate()
    clock.advance(120)
    values.set("drift_score", None, model="fraud", feature="age")  # the series disappears
    engine.evaluate()
    outbox.deliver_due()
    assert states(db) == []
    assert ops.sent == []


def test_dedup_grouping_and_repeat_interval(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    config = {**DRIFT, "rules": [{**DRIFT["rules"][0], "for": 0}]}  # type: ignore[dict-item]
    engine, outbox = build(db, config, values, clock, {"ops": ops})
    values.set("drift_score", 0.5, model="fraud", feature="age")
    values.set("drift_score", 0.6, model="fraud", feature="income")
    engine.evaluate()
    for _ in range(5):  # the same condition seen again is the same alert: nothing new to say
        clock.advance(60)
        engine.evaluate()
    outbox.deliver_due()
    (first,) = ops.sent  # both features in one group (alertname, model)
    assert sorted(a.labels["feature"] for a in first.alerts) == ["age", "income"]
    assert len(states(db)) == 2

    clock.advance(3600 - 300)  # an hour after the first notification
    engine.evaluate()
    outbox.deliver_due()
    assert len(ops.sent) == 2
    assert ops.sent[1].group_key == first.group_key
    assert ops.sent[1].id != first.id

    values.set("drift_score", 0.1, model="fraud", feature="age")
    clock.advance(10)
    engine.evaluate()
    outbox.deliver_due()
    assert sorted((a.labels["feature"], a.state) for a in ops.sent[2].alerts) == [("age", "resolved"), ("income", "firing")]


def test_receiver_repeat_caps_the_rules_repeat_interval(db: Engine, values: Values, clock: Clock) -> None:
    am, chat = MemoryNotifier("am"), MemoryNotifier("chat")
    config = {**DRIFT, "rules": [{**DRIFT["rules"][0], "for": 0}]}  # type: ignore[dict-item]
    engine, outbox = build(db, config, values, clock, {"am": am, "chat": chat}, receiver_repeat={"am": 60.0})
    values.set("drift_score", 0.5, model="fraud", feature="age")
    for _ in range(4):
        engine.evaluate()
        clock.advance(30)
    outbox.deliver_due()
    assert len(am.sent) == 2  # at 0 s and 60 s; the rule's own repeat_interval is an hour
    assert len(chat.sent) == 1


def test_routes_send_by_matchers(db: Engine, values: Values, clock: Clock) -> None:
    pager, chat = MemoryNotifier("pager"), MemoryNotifier("chat")
    config = {
        **DRIFT,
        "rules": [{**DRIFT["rules"][0], "for": 0}],  # type: ignore[dict-item]
        "receivers": {"pager": {"type": "memory"}, "chat": {"type": "memory"}},
        "routes": [{"receiver": "pager", "matchers": ['feature="income"']}, {"receiver": "chat"}],
    }
    engine, outbox = build(db, config, values, clock, {"pager": pager, "chat": chat})
    values.set("drift_score", 0.5, model="fraud", feature="age")
    values.set("drift_score", 0.6, model="fraud", feature="income")
    engine.evaluate()
    outbox.deliver_due()
    assert [[a.labels["feature"] for a in n.alerts] for n in pager.sent] == [["income"]]
    assert [sorted(a.labels["feature"] for a in n.alerts) for n in chat.sent] == [["age", "income"]]


def test_silence_holds_notifications_until_it_expires(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    config = {**DRIFT, "rules": [{**DRIFT["rules"][0], "for": 0}]}  # type: ignore[dict-item]
    engine, outbox = build(db, config, values, clock, {"ops": ops})
    with db.begin() as connection:
        add_silence(
            connection, ['feature="age"'], starts_at=clock.now, ends_at=clock.now + 600, created_by="t", comment="", now=clock.now
        )
        doomed = add_silence(
            connection, ['alertname="Drift"'], starts_at=clock.now, ends_at=clock.now + 3600, created_by="t", comment="", now=0
        )
        expire_silence(connection, doomed.id, clock.now)  # ended at once: no effect
    values.set("drift_score", 0.5, model="fraud", feature="age")
    values.set("drift_score", 0.6, model="fraud", feature="income")
    engine.evaluate()
    outbox.deliver_due()
    assert [[a.labels["feature"] for a in n.alerts] for n in ops.sent] == [["income"]]
    assert engine.firing_counts() == {("Drift", "critical"): 2}  # silenced alerts still fire

    clock.advance(600)  # the silence ends: the group gains "age"
    engine.evaluate()
    outbox.deliver_due()
    assert [sorted(a.labels["feature"] for a in n.alerts) for n in ops.sent][1:] == [["age", "income"]]


def test_restart_keeps_pending_timer_and_told_groups(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    engine, outbox = build(db, DRIFT, values, clock, {"ops": ops})
    values.set("drift_score", 0.5, model="fraud", feature="age")
    engine.evaluate()
    clock.advance(200)

    engine, outbox = build(db, DRIFT, values, clock, {"ops": ops})  # a new process over the same database
    values.set("drift_score", 0.7, model="fraud", feature="age")
    engine.evaluate()
    assert [s for _, _, s in states(db)] == ["pending"]
    clock.advance(100)  # 300 s since it first held, across the restart
    engine.evaluate()
    outbox.deliver_due()
    assert [s for _, _, s in states(db)] == ["firing"]
    assert len(ops.sent) == 1

    engine, outbox = build(db, DRIFT, values, clock, {"ops": ops})
    clock.advance(60)
    engine.evaluate()
    outbox.deliver_due()
    assert len(ops.sent) == 1  # firing and already told: no second notification after the restart
    assert engine.firing_counts() == {("Drift", "critical"): 1}


def test_increase_over_window_across_counter_reset(db: Engine, values: Values, clock: Clock) -> None:
    ops = MemoryNotifier("ops")
    config = {
        "default_rules": False,
        "rules": [
            {"name": "Rejections", "metric": "rejected_total", "op": ">=", "threshold": 5, "increase_over": "5m"}
            | {"summary": "$value"}
        ],
    }
    engine, outbox = build(db, config, values, clock, {"ops": ops})
    values.set("rejected_total", 100, reason="bad")  # seen at the first evaluation: the baseline
    engine.evaluate()
    clock.advance(60)
    values.set("rejected_total", 103, reason="bad")
    engine.evaluate()
    assert engine.firing_counts() == {("Rejections", "warning"): 0}
    clock.advance(60)
    values.set("rejected_total", 2, reason="bad")  # the counter restarted from 0: +2
    engine.evaluate()
    outbox.deliver_due()
    assert engine.firing_counts() == {("Rejections", "warning"): 1}
    assert ops.sent[0].alerts[0].annotations["summary"] == "5"
    clock.advance(400)  # the increases leave the window
    engine.evaluate()
    assert engine.firing_counts() == {("Rejections", "warning"): 0}

    values.set("rejected_total", 7, reason="new")  # appears after the first evaluation: counts from 0
    engine.evaluate()
    assert engine.firing_counts() == {("Rejections", "warning"): 1}
