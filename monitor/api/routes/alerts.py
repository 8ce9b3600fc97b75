"""Alerts: history, silences, the rollback audit and the delivery outbox."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Select, func, select

from alerts.matchers import matches_all, parse_duration, parse_matchers
from alerts.silences import Silence, active_silences, add_silence, expire_silence, list_silences
from monitor.api.deps import AdminAuth, ReadAuth, RuntimeDep
from monitor.api.routes.series import LabelFilters, _parse_labels
from monitor.store.tables import action_audit, alerts, outbox

router = APIRouter(prefix="/api/v1", tags=["alerts"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]  # bounded: SQL integers are 64-bit
Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    limit: int
    offset: int


class AlertOut(BaseModel):
    id: int
    fingerprint: str
    alertname: str
    severity: str
    state: Literal["pending", "firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    active_since: float = Field(description="When the condition started to hold (unix seconds).")
    starts_at: float | None = Field(description="When it started firing.")
    ends_at: float | None = Field(description="When it resolved.")
    silenced: bool = Field(description="A silence covers it now (pending and firing alerts only).")


class SilenceIn(BaseModel):
    """A new silence: ``ends_at`` or ``duration`` (e.g. "2h") sets its expiry."""

    matchers: list[str] = Field(min_length=1, max_length=64, description="Label matchers, e.g. ['alertname=\"FeatureDrift\"'].")
    starts_at: float | None = Field(None, description="Unix seconds (default: now).")
    ends_at: float | None = Field(None, description="Unix seconds.")
    duration: str | None = Field(None, max_length=32, description="Instead of ends_at: 30m, 2h, 1d …")
    created_by: str = Field(min_length=1, max_length=128)
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _one_expiry(self) -> SilenceIn:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at and duration")
        return self


class SilenceOut(BaseModel):
    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    active: bool

    @staticmethod
    def of(silence: Silence, now: float) -> SilenceOut:
        return SilenceOut(
            id=silence.id,
            matchers=[str(m) for m in silence.matchers],
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=silence.created_at,
            active=silence.active(now),
        )


class ActionOut(BaseModel):
    id: int
    policy: str
    action: str = Field(description="The action's type.")
    scope: str = Field(description="The cooldown scope (values of the policy's scope labels).")
    decision: Literal["run", "dry_run", "cooldown", "rate_limited"]
    trigger: str
    alertname: str
    fingerprint: str
    severity: str
    labels: dict[str, str]
    value: float | None
    result: Literal["queued", "ok", "failed", "skipped"]
    detail: str
    outbox_id: str | None
    created_at: float
    updated_at: float


class OutboxEntryOut(BaseModel):
    id: str = Field(description="The idempotency key (webhook-id), the same on every attempt.")
    kind: Literal["notification", "action"]
    target: str = Field(description="Receiver or policy name.")
    group_key: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: float
    next_attempt_at: float
    deadline: float
    finished_at: float | None
    last_status: int | None
    last_error: str


def _rows(runtime: RuntimeDep, query: Select[Any], limit: int | None, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of ``query`` (all rows when ``limit`` is None) and the total count."""
    with runtime.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = [dict(row) for row in connection.execute(query.limit(limit).offset(offset)).mappings()]
    return rows, total


