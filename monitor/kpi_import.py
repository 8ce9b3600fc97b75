"""``driftline kpi import FILE``: KPI history from CSV or Parquet, sent to the server in batches.

Two layouts are read (the header decides):

* **long** -- columns ``timestamp,kpi,value``: one KPI value per row;
* **wide** -- ``timestamp`` and one column per KPI: ``timestamp,conversion_rate,revenue``; an
  empty cell means no value for that KPI at that time.

``timestamp`` is Unix seconds or an ISO 8601 date-time (``2026-11-30T08:00:00Z``; without a
zone it is UTC). Values must be finite numbers. The whole file is checked before anything is
sent; the first problem is reported with its row (and for CSV its line) and column, e.g.
``line 7 (row 6), column 'value': 'n/a' is not a number``.

Rows are sent as OTLP/HTTP metrics (``POST /v1/metrics``, OTLP/JSON): gauge points named
``driftline.kpi`` with the attribute ``kpi=<name>``, ``batch_size`` points per request. From
there they take the path of every KPI value: the ingest log, the time series store,
``driftline_kpi_value`` and anomaly scores. Requests are retried on 429, 502, 503, 504 and
transport errors with exponential backoff and jitter, honouring ``Retry-After``; a retried
request is stored once (the ingest log recognises its digest).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from monitor.client import RETRYABLE_STATUSES, _retry_after
from monitor.kpi_config import KPI_SERIES, KpiSpec

__all__ = ["KpiImportError", "KpiRows", "read_kpi_file", "send_kpis"]

_LONG = ("timestamp", "kpi", "value")


class KpiImportError(ValueError):
    """Bad input, naming the row and column (``row`` is 1-based among data rows, or ``None``)."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass(frozen=True, slots=True)
class KpiRows:
    """KPI values read from a file, one entry per value."""

    kpis: npt.NDArray[np.object_]
    timestamps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.values.shape[0])


