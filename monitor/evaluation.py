"""Score an anomaly scorer on a directory in NAB's layout (what ``driftline eval nab`` runs).

The layout is NAB's: ``DATA_DIR/<category>/<name>.csv`` files with a ``timestamp,value``
header, one row per observation in time order, and a windows JSON mapping each file's
relative path (``"<category>/<name>.csv"``) to its labelled ``[start, end]`` anomaly windows.
Each file is scored by a fresh scorer, point by point, and the scores are judged with NAB's
rules (:mod:`detectors.evaluation.nab`) at two thresholds per profile: the scorer's own fixed
:attr:`~detectors.anomaly.AnomalyScorer.threshold`, and the corpus-wide threshold NAB's
optimiser would pick on this data (the figure comparable to NAB's published scoreboard).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.anomaly import AnomalyScorer, SeasonalNoveltyScorer
from detectors.evaluation.nab import (
    NAB_PROFILES,
    NabProfile,
    NabScore,
    NabSeries,
    optimise_threshold,
    score_corpus,
    window_rows,
)

__all__ = ["NabFile", "NabReport", "evaluate_nab", "load_nab"]


@dataclass(frozen=True)
class NabFile:
    """One series of a NAB-layout directory with its windows as inclusive row ranges."""

    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class NabReport:
    """NAB scores of one scorer on one corpus, per profile, at both thresholds."""

    detector: str
    fixed: tuple[NabScore, ...]
    optimised: tuple[NabScore, ...]
    n_files: int
    n_rows: int
    n_windows: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        """Scoring throughput over the whole corpus: points per CPU second spent in the scorer."""
        return self.n_rows / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` prints: optimised profile scores at the top level (comparable to the
        published table), the fixed-threshold ones under ``"fixed"``, and the run's facts."""
        out: dict[str, Any] = {s.profile: round(s.normalised, 2) for s in self.optimised}
        out["fixed"] = {s.profile: round(s.normalised, 2) for s in self.fixed}
        out["thresholds"] = {
            "fixed": self.fixed[0].threshold if self.fixed else None,
            "optimised": {s.profile: s.threshold for s in self.optimised},
        }
        out.update(
            detector=self.detector,
            files=self.n_files,
            rows=self.n_rows,
            windows=self.n_windows,
            points_per_second=round(self.points_per_second),
        )
        return out

    def format_table(self) -> str:
        """A plain-text table: one line per profile and threshold."""
        lines = [
            f"NAB scores of {self.detector} on {self.n_files} files, {self.n_rows} rows, {self.n_windows} windows "
            f"({self.points_per_second:,.0f} points/s)",
            f"{'threshold':<24}{'profile':<22}{'score':>8}{'detected':>10}{'missed':>8}{'false pos':>11}",
        ]
        for label, scores in (("fixed", self.fixed), ("optimised", self.optimised)):
            for s in scores:
                lines.append(
                    f"{f'{label} {s.threshold:.4g}':<24}{s.profile:<22}{s.normalised:>8.2f}"
                    f"{s.detected:>10}{s.missed:>8}{s.false_positives:>11}"
                )
        return "\n".join(lines)


def _read_series(path: Path) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["timestamp", "value"]:
            raise ValueError(f"{path}: header must start with 'timestamp,value', got {','.join(header)!r}")
        stamps, values = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values.append(float(row[1]))
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{line}: value must be a number, got {row[1:2]!r}") from None
            stamps.append(row[0].strip().removesuffix("Z"))  # UTC marker: numpy wants naive times
    try:
        ts = np.array(stamps, dtype="datetime64[us]")
    except ValueError as error:
        raise ValueError(f"{path}: timestamps must be ISO 8601 date-times ({error})") from None
    return ts, np.asarray(values, dtype=np.float64)


def load_nab(data_dir: Path | str, windows_json: Path | str) -> list[NabFile]:
    """Read every ``<category>/<name>.csv`` under ``data_dir`` and its windows.

    Every data file needs an entry in the windows JSON (``[]`` for none) and every entry a
    data file: a mismatch is reported rather than silently scored as "no anomalies".
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data_dir: {root} is not a directory")
    with Path(windows_json).open() as handle:
        windows = json.load(handle)
    if not isinstance(windows, dict):
        raise ValueError(f"windows_json: must map '<category>/<name>.csv' to window lists, got {type(windows).__name__}")
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.csv"))
    if not names:
        raise ValueError(f"data_dir: no '<category>/<name>.csv' files under {root}")
    unlabelled = sorted(set(names) - set(windows))
    missing = sorted(set(windows) - set(names))
    if unlabelled or missing:
        raise ValueError(
            f"windows_json does not match data_dir: files without windows {unlabelled[:5]}, windows without files {missing[:5]}"
        )
    files = []
    for name in names:
        ts, values = _read_series(root / name)
        spans = [(start, end) for start, end in windows[name]]
        files.append(NabFile(name, ts, values, window_rows(ts, spans)))
    return files


def evaluate_nab(
    data_dir: Path | str,
    windows_json: Path | str,
    detector_factory: Callable[[], AnomalyScorer] = SeasonalNoveltyScorer,
    *,
    profiles: Sequence[NabProfile] = NAB_PROFILES,
) -> NabReport:
    """Score a fresh scorer per file and judge the corpus with NAB's rules.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "data" / "demo").mkdir(parents=True)
    >>> ts = np.arange("2024-01-01", 2000, dtype="datetime64[5m]").astype("datetime64[s]")
    >>> x = np.random.default_rng(1).normal(10, 1, ts.size)
    >>> x[1500] = 30  # the labelled anomaly
    >>> rows = "".join(f"{str(t).replace('T', ' ')},{v}\\n" for t, v in zip(ts, x))
    >>> _ = (root / "data" / "demo" / "a.csv").write_text("timestamp,value\\n" + rows)
    >>> w = [[str(ts[1450]).replace("T", " "), str(ts[1550]).replace("T", " ")]]
    >>> _ = (root / "windows.json").write_text(json.dumps({"demo/a.csv": w}))
    >>> report = evaluate_nab(root / "data", root / "windows.json")
    >>> [round(s.normalised, 1) for s in report.optimised]
    [93.2, 93.2, 95.4]
    """
    files = load_nab(data_dir, windows_json)
    scores, seconds = [], 0.0
    threshold = float(detector_factory().threshold)
    name = type(detector_factory()).__name__
    for one in files:
        scorer = detector_factory()
        start = time.process_time()
        scores.append(scorer.score_many(one.values, timestamps=one.timestamps))
        seconds += time.process_time() - start
    series = [NabSeries(f.name, s, f.windows) for f, s in zip(files, scores, strict=True)]
    return NabReport(
        detector=name,
        fixed=tuple(score_corpus(series, p, threshold) for p in profiles),
        optimised=tuple(optimise_threshold(series, p) for p in profiles),
        n_files=len(files),
        n_rows=sum(f.values.size for f in files),
        n_windows=sum(len(f.windows) for f in files),
        seconds=seconds,
    )
