"""What every benchmark shares: options, reports, timing, tables, machine facts and result files."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "Options",
    "Report",
    "machine_info",
    "median",
    "percentile",
    "pin_current_thread",
    "sig",
    "table",
    "time_calls",
    "write_result",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Packages whose versions are recorded with every result.
_PACKAGES = ("numpy", "pyarrow", "protobuf", "fastapi", "starlette", "uvicorn", "sqlalchemy", "scipy")


@dataclass(frozen=True, slots=True)
class Options:
    """How a benchmark run was asked for."""

    quick: bool = False


@dataclass(slots=True)
class Report:
    """What a benchmark hands back: JSON-able config and results, and readable text."""

    config: dict[str, Any]
    results: dict[str, Any]
    text: list[str] = field(default_factory=list)


def time_calls(fn: Callable[[], object], repeats: int, *, warmup: int = 1) -> list[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0-100); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def sig(value: float | None, digits: int = 4) -> float | None:
    """Round to ``digits`` significant figures so result files diff quietly; NaN/inf become None."""
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> list[str]:
    """A plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in cells[1:])
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def pin_current_thread(cores: set[int] | None) -> bool:
    """Restrict the calling thread (and threads it starts later) to ``cores``; False if not possible."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(0, cores)
    except OSError:
        return False
    return True


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Facts that make a figure comparable: CPU, cores, interpreter and library versions, time."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        from google.protobuf.internal import api_implementation

        protobuf_impl = str(api_implementation.Type())
    except ImportError:
        protobuf_impl = None
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "timestamp": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "protobuf_implementation": protobuf_impl,
        "packages": versions,
    }


def write_result(name: str, options: Options, report: Report, directory: Path = RESULTS_DIR) -> Path:
    """Write ``<name>.json`` (``<name>.quick.json`` for quick runs) atomically; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"{name}.quick.json" if options.quick else f"{name}.json")
    document = {
        "benchmark": name,
        "quick": options.quick,
        "machine": machine_info(),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "config": report.config,
        "results": report.results,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path
