"""Score an online change-point detector on a directory in TCPD's layout (``driftline eval tcpd``).

The layout is the Turing Change Point Dataset's: one ``DATA_DIR/<name>.json`` file per series,
``{"name", "n_obs", "n_dim", "time": {...}, "series": [{"label", "type", "raw": [...]}, ...]}``,
where ``raw`` may hold ``null`` for a missing value, and an annotations JSON mapping each name to
``{annotator: [0-based change-point indices]}``. Each series is fed, value by value, to a fresh
detector (by default :class:`~detectors.changepoint.BOCPD`), so every change point is decided
online with no look-ahead; the reported points are judged with TCPDBench's F1 (margin 5) and
covering (:mod:`detectors.evaluation.tcpd`).

Averages are taken as the paper's tables take them: over the univariate series, leaving out
the ones TCPDBench leaves out (``quality_control_1..5`` and ``uk_coal_employ``), which is 14
series on the published data; the average over every series is reported beside it. A
multivariate series gets one detector per dimension; their reports are merged in the order they
were made, a report within 5 values of an earlier one counting as the same change.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.changepoint import BOCPD, ChangePointDetector
from detectors.evaluation.tcpd import covering, f_measure

__all__ = ["MARGIN", "PAPER_EXCLUDED", "TcpdReport", "TcpdSeries", "TcpdSeriesScore", "detect", "evaluate_tcpd", "load_tcpd"]

#: Series TCPDBench's tables leave out of the averages (van den Burg & Williams, 2020).
PAPER_EXCLUDED = frozenset({*(f"quality_control_{i}" for i in range(1, 6)), "uk_coal_employ"})
MARGIN = 5  # TCPDBench's F1 margin, also the radius within which per-dimension reports merge


@dataclass(frozen=True)
class TcpdSeries:
    """One series of a TCPD-layout directory: values (NaN where missing) and annotations."""

    name: str
    values: npt.NDArray[np.float64]  # shape (n_obs, n_dim)
    annotations: Mapping[str, tuple[int, ...]]

    @property
    def n_obs(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_dim(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True)
class TcpdSeriesScore:
    """The change points reported on one series and their scores."""

    name: str
    n_obs: int
    n_dim: int
    f1: float
    cover: float
    change_points: tuple[int, ...]
    in_average: bool  # counted in the paper-style average


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class TcpdReport:
    """TCPD scores of one detector on one corpus, per series and averaged."""

    detector: str
    params: Mapping[str, Any]
    series: tuple[TcpdSeriesScore, ...]
    seconds: float

    @property
    def averaged(self) -> tuple[TcpdSeriesScore, ...]:
        """The series of the paper-style average (all series if none qualifies)."""
        chosen = tuple(s for s in self.series if s.in_average)
        return chosen or self.series

    @property
    def f1(self) -> float:
        """Mean F1 over :attr:`averaged` (comparable to the published tables)."""
        return _mean([s.f1 for s in self.averaged])

    @property
    def cover(self) -> float:
        """Mean covering over :attr:`averaged`."""
        return _mean([s.cover for s in self.averaged])

    @property
    def f1_all(self) -> float:
        """Mean F1 over every series."""
        return _mean([s.f1 for s in self.series])

    @property
    def cover_all(self) -> float:
        """Mean covering over every series."""
        return _mean([s.cover for s in self.series])

    @property
    def points_per_second(self) -> float:
        """Values (all dimensions) per CPU second spent in the detectors."""
        values = sum(s.n_obs * s.n_dim for s in self.series)
        return values / self.seconds if self.seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` prints: the averages at the top level, then each series."""
        return {
            "f1": round(self.f1, 4),
            "cover": round(self.cover, 4),
            "f1_all": round(self.f1_all, 4),
            "cover_all": round(self.cover_all, 4),
            "averaged_over": [s.name for s in self.averaged],
            "series": {
                s.name: {
                    "f1": round(s.f1, 4),
                    "cover": round(s.cover, 4),
                    "change_points": list(s.change_points),
                    "n_obs": s.n_obs,
                    "n_dim": s.n_dim,
                }
                for s in self.series
            },
            "detector": self.detector,
            "params": dict(self.params),
            "points_per_second": round(self.points_per_second) if math.isfinite(self.points_per_second) else None,
        }

    def to_json(self) -> str:
        """:meth:`as_dict` as one line of JSON."""
        return json.dumps(self.as_dict())

    def format_table(self) -> str:
        """A plain-text table: one line per series, then the two averages."""
        lines = [
            f"TCPD scores of {self.detector} (online, no look-ahead) on {len(self.series)} series, "
            f"F1 with margin {MARGIN} ({self.points_per_second:,.0f} values/s)",
            f"{'series':<24}{'n_obs':>6}{'F1':>8}{'cover':>8}  change points",
        ]
        for s in self.series:
            mark = "" if s.in_average else " *"
            points = ", ".join(map(str, s.change_points)) or "-"
            lines.append(f"{s.name + mark:<24}{s.n_obs:>6}{s.f1:>8.3f}{s.cover:>8.3f}  {points}")
        lines.append(f"{f'average ({len(self.averaged)} series)':<30}{self.f1:>8.3f}{self.cover:>8.3f}")
        lines.append(f"{f'average (all {len(self.series)})':<30}{self.f1_all:>8.3f}{self.cover_all:>8.3f}")
        if len(self.averaged) < len(self.series):
            lines.append("* left out of the first average, as in TCPDBench's tables")
        return "\n".join(lines)