def read_kpi_file(path: Path) -> KpiRows:
    """Read and check a long or wide KPI file (see the module docstring)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            import csv as text_csv

            from pyarrow import csv

            delimiter = "\t" if suffix == ".tsv" else ","
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(text_csv.reader(handle, delimiter=delimiter), [])
            # Every column as text: a stray word must be reported by row, not fail the whole read.
            convert = csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
            table = csv.read_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter), convert_options=convert)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            raise KpiImportError(f"{path.name}: use a .csv, .tsv or .parquet file")
    except (OSError, pa.ArrowInvalid) as exc:
        raise KpiImportError(f"cannot read {path.name}: {' '.join(str(exc).split())}") from None
    where = _Where(csv=suffix != ".parquet")
    columns = table.column_names
    if "timestamp" not in columns:
        raise KpiImportError(f"{path.name} has no 'timestamp' column (columns: {', '.join(columns)})", column="timestamp")
    if len(set(columns)) != len(columns):
        raise KpiImportError(f"{path.name}: column names repeat: {', '.join(columns)}")
    stamps = _timestamps(table.column("timestamp"), where)
    if set(columns) == set(_LONG):
        kpis = np.asarray(table.column("kpi").to_pylist(), dtype=object)
        values = _numbers(table.column("value"), "value", where, allow_null=False)
        for row, kpi in enumerate(kpis.tolist()):
            _check_name(kpi, row, "kpi", where)
        return KpiRows(kpis, stamps, values)
    if "kpi" in columns or "value" in columns:
        raise KpiImportError(
            f"{path.name}: a long file has exactly the columns timestamp,kpi,value; a wide one timestamp and one "
            f"column per KPI (got {', '.join(columns)})"
        )
    if len(columns) < 2:
        raise KpiImportError(f"{path.name} has no KPI columns besides 'timestamp'")
    parts: list[KpiRows] = []
    for column in columns:
        if column == "timestamp":
            continue
        _check_name(column, None, column, where)
        values = _numbers(table.column(column), column, where, allow_null=True)
        present = ~np.isnan(values)
        parts.append(KpiRows(np.full(int(present.sum()), column, dtype=object), stamps[present], values[present]))
    return KpiRows(
        np.concatenate([p.kpis for p in parts]),
        np.concatenate([p.timestamps for p in parts]),
        np.concatenate([p.values for p in parts]),
    )


@dataclass(frozen=True, slots=True)
class _Where:
    csv: bool

    def __call__(self, row: int, column: str) -> str:
        place = f"line {row + 2} (row {row + 1})" if self.csv else f"row {row + 1}"
        return f"{place}, column {column!r}"


def _check_name(name: object, row: int | None, column: str, where: _Where) -> None:
    try:
        KpiSpec(name=name, metric="-")
    except ValueError:
        place = f"{where(row, column)}: " if row is not None else f"column {column!r}: "
        raise KpiImportError(
            f"{place}KPI name {name!r} must start with a letter or '_' and hold at most 100 letters, digits, "
            "'_', '.', ':' or '-'",
            None if row is None else row + 1,
            column,
        ) from None


def _numbers(array: pa.ChunkedArray, column: str, where: _Where, *, allow_null: bool) -> npt.NDArray[np.float64]:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = pc.utf8_trim_whitespace(array)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        try:
            array = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            for row, item in enumerate(text.to_pylist()):
                if item is not None and not _is_number(item):
                    raise KpiImportError(f"{where(row, column)}: {item!r} is not a number", row + 1, column) from None
            raise
    elif not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        raise KpiImportError(f"column {column!r} must hold numbers, not {array.type}", column=column)
    values = np.array(array.to_numpy(zero_copy_only=False), dtype=np.float64)  # a writable copy
    nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if not allow_null and nulls.any():
        row = int(np.flatnonzero(nulls)[0])
        raise KpiImportError(f"{where(row, column)}: the value is missing", row + 1, column)
    bad = ~np.isfinite(values) & ~nulls
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise KpiImportError(f"{where(row, column)}: {values[row]} is not a finite number", row + 1, column)
    values[nulls] = np.nan
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _timestamps(array: pa.ChunkedArray, where: _Where) -> npt.NDArray[np.float64]:
    if pa.types.is_timestamp(array.type):
        seconds = pc.divide(pc.cast(pc.cast(array, pa.timestamp("us")), pa.int64()), 1e6)
        stamps = np.asarray(seconds.to_numpy(zero_copy_only=False), dtype=np.float64)
        nulls = np.isnan(stamps)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        stamps = _timestamps_text(array, where)
        nulls = np.zeros(len(stamps), dtype=bool)
    elif pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        stamps = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
        nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    else:
        raise KpiImportError(f"column 'timestamp' must hold Unix seconds or ISO 8601 date-times, not {array.type}")
    bad = nulls | ~np.isfinite(stamps) | (stamps <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise KpiImportError(
            f"{where(row, 'timestamp')}: a timestamp must be positive Unix seconds or an ISO 8601 date-time",
            row + 1,
            "timestamp",
        )
    return stamps


def _timestamps_text(array: pa.ChunkedArray, where: _Where) -> npt.NDArray[np.float64]:
    """Unix seconds or ISO 8601 text, cast by Arrow as a whole column; row by row only to name a bad one."""
    text = pc.utf8_trim_whitespace(array)
    for target in (pa.float64(), pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
        try:
            cast = pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if target != pa.float64():
            cast = pc.divide(pc.cast(cast, pa.int64()), 1e6)
        return np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
    # Mixed forms: one value at a time (slower), naming the first row that is neither.
    stamps = np.empty(len(text))
    for row, item in enumerate(text.to_pylist()):
        stamps[row] = _timestamp_one(item, row, where)
    return stamps


def _timestamp_one(item: str | None, row: int, where: _Where) -> float:
    if item is not None and _is_number(item):
        return float(item)
    for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
        try:
            return int(pc.cast(pa.scalar(item, pa.string()), target).cast(pa.int64()).as_py()) / 1e6
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            continue
    raise KpiImportError(
        f"{where(row, 'timestamp')}: {item!r} is neither Unix seconds nor an ISO 8601 date-time",
        row + 1,
        "timestamp",
    )


def _requests(rows: KpiRows, batch_size: int) -> Iterator[tuple[int, bytes]]:
    """``(points, OTLP/JSON body)`` per request."""
    for begin in range(0, len(rows), batch_size):
        end = min(begin + batch_size, len(rows))
        nanos = np.round(rows.timestamps[begin:end] * 1e9).astype(np.int64).tolist()
        points = [
            {"timeUnixNano": str(t), "asDouble": v, "attributes": [{"key": "kpi", "value": {"stringValue": k}}]}
            for t, v, k in zip(nanos, rows.values[begin:end].tolist(), rows.kpis[begin:end].tolist(), strict=True)
        ]
        metric = {"name": KPI_SERIES, "gauge": {"dataPoints": points}}
        request = {"resourceMetrics": [{"scopeMetrics": [{"scope": {"name": "driftline.kpi_import"}, "metrics": [metric]}]}]}
        yield end - begin, json.dumps(request, separators=(",", ":")).encode()


def send_kpis(
    rows: KpiRows,
    api: str,
    *,
    token: str | None = None,
    batch_size: int = 5000,
    deadline: float = 60.0,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    jitter: float = 0.2,
    on_sent: Callable[[int], object] = lambda _n: None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST the rows as OTLP metrics in batches; returns the points the server accepted.

    Raises ``RuntimeError`` naming the status and reason when a batch is refused or its
    retries run past ``deadline`` seconds.
    """
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    accepted = 0
    pause = threading.Event()
    jitters = random.Random()  # noqa: S311 - jitter, not cryptography
    with httpx.Client(headers=headers, timeout=30.0, transport=transport) as client:
        for count, body in _requests(rows, batch_size):
            end = time.monotonic() + deadline
            attempt = 0
            while True:
                retry_after: float | None = None
                try:
                    response = client.post(f"{api.rstrip('/')}/v1/metrics", content=body)
                except httpx.TransportError as exc:
                    error = f"cannot reach {api}: {type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 200:
                        partial = response.json().get("partialSuccess") or {}
                        rejected = int(partial.get("rejectedDataPoints", 0))
                        if rejected:
                            message = partial.get("errorMessage", "")
                            raise RuntimeError(f"the server rejected {rejected} of {count} points: {message}")
                        accepted += count
                        on_sent(count)
                        break
                    error = f"server answered {response.status_code}: {response.text[:300]}"
                    if response.status_code not in RETRYABLE_STATUSES:
                        raise RuntimeError(error)
                    retry_after = _retry_after(response.headers.get("retry-after"))
                delay = retry_after if retry_after is not None else min(backoff * 2**attempt, max_backoff)
                delay *= 1.0 if retry_after is not None else jitters.uniform(1 - jitter, 1 + jitter)
                if math.isnan(delay) or time.monotonic() + delay >= end:
                    raise RuntimeError(f"{error} (gave up after {attempt + 1} attempts in {deadline:g} s)")
                pause.wait(delay)
                attempt += 1
    return accepted
