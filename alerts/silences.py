"""Silences: label matchers with an expiry; a silenced alert is neither notified nor acted on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, func, select, update

from alerts.matchers import Matcher, matches_all, parse_matchers
from monitor.store.tables import silences

__all__ = ["Silence", "active_silences", "add_silence", "expire_silence", "list_silences"]


@dataclass(frozen=True, slots=True)
class Silence:
    """Alerts whose labels match every matcher are silenced from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def silences(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether this silence applies to an alert with ``labels`` at ``now``.

        >>> s = Silence("s1", parse_matchers(['alertname="FeatureDrift"']), 0.0, 60.0, "ops", "", 0.0)
        >>> s.silences({"alertname": "FeatureDrift"}, 30.0), s.silences({"alertname": "FeatureDrift"}, 60.0)
        (True, False)
        """
        return self.active(now) and matches_all(self.matchers, labels)


def add_silence(
    connection: Connection,
    matchers: Sequence[str],
    *,
    starts_at: float,
    ends_at: float,
    created_by: str,
    comment: str,
    now: float,
) -> Silence:
    """Store a silence (matchers are validated first; ``ValueError`` names the bad one)."""
    if not matchers:
        raise ValueError("matchers: a silence needs at least one matcher")
    if ends_at <= starts_at:
        raise ValueError(f"ends_at {ends_at} must be after starts_at {starts_at}")
    silence = Silence(f"sil_{uuid.uuid4().hex}", parse_matchers(matchers), starts_at, ends_at, created_by, comment, now)
    connection.execute(
        silences.insert().values(
            id=silence.id,
            matchers=json.dumps([str(m) for m in silence.matchers]),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            created_at=now,
        )
    )
    return silence


def expire_silence(connection: Connection, silence_id: str, now: float) -> bool:
    """End a silence now; False when there is no such silence or it had ended already."""
    result = connection.execute(update(silences).where(silences.c.id == silence_id, silences.c.ends_at > now).values(ends_at=now))
    return bool(result.rowcount)


def _from_row(row: RowMapping) -> Silence:
    return Silence(
        id=row["id"],
        matchers=parse_matchers(json.loads(row["matchers"])),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        created_at=row["created_at"],
    )


def active_silences(connection: Connection, now: float) -> list[Silence]:
    """Silences in force at ``now``."""
    query = select(silences).where(silences.c.starts_at <= now, silences.c.ends_at > now)
    return [_from_row(row) for row in connection.execute(query).mappings()]


def list_silences(
    connection: Connection, *, now: float, include_expired: bool, limit: int, offset: int
) -> tuple[list[Silence], int]:
    """A page of silences, newest first, with the total count."""
    query = select(silences)
    if not include_expired:
        query = query.where(silences.c.ends_at > now)
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = query.order_by(silences.c.created_at.desc(), silences.c.id).limit(limit).offset(offset)
    return [_from_row(row) for row in connection.execute(page).mappings()], total
