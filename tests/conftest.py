"""Fixtures for real components: databases (SQLite, throwaway PostgreSQL 15) and servers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, require_binary

pytest_plugins = ["alert_fixtures"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on a loopback port; yields its base URL."""
    require_binary(PG_BIN / "initdb", "PostgreSQL 15")
    # pytest's own temp root is private to root; the postgres user needs its own folder.
    base = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
    base.chmod(0o755)
    data = base / "data"
    port = free_port()
    shutil.chown(base, "postgres", "postgres")

    def as_postgres(command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True, timeout=120)

    as_postgres(f"{PG_BIN}/initdb -D {data} -U postgres -A trust -E UTF8 --no-sync")
    as_postgres(
        f"{PG_BIN}/pg_ctl -D {data} -l {base}/log -w -o '-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off' start"
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        as_postgres(f"{PG_BIN}/pg_ctl -D {data} -m fast stop")
        shutil.rmtree(base, ignore_errors=True)


def fresh_postgres_database(base_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    port = base_url.rsplit(":", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftline.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'driftline.db'}"
