"""Fixtures of the reliability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgcluster import PG_BIN, Cluster

from support import require_binary


@pytest.fixture
def own_postgres() -> Iterator[Cluster]:
    """A running cluster that only this test uses (stopping the shared one would break others)."""
    require_binary(PG_BIN / "initdb", "PostgreSQL 15")
    cluster = Cluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()
