"""Disk full on the SQLite path: a clear 503, no corruption, and recovery once space returns.

The disk is "filled" with SQLite's own ``PRAGMA max_page_count`` on every connection the server
checks out, so the database file cannot grow, exactly as when the file system has no room left.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from senders import RetryingSender, all_statuses
from sqlalchemy import event

from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up, wait_until

LANES = 2
UNLIMITED = 1_073_741_823  # SQLite's default max_page_count


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def page_count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA page_count").fetchone()[0])


def test_disk_full_answers_503_keeps_the_database_intact_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "driftline.db"
    with ServerThread(Settings(db_url=f"sqlite:///{path}", port=0)) as server:
        limit = [UNLIMITED]

        def cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit[0]}")

        event.listen(server.runtime.engine, "checkout", cap)
        senders = [RetryingSender.stream(server.url, "full", lane) for lane in range(LANES)]
        for sender in senders:
            sender.start()
        wait_until(lambda: all(s.acknowledged >= 200 for s in senders), timeout=60)

        limit[0] = page_count(path) + 4  # a few pages of room left, then the disk is full
        wait_until(lambda: sum(s.statuses[503] for s in senders) >= 10, timeout=60)
        refusals = {text for s in senders for text in s.refusals}
        assert refusals
        assert all(text.endswith("the ingest log is unavailable: the store is out of space") for text in refusals)
        assert integrity(path) == "ok"

        limit[0] = UNLIMITED  # space returns
        acknowledged = [s.acknowledged for s in senders]
        wait_until(lambda: all(s.acknowledged > a + 200 for s, a in zip(senders, acknowledged, strict=True)), timeout=60)
        for sender in senders:
            sender.finish()

        statuses = all_statuses(senders)
        assert set(statuses) <= {200, 503}, f"only 200 and 503 may be answered: {statuses}"
        wait_caught_up(server.url, timeout=60)
        total = sum(s.acknowledged for s in senders)
        metrics = scrape(server.url)
        assert metrics['driftline_model_predictions_total{model="full",version="v1"}'] == total
    assert integrity(path) == "ok"
