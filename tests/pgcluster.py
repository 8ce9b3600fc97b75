"""A PostgreSQL 15 cluster of a test's own, which the test may stop and start."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from support import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    """initdb'd on a loopback port; :meth:`stop` and :meth:`start` wrap ``pg_ctl``."""

    def __init__(self) -> None:
        # pytest's own temp root is private to root; the postgres user needs its own folder.
        self.base = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
        self.base.chmod(0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.port = free_port()
        self.base_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/postgres"
        self._as_postgres(f"{PG_BIN}/initdb -D {self.data} -U postgres -A trust -E UTF8 --no-sync")

    def _as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -l {self.base}/log -w -o '{options}' start")

    def stop(self) -> None:
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m fast -w stop")

    def remove(self) -> None:
        subprocess.run(["su", "postgres", "-c", f"{PG_BIN}/pg_ctl -D {self.data} -m immediate stop"], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
