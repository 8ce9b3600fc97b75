"""``driftline kpi import``: CSV and Parquet, long and wide, into the real server; bad rows named."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.cli import main
from monitor.kpi_import import KpiImportError, read_kpi_file, send_kpis
from monitor.settings import Settings
from support import ServerThread, scrape, wait_caught_up

T0 = (int(time.time()) // 86400 - 1) * 86400  # yesterday, midnight UTC


@pytest.fixture
def server(sqlite_url: str):  # type: ignore[no-untyped-def]
    with ServerThread(Settings(db_url=sqlite_url, port=0)) as running:
        yield running


def kpi_series(url: str, kpi: str) -> list[tuple[float, float]]:
    params = {"name": "driftline.kpi", "label": f"kpi:{kpi}", "start": T0 - 60, "end": T0 + 86400}
    found = httpx.get(f"{url}/api/v1/series", params=params).json()["series"]
    return [(p["t"], p["last"]) for p in found[0]["points"]] if found else []


def test_long_csv_is_imported_with_iso_and_unix_timestamps(server: ServerThread, tmp_path: Path) -> None:
    iso = dt.datetime.fromtimestamp(T0, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "history.csv"
    path.write_text(
        f"timestamp,kpi,value\n{iso},conversion_rate,0.031\n{T0 + 60},conversion_rate,0.029\n{T0 + 60},revenue,1250.5\n"
    )
    assert main(["kpi", "import", str(path), "--api", server.url, "--batch-size", "2", "--quiet"]) == 0
    wait_caught_up(server.url)
    assert kpi_series(server.url, "conversion_rate") == [(T0, 0.031), (T0 + 60, 0.029)]
    assert kpi_series(server.url, "revenue") == [(T0 + 60, 1250.5)]
    metrics = scrape(server.url)
    assert metrics['driftline_kpi_value{kpi="conversion_rate"}'] == 0.029
    assert metrics['driftline_ingest_records_total{signal="metrics"}'] == 3


def test_wide_parquet_skips_empty_cells(server: ServerThread, tmp_path: Path) -> None:
    stamps = pa.array([T0 * 1_000_000 + i * 60_000_000 for i in range(3)], type=pa.timestamp("us", tz="UTC"))
    table = pa.table({"timestamp": stamps, "conversion_rate": [0.03, None, 0.05], "orders": pa.array([10, 12, 9])})
    path = tmp_path / "history.parquet"
    pq.write_table(table, path)
    assert main(["kpi", "import", str(path), "--api", server.url, "--quiet"]) == 0
    wait_caught_up(server.url)
    assert kpi_series(server.url, "conversion_rate") == [(T0, 0.03), (T0 + 120, 0.05)]
    assert kpi_series(server.url, "orders") == [(T0, 10.0), (T0 + 60, 12.0), (T0 + 120, 9.0)]


def test_long_parquet_reads_like_csv(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({"timestamp": [1.7e9, 1.7e9 + 60], "kpi": ["a", "b"], "value": [1.0, 2.0]}), path)
    rows = read_kpi_file(path)
    assert (rows.kpis.tolist(), rows.timestamps.tolist(), rows.values.tolist()) == (["a", "b"], [1.7e9, 1.7e9 + 60], [1.0, 2.0])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.csv",
            "timestamp,kpi,value\n1700000000,conv,0.1\n1700000060,conv,n/a\n",
            "line 3 (row 2), column 'value': 'n/a' is not a number",
        ),
        ("bad.csv", "timestamp,kpi,value\n1700000000,conv,\n", "line 2 (row 1), column 'value': the value is missing"),
        ("bad.csv", "timestamp,kpi,value\nyesterday,conv,1\n", "line 2 (row 1), column 'timestamp': 'yesterday' is neither"),
        ("bad.csv", "timestamp,kpi,value\n1700000000,bad name,1\n", "line 2 (row 1), column 'kpi': KPI name 'bad name'"),
        ("bad.csv", "timestamp,conv\n1700000000,inf\n", "line 2 (row 1), column 'conv': inf is not a finite number"),
        ("bad.csv", "time,conv\n1700000000,1\n", "has no 'timestamp' column"),
        ("bad.csv", "timestamp,kpi,value,extra\n1700000000,a,1,2\n", "a long file has exactly the columns"),
        ("bad.json", "{}", "use a .csv, .tsv or .parquet file"),
        ("missing.csv", None, "cannot read missing.csv"),
    ],
)
def test_bad_input_exits_2_naming_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["kpi", "import", str(path), "--api", "http://127.0.0.1:9", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_bad_parquet_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"timestamp": [1.7e9, np.nan], "conv": [1.0, 2.0]}), path)
    with pytest.raises(KpiImportError, match=r"row 2, column 'timestamp'") as caught:
        read_kpi_file(path)
    assert (caught.value.row, caught.value.column) == (2, "timestamp")


def test_send_retries_overload_and_stops_on_refusal(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("timestamp,conv\n1700000000,1\n1700000060,2\n1700000120,3\n")
    rows = read_kpi_file(path)
    answers = iter([httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(200, json={})] * 2)
    seen: list[int] = []

    def overloaded_once_per_batch(request: httpx.Request) -> httpx.Response:
        seen.append(len(request.content))
        return next(answers)

    sent = send_kpis(rows, "http://driftline", batch_size=2, transport=httpx.MockTransport(overloaded_once_per_batch))
    assert sent == 3
    assert len(seen) == 4  # each batch sent twice
    assert seen[0] == seen[1]  # with the same body

    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="missing bearer token")

    with pytest.raises(RuntimeError, match="server answered 401: missing bearer token"):
        send_kpis(rows, "http://driftline", transport=httpx.MockTransport(refuse))

    def always_busy(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(RuntimeError, match="gave up after"):
        send_kpis(rows, "http://driftline", deadline=0.3, backoff=0.05, transport=httpx.MockTransport(always_busy))
