"""Fixtures for the alert tests (registered by tests/conftest.py): a settable clock, seeded values, a migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_support import Clock, Receiver, Values, require_webhook_notifier
from sqlalchemy import Engine

from monitor.store import make_engine, migrate


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def values() -> Values:
    return Values()


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver (skips until the webhook notifier exists)."""
    require_webhook_notifier()
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()