@router.get("/alerts", dependencies=[ReadAuth])
def get_alerts(
    runtime: RuntimeDep,
    state: Annotated[Literal["pending", "firing", "resolved"] | None, Query(description="Only alerts in this state.")] = None,
    alertname: Annotated[str | None, Query(max_length=128)] = None,
    severity: Annotated[Literal["critical", "error", "warning", "info"] | None, Query()] = None,
    label: LabelFilters = [],  # noqa: B006 - FastAPI copies query defaults
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AlertOut]:
    """Alert history, newest first: pending and firing alerts and resolved incidents, filtered."""
    wanted = parse_matchers(_parse_labels(label))
    query = select(alerts).order_by(alerts.c.active_since.desc(), alerts.c.id.desc())
    if state is not None:
        query = query.where(alerts.c.state == state)
    if alertname is not None:
        query = query.where(alerts.c.rule == alertname)
    if severity is not None:
        query = query.where(alerts.c.severity == severity)
    if wanted:  # labels are a JSON column: filter them here, then page
        rows, _ = _rows(runtime, query, None, 0)
        rows = [row for row in rows if matches_all(wanted, json.loads(row["labels"]))]
        total, rows = len(rows), rows[offset : offset + limit]
    else:
        rows, total = _rows(runtime, query, limit, offset)
    now = time.time()
    with runtime.engine.connect() as connection:
        silences = active_silences(connection, now)
    items = []
    for row in rows:
        labels = json.loads(row["labels"])
        silenced = row["state"] != "resolved" and any(s.silences(labels, now) for s in silences)
        items.append(
            AlertOut(
                **{
                    key: row[key]
                    for key in ("id", "fingerprint", "severity", "state", "value", "active_since", "starts_at", "ends_at")
                },
                alertname=row["rule"],
                labels=labels,
                annotations=json.loads(row["annotations"]),
                silenced=silenced,
            )
        )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/silences", status_code=201, dependencies=[AdminAuth])
def post_silence(runtime: RuntimeDep, body: SilenceIn) -> SilenceOut:
    """Silence alerts matching every matcher until ends_at (or for duration)."""
    now = time.time()
    starts_at = body.starts_at if body.starts_at is not None else now
    try:
        ends_at = body.ends_at if body.ends_at is not None else starts_at + parse_duration(body.duration or "")
        with runtime.engine.begin() as connection:
            silence = add_silence(
                connection,
                body.matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=body.created_by,
                comment=body.comment,
                now=now,
            )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return SilenceOut.of(silence, now)


@router.get("/silences", dependencies=[ReadAuth])
def get_silences(
    runtime: RuntimeDep,
    include_expired: Annotated[bool, Query(description="Also list silences that have ended.")] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SilenceOut]:
    """Silences, newest first; active and future ones unless include_expired."""
    now = time.time()
    with runtime.engine.connect() as connection:
        found, total = list_silences(connection, now=now, include_expired=include_expired, limit=limit, offset=offset)
    return Page(items=[SilenceOut.of(s, now) for s in found], total=total, limit=limit, offset=offset)


@router.delete("/silences/{silence_id}", status_code=204, dependencies=[AdminAuth])
def delete_silence(runtime: RuntimeDep, silence_id: str) -> Response:
    """End a silence now."""
    with runtime.engine.begin() as connection:
        if not expire_silence(connection, silence_id, time.time()):
            raise HTTPException(404, f"no active silence {silence_id!r}")
    return Response(status_code=204)


@router.get("/actions", dependencies=[ReadAuth])
def get_actions(
    runtime: RuntimeDep,
    policy: Annotated[str | None, Query(max_length=128)] = None,
    decision: Annotated[Literal["run", "dry_run", "cooldown", "rate_limited"] | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ActionOut]:
    """Rollback audit, newest first: per decision what fired, what ran (or why not) and its result."""
    query = select(action_audit).order_by(action_audit.c.id.desc())
    if policy is not None:
        query = query.where(action_audit.c.policy == policy)
    if decision is not None:
        query = query.where(action_audit.c.decision == decision)
    rows, total = _rows(runtime, query, limit, offset)
    items = [ActionOut(**{**row, "labels": json.loads(row["labels"])}) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/outbox", dependencies=[ReadAuth])
def get_outbox(
    runtime: RuntimeDep,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    kind: Annotated[Literal["notification", "action"] | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[OutboxEntryOut]:
    """Notifications and actions with their delivery state, attempts and last error, newest first."""
    query = select(*[c for c in outbox.c if c.name not in ("payload", "audit_id")])
    query = query.order_by(outbox.c.created_at.desc(), outbox.c.id)
    if state is not None:
        query = query.where(outbox.c.state == state)
    if kind is not None:
        query = query.where(outbox.c.kind == kind)
    rows, total = _rows(runtime, query, limit, offset)
    return Page(items=[OutboxEntryOut(**row) for row in rows], total=total, limit=limit, offset=offset)