def _read_series(path: Path) -> npt.NDArray[np.float64]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    columns = data.get("series") if isinstance(data, dict) else None
    if not isinstance(columns, list) or not columns:
        raise ValueError(f"{path}: 'series' must be a non-empty list of {{label, type, raw}}")
    raws = [column.get("raw") if isinstance(column, dict) else None for column in columns]
    for d, raw in enumerate(raws):
        if not isinstance(raw, list) or len(raw) != len(raws[0] or []):
            raise ValueError(f"{path}: series[{d}].raw must be a list, as long as every other series' raw")
    values = np.full((len(raws[0] or []), len(raws)), np.nan)
    for d, raw in enumerate(raws):
        for i, v in enumerate(raw or []):
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isinf(v):
                raise ValueError(f"{path}: series[{d}].raw[{i}] must be a finite number or null, got {v!r}")
            values[i, d] = v
    n_obs = data.get("n_obs")
    if n_obs is not None and n_obs != values.shape[0]:
        raise ValueError(f"{path}: n_obs is {n_obs!r} but the series hold {values.shape[0]} values")
    if values.shape[0] == 0:
        raise ValueError(f"{path}: the series hold no values")
    return values


def _read_annotations(path: Path) -> dict[str, dict[str, tuple[int, ...]]]:
    with path.open() as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict):
        raise ValueError(f"annotations_json: must map each series name to {{annotator: [indices]}}, got {type(raw).__name__}")
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, by_annotator in raw.items():
        if not isinstance(by_annotator, dict) or not by_annotator:
            raise ValueError(f"annotations_json: {name!r} must map at least one annotator to a list of indices")
        out[name] = {}
        for annotator, points in by_annotator.items():
            if not isinstance(points, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in points):
                raise ValueError(f"annotations_json: {name!r} / {annotator!r} must be a list of integers, got {points!r}")
            out[name][str(annotator)] = tuple(points)
    return out


def load_tcpd(data_dir: Path | str, annotations_json: Path | str) -> list[TcpdSeries]:
    """Read every ``<name>.json`` under ``data_dir`` (but the annotations) with its annotations.

    Every series needs annotations and every annotated name a series: a mismatch is reported
    rather than silently scored.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data_dir: {root} is not a directory")
    annotations_path = Path(annotations_json)
    annotations = _read_annotations(annotations_path)
    # The annotations file may sit among the series; it is not one of them.
    paths = {p.stem: p for p in sorted(root.glob("*.json")) if not (annotations_path.exists() and p.samefile(annotations_path))}
    if not paths:
        raise ValueError(f"data_dir: no '<name>.json' series under {root}")
    unannotated, missing = sorted(set(paths) - set(annotations)), sorted(set(annotations) - set(paths))
    if unannotated or missing:
        raise ValueError(
            "annotations_json does not match data_dir: "
            f"series without annotations {unannotated[:5]}, annotations without series {missing[:5]}"
        )
    return [TcpdSeries(name, _read_series(path), annotations[name]) for name, path in paths.items()]


def detect(values: npt.NDArray[np.float64], factory: Callable[[], ChangePointDetector]) -> tuple[int, ...]:
    """Change points of an ``(n_obs, n_dim)`` array: one detector per dimension, run online.

    Reports are merged in the order they are made; one within :data:`MARGIN` values of an
    earlier one is the same change seen in another dimension.
    """
    if values.shape[1] == 1:
        detector = factory()
        detector.update_many(values[:, 0])
        return detector.change_points
    detectors = [factory() for _ in range(values.shape[1])]
    merged: list[int] = []
    for row in values.tolist():
        for detector, value in zip(detectors, row, strict=True):
            seen = len(detector.change_points)
            detector.update(value)
            for point in detector.change_points[seen:]:
                if all(abs(point - p) > MARGIN for p in merged):
                    merged.append(point)
    return tuple(merged)


def evaluate_tcpd(
    data_dir: Path | str,
    annotations_json: Path | str,
    detector_factory: Callable[[], ChangePointDetector] | None = None,
) -> TcpdReport:
    """Run a fresh detector online over every series and score it with TCPDBench's metrics.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, 200)
    >>> x[120:] += 3.0
    >>> raw = [None if i == 50 else round(v, 3) for i, v in enumerate(x)]  # one missing value
    >>> series = {"name": "demo", "n_obs": 200, "n_dim": 1, "series": [{"label": "V1", "type": "float", "raw": raw}]}
    >>> _ = (root / "demo.json").write_text(json.dumps(series))
    >>> _ = (root / "annotations.json").write_text(json.dumps({"demo": {"1": [120], "2": [121]}}))
    >>> report = evaluate_tcpd(root, root / "annotations.json")
    >>> report.series[0].change_points, round(report.f1, 3), round(report.cover, 3)
    ((120,), 1.0, 0.995)
    """
    factory: Callable[[], ChangePointDetector] = detector_factory or BOCPD
    template = factory()
    scores, seconds = [], 0.0
    for one in load_tcpd(data_dir, annotations_json):
        start = time.process_time()
        points = detect(one.values, factory)
        seconds += time.process_time() - start
        try:
            f1 = f_measure(one.annotations, points, margin=MARGIN)
            cover = covering(one.annotations, points, one.n_obs)
        except ValueError as error:
            raise ValueError(f"{one.name}: {error}") from None
        in_average = one.n_dim == 1 and one.name not in PAPER_EXCLUDED
        scores.append(TcpdSeriesScore(one.name, one.n_obs, one.n_dim, f1, cover, tuple(points), in_average))
    return TcpdReport(type(template).__name__, template.get_params(), tuple(scores), seconds)
