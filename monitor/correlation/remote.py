"""The engine's inputs read over the HTTP API (``driftline correlate --api``), and time arguments."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx

from monitor.correlation.align import make_grid
from monitor.correlation.store import KPI_SERIES, Inputs, series_inputs

__all__ = ["DEFAULT_SERIES", "fetch_inputs", "parse_when"]

# Model-side series read by default over the API: the model's own metrics and GPU gauges
# (cumulative counters such as hw.energy are left out: their level says nothing by itself).
DEFAULT_SERIES = (
    "driftline.model.quality",
    "driftline.model.predictions",
    "driftline.model.latency",
    "driftline.model.score",
    "hw.gpu.utilization",
    "hw.gpu.memory.utilization",
    "hw.gpu.memory.usage",
    "hw.power",
    "hw.temperature",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float) -> float:
    """Unix seconds from ``7d`` / ``12h`` / ``90m`` (that long before ``now``), unix seconds, or ISO 8601.

    Naive ISO times are read as UTC.

    Examples
    --------
    >>> parse_when("2h", 10_000.0), parse_when("1700000000", 0.0), parse_when("2024-01-01T00:00:00", 0.0)
    (2800.0, 1700000000.0, 1704067200.0)
    """
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return value
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (7d, 12h, 90m), unix seconds or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def fetch_inputs(
    api: str,
    since: float,
    until: float,
    *,
    step: float,
    names: Sequence[str] = DEFAULT_SERIES,
    token: str | None = None,
    client: httpx.Client | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Inputs:
    """KPIs (``driftline.kpi``) and the named model-side series from ``GET /api/v1/series``, every page."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = client or httpx.Client(timeout=60)
    grid = make_grid(since, until, step)
    all_names, all_labels, times, means, counts = [], [], [], [], []
    wanted = [KPI_SERIES, *names]
    try:
        for done, name in enumerate(wanted, start=1):
            offset = 0
            while True:
                params: dict[str, str | int | float] = {"name": name, "start": since, "end": until, "limit": 50, "offset": offset}
                response = http.get(f"{api}/api/v1/series", params=params, headers=headers)
                if response.status_code != 200:
                    raise ValueError(f"GET /api/v1/series?name={name} answered {response.status_code}: {response.text[:200]}")
                page = response.json()
                for series in page["series"]:
                    labels = json.dumps(series["labels"], sort_keys=True, separators=(",", ":"))
                    for point in series["points"]:
                        all_names.append(name)
                        all_labels.append(labels)
                        times.append(float(point["t"]))
                        means.append(float(point["mean"]))
                        counts.append(float(point["count"]))
                offset += len(page["series"])
                if not page["series"] or offset >= page["total"]:
                    break
            if progress is not None:
                progress("reading series", done, len(wanted))
    finally:
        if client is None:
            http.close()
    model_side, kpis = series_inputs(grid, all_names, all_labels, times, means, counts)
    return Inputs(grid, model_side, kpis)
