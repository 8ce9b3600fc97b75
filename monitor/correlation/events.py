"""Event evidence: change points in a model series followed, within the lag window, by one in the KPI.

Change points come from :class:`detectors.changepoint.BOCPD` (online, no look-ahead, gaps
skipped; a step series counts once per step). A model-side change at cell ``c`` is *matched* when the KPI has a change point in
``[c + lag - tolerance, c + lag + tolerance]``. The event study compares the KPI's mean over
``window`` cells before ``c + lag`` with the mean over ``window`` cells from it (Welch's t-test),
so each model-side change gets its own before/after number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from detectors.changepoint import BOCPD

__all__ = ["EventStudy", "change_points", "event_study", "match_events"]


def change_points(x: npt.ArrayLike, *, expected_run_length: float = 500.0, max_cells: int = 2000) -> list[int]:
    """Grid cells where BOCPD dated a change (NaN cells count as time passing, nothing learnt).

    BOCPD costs about 0.1-0.5 ms a value, so a series longer than ``max_cells`` is first
    averaged over blocks of ``ceil(len / max_cells)`` cells; its change points are then dated
    to a block's first cell.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> x = rng.normal(size=300); x[150:] += 5.0; x[40:60] = np.nan
    >>> change_points(x), change_points(x, max_cells=100)
    ([150], [150])

    A step series (a value per 30-cell window) is one observation per window: only the window
    where its level moved is a change, not every window start:

    >>> windows = np.repeat(np.r_[rng.normal(0.1, 0.02, 10), rng.normal(0.5, 0.02, 6)], 30)
    >>> change_points(windows)
    [300]
    """
    values = np.asarray(x, dtype=np.float64)
    block = max(1, -(-values.size // max_cells))
    if block > 1:
        padded = np.r_[values, np.full(-values.size % block, np.nan)].reshape(-1, block)
        present = np.isfinite(padded).sum(axis=1)
        with np.errstate(invalid="ignore"):
            values = np.where(present > 0, np.nansum(padded, axis=1) / present, np.nan)
    cells = _step_starts(values)
    detector = BOCPD(expected_run_length=expected_run_length)
    detector.update_many(values if cells is None else values[cells])
    points = list(detector.change_points) if cells is None else cells[list(detector.change_points)].tolist()
    return [point * block for point in points]


def _step_starts(values: npt.NDArray[np.float64]) -> npt.NDArray[np.intp] | None:
    """For a step series (most values repeat the one before): the first cell of every step; else None.

    A window statistic spread over the window's cells repeats one value many times; fed cell by
    cell, the detector learns a spread of almost zero within windows and calls every new window
    a change. Such a series is one observation per step, dated to the step's first cell. A series
    counts as a step series when its runs of equal values last three cells or more at the median.
    """
    finite = np.isfinite(values)
    repeat = np.r_[False, finite[1:] & finite[:-1] & (values[1:] == values[:-1])]
    starts = np.flatnonzero(finite & ~repeat)
    if starts.size == 0 or np.median(np.diff(np.r_[starts, values.size])) < 3:
        return None
    return starts


def match_events(model_points: list[int], kpi_points: list[int], lag: int, tolerance: int) -> list[tuple[int, int]]:
    """Pairs (model change, KPI change) with the KPI change ``lag ± tolerance`` cells later.

    Each model change is paired with the nearest qualifying KPI change, if any.

    Examples
    --------
    >>> match_events([100, 400], [112, 390, 700], lag=10, tolerance=3)
    [(100, 112)]
    """
    kpi = np.asarray(sorted(kpi_points), dtype=np.int64)
    pairs: list[tuple[int, int]] = []
    for point in model_points:
        target = point + lag
        near = kpi[np.abs(kpi - target) <= tolerance]
        if near.size:
            pairs.append((point, int(near[np.argmin(np.abs(near - target))])))
    return pairs


@dataclass(frozen=True, slots=True)
class EventStudy:
    """Around one model-side change: the metric's and the KPI's (at ``+ lag``) change in mean.

    ``difference`` is the KPI's after-minus-before mean, ``p_value`` Welch's test of it, and
    ``ratio`` the KPI change per unit of metric change (NaN when the metric did not move).
    """

    change: int
    at: int
    before: float
    after: float
    difference: float
    p_value: float
    metric_change: float
    ratio: float


def _shift(values: npt.NDArray[np.float64], at: int, window: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    before, after = values[max(at - window, 0) : at], values[at : at + window]
    return before[np.isfinite(before)], after[np.isfinite(after)]


def event_study(x: npt.ArrayLike, y: npt.ArrayLike, model_points: list[int], lag: int, window: int) -> list[EventStudy]:
    """Before/after comparison of the KPI ``y`` around each change of the metric ``x``, shifted by ``lag``.

    Changes whose windows hold fewer than three values on either side are skipped.

    Examples
    --------
    >>> x = np.r_[np.zeros(45), np.ones(55)]
    >>> y = np.r_[np.full(50, 10.0), np.full(50, 8.0)] + np.tile([0.1, -0.1], 50)
    >>> [(s.at, round(s.difference, 2), s.p_value < 1e-6, round(s.ratio, 2)) for s in event_study(x, y, [45], 5, 20)]
    [(50, -2.0, True, -2.0)]
    """
    xv = np.asarray(x, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    studies: list[EventStudy] = []
    for point in model_points:
        at = point + lag
        before, after = _shift(yv, at, window)
        metric_before, metric_after = _shift(xv, point, window)
        if min(before.size, after.size, metric_before.size, metric_after.size) < 3:
            continue
        test = stats.ttest_ind(after, before, equal_var=False)
        p = float(test.pvalue) if np.isfinite(test.pvalue) else 1.0
        difference = float(after.mean() - before.mean())
        moved = float(metric_after.mean() - metric_before.mean())
        ratio = difference / moved if moved != 0 else float("nan")
        studies.append(EventStudy(point, at, float(before.mean()), float(after.mean()), difference, p, moved, ratio))
    return studies
