"""Rollback policies: one action per incident (cooldown), hourly limit, dry run, the audit trail."""

from __future__ import annotations

from typing import Any

from alert_support import Clock, Values, build
from sqlalchemy import Engine, select

from alerts.actions.memory import RecordingAction
from alerts.model import Result
from alerts.notifiers.memory import MemoryNotifier
from alerts.silences import add_silence
from monitor.store.tables import action_audit

RULE = {"name": "Drift", "metric": "drift_score", "op": ">", "threshold": 0.2, "severity": "critical"}


def config(**policy: Any) -> dict[str, Any]:
    return {
        "default_rules": False,
        "rules": [RULE],
        "policies": {"abort": {"matchers": ['severity="critical"'], "action": {"type": "record"}} | policy},
    }


def audit(db: Engine) -> list[tuple[str, str, str]]:
    with db.connect() as connection:
        rows = connection.execute(
            select(action_audit.c.decision, action_audit.c.result, action_audit.c.fingerprint).order_by(action_audit.c.id)
        )
        return [(d, r, f) for d, r, f in rows]


def flap(engine: Any, values: Values, clock: Clock, feature: str, times: int) -> None:
    for _ in range(times):
        values.set("drift_score", 0.5, model="fraud", feature=feature)
        engine.evaluate()
        clock.advance(60)
        values.set("drift_score", 0.0, model="fraud", feature=feature)
        engine.evaluate()
        clock.advance(60)


def test_cooldown_runs_one_action_per_incident(db: Engine, values: Values, clock: Clock) -> None:
    action = RecordingAction("abort")
    engine, outbox = build(db, config(cooldown="1h", scope=["model"]), values, clock, {}, {"abort": action})
    flap(engine, values, clock, "income", 3)  # fires, resolves, fires again… within the hour
    values.set("drift_score", 0.5, model="fraud", feature="age")  # another alert on the same model
    engine.evaluate()
    outbox.deliver_due()
    assert len(action.runs) == 1
    assert action.runs[0].labels["feature"] == "income"
    decisions = [(d, r) for d, r, _ in audit(db)]
    assert decisions == [("run", "ok"), ("cooldown", "skipped"), ("cooldown", "skipped"), ("cooldown", "skipped")]

    clock.advance(3600)  # the cooldown is over: the next incident acts again
    flap(engine, values, clock, "income", 1)
    outbox.deliver_due()
    assert len(action.runs) == 2


def test_max_per_hour_limits_actions_across_scopes(db: Engine, values: Values, clock: Clock) -> None:
    action = RecordingAction("abort")
    engine, outbox = build(db, config(cooldown=0, max_per_hour=2, scope=["model"]), values, clock, {}, {"abort": action})
    for model in ("a", "b", "c"):
        values.set("drift_score", 0.5, model=model, feature="x")
    engine.evaluate()
    outbox.deliver_due()
    assert len(action.runs) == 2
    assert sorted(d for d, _, _ in audit(db)) == ["rate_limited", "run", "run"]


def test_dry_run_records_but_does_not_run(db: Engine, values: Values, clock: Clock) -> None:
    action = RecordingAction("abort")
    engine, outbox = build(db, config(dry_run=True), values, clock, {}, {"abort": action})
    values.set("drift_score", 0.5, model="fraud", feature="income")
    engine.evaluate()
    outbox.deliver_due()
    assert action.runs == []
    assert [a.labels["feature"] for a in action.dry_runs] == ["income"]
    assert [(d, r) for d, r, _ in audit(db)] == [("dry_run", "ok")]
    assert outbox.counts() == {"pending": 0, "delivered": 0, "dead": 0}  # nothing queued to run


def test_unmatched_and_silenced_alerts_do_not_act(db: Engine, values: Values, clock: Clock) -> None:
    action = RecordingAction("abort")
    cfg = config()
    cfg["rules"] = [RULE, RULE | {"name": "Minor", "severity": "warning"}]
    engine, outbox = build(db, cfg, values, clock, {}, {"abort": action})
    with db.begin() as connection:
        add_silence(connection, ['model="held"'], starts_at=0, ends_at=clock.now + 60, created_by="t", comment="", now=0)
    values.set("drift_score", 0.5, model="held", feature="income")  # Drift (critical) but silenced; Minor unmatched
    engine.evaluate()
    outbox.deliver_due()
    assert action.runs == []
    assert audit(db) == []
    assert engine.firing_counts() == {("Drift", "critical"): 1, ("Minor", "warning"): 1}


def test_failed_action_retries_through_the_outbox_and_reports_its_result(db: Engine, values: Values, clock: Clock) -> None:
    class Flaky(RecordingAction):
        calls = 0

        def run(self, alert, *, dry_run=False):  # type: ignore[no-untyped-def]
            Flaky.calls += 1
            if Flaky.calls == 1:
                return Result(ok=False, retryable=True, status_code=503, retry_after=10.0)
            return super().run(alert, dry_run=dry_run)

    action = Flaky("abort")
    ops = MemoryNotifier("ops")
    engine, outbox = build(db, config(), values, clock, {"ops": ops}, {"abort": action})
    values.set("drift_score", 0.5, model="fraud", feature="income")
    engine.evaluate()
    outbox.deliver_due()
    assert [(d, r) for d, r, _ in audit(db)] == [("run", "queued")]
    clock.advance(10)
    outbox.deliver_due()
    assert [(d, r) for d, r, _ in audit(db)] == [("run", "ok")]
    assert len(action.runs) == 1
    assert len(ops.sent) == 1  # the alert was notified as well
