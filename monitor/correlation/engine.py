"""The correlation engine: from series on a grid to ranked, FDR-controlled findings.

Steps (each a pure function in its own module):

1. every series is pre-whitened by its own AR fit (:mod:`~monitor.correlation.lagged`);
2. residual cross-correlations (each series winsorised) of every model-side series with every
   KPI at lags ``-max_lag..max_lag``, with Fisher-z p-values on the effective sample size;
3. Benjamini-Hochberg over *all* pairs and lags (:func:`~monitor.correlation.findings.bh_q_values`);
4. for each pair with a significant lag (``q < alpha`` and ``|r| >= min_strength``), the best
   lag decides the direction; then supporting evidence: Granger F-tests both ways
   (:mod:`~monitor.correlation.granger`), matched change points and an event study
   (:mod:`~monitor.correlation.events`), and the effect with a Newey-West interval plus the
   latest incident's estimated cost (:mod:`~monitor.correlation.impact`);
5. a finding that a stronger one on the same KPI explains (their partial correlation is no
   longer significant) is dropped: an observed common driver;
6. the incidents of flagged series (drift episodes) get an event test of their own
   (:mod:`~monitor.correlation.shifts`): one incident is one observation to the lagged
   correlation, but it can still be an unusual KPI shift soon after an onset. Those tests form
   a second Benjamini-Hochberg family, and a pair the correlation already linked keeps that
   finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt
from scipy import stats

from monitor.correlation.align import Grid
from monitor.correlation.events import change_points, event_study, match_events
from monitor.correlation.findings import Finding, IncidentEstimate, bh_q_values
from monitor.correlation.granger import granger_test
from monitor.correlation.impact import KpiUnit, incident_impact, incidents, lagged_effect, worth
from monitor.correlation.lagged import (
    autocorrelations,
    bartlett_inflation,
    cross_correlate,
    effective_sizes,
    fisher_p_values,
    prewhiten,
    winsorize,
)
from monitor.correlation.shifts import ShiftStatistics, ShiftTest, shift_statistics, shift_test

__all__ = ["EngineConfig", "RunResult", "Scan", "Series", "correlate", "scan"]

Floats = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]
_CHUNK = 16  # model series per cross-correlation block (bounds memory, paces the progress bar)


@dataclass(frozen=True, slots=True)
class Series:
    """One series on the run's grid (NaN for gaps).

    ``flags`` marks cells where the model side was in an incident (e.g. drift detected); the
    engine estimates the KPI cost of the latest one.
    """

    key: str
    values: Floats
    label: str = ""
    model: str | None = None
    version: str | None = None
    flags: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Parameters of one run, in grid cells where a count of time is asked for.

    ``periods`` are seasons in cells (a day is 1440 on a 1-minute grid), removed before any
    test. ``min_overlap`` is the minimum evidence window: a pair with fewer cells where both series
    have values is not tested at all. ``min_strength`` is a floor on ``|r|`` so that very long
    series do not report links too weak to matter.
    """

    max_lag: int = 60
    periods: tuple[float, ...] = ()
    alpha: float = 0.05
    min_overlap: int = 360
    min_strength: float = 0.1
    max_order: int = 10
    granger_order: int = 5
    event_tolerance: int = 3
    event_window: int = 30
    event_min_placebos: int = 60
    units: Mapping[str, KpiUnit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value, low in (
            ("max_lag", self.max_lag, 0),
            ("min_overlap", self.min_overlap, 10),
            ("max_order", self.max_order, 0),
            ("granger_order", self.granger_order, 1),
            ("event_tolerance", self.event_tolerance, 0),
            ("event_window", self.event_window, 3),
            ("event_min_placebos", self.event_min_placebos, 1),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}; got {value}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1); got {self.alpha}")
        if not 0 <= self.min_strength < 1:
            raise ValueError(f"min_strength must be in [0, 1); got {self.min_strength}")


@dataclass(frozen=True, slots=True)
class RunResult:
    """Findings ranked best first, the pairs tested (enough overlap) and the number of tests."""

    findings: list[Finding]
    tested: set[tuple[str, str]]
    tests: int


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Scan:
    """Pre-whitened cross-correlations of every pair, arrays of shape (models, KPIs, lags).

    ``links`` marks the pair-lags that pass both the FDR level and the strength floor.
    """

    lags: npt.NDArray[np.int64]
    r: Floats
    n: npt.NDArray[np.int64]
    p_value: Floats
    q_value: Floats
    links: npt.NDArray[np.bool_]
    orders: list[int]  # AR order per series, model-side first
    residuals: Floats  # pre-whitened series, one column each, model-side first

    @property
    def tested(self) -> npt.NDArray[np.bool_]:
        """Pairs with at least ``min_overlap`` complete cells at some lag."""
        return np.asarray(np.isfinite(self.r).any(axis=2), dtype=bool)


def scan(
    grid: Grid, model_series: Sequence[Series], kpis: Sequence[Series], config: EngineConfig | None = None,
    *, progress: Progress | None = None,
) -> Scan:  # fmt: skip
    """Steps 1-3 of the engine: pre-whiten, cross-correlate all pairs at all lags, apply BH.

    Examples
    --------
    Two independent random walks share no link:

    >>> from monitor.correlation.align import make_grid
    >>> rng = np.random.default_rng(8)
    >>> walks = [Series(name, np.cumsum(rng.normal(size=800))) for name in "ab"]
    >>> result = scan(make_grid(0.0, 800 * 60.0, 60.0), walks[:1], walks[1:], EngineConfig(max_lag=20))
    >>> bool(result.links.any()), result.r.shape
    (False, (1, 1, 41))
    """
    cfg = config or EngineConfig()
    report = progress or _no_progress
    total = len(model_series) + len(kpis)
    whitened = []
    for i, series in enumerate([*model_series, *kpis]):
        if series.values.shape != (grid.size,):
            raise ValueError(f"series {series.key!r} has shape {series.values.shape}; the grid has {grid.size} cells")
        whitened.append(prewhiten(series.values, cfg.max_order, periods=cfg.periods))
        report("pre-whitening", i + 1, total)
    lag_count = 2 * cfg.max_lag + 1
    if not model_series or not kpis or grid.size <= cfg.max_lag + 1:
        empty = np.full((len(model_series), len(kpis), lag_count), np.nan)
        none = np.zeros(empty.shape, dtype=bool)
        lags = np.arange(-cfg.max_lag, cfg.max_lag + 1, dtype=np.int64)
        residuals = np.column_stack([w.residuals for w in whitened]) if whitened else np.empty((grid.size, 0))
        orders = [w.order for w in whitened]
        return Scan(lags, empty, np.zeros(empty.shape, dtype=np.int64), empty, empty, none, orders, residuals)
    ex = np.column_stack([winsorize(w.residuals) for w in whitened[: len(model_series)]])
    ey = np.column_stack([winsorize(w.residuals) for w in whitened[len(model_series) :]])
    blocks = []
    chunks = range(0, len(model_series), _CHUNK)
    acf_x, acf_y = autocorrelations(ex, 10), autocorrelations(ey, 10)
    for done, start in enumerate(chunks, start=1):
        part = slice(start, start + _CHUNK)
        blocks.append(
            cross_correlate(
                ex[:, part], ey, cfg.max_lag, min_overlap=cfg.min_overlap, acf_a=acf_x[part], acf_b=acf_y, robust=False
            )
        )
        report("cross-correlating", done, len(chunks))
    r = np.concatenate([b.r for b in blocks])
    n = np.concatenate([b.n for b in blocks])
    p = np.concatenate([b.p_value for b in blocks])
    # The effective sample size can only raise a p-value, and BH is monotone: only the pair-lags
    # that pass on cell counts can pass at all. Computing it for those alone gives exactly the
    # links and q-values of computing it everywhere (the rest stay above alpha either way).
    mi, kj, li = np.nonzero(bh_q_values(p) < cfg.alpha)
    if mi.size:
        effective = effective_sizes(ex, ey, mi, kj, blocks[0].lags[li], min_overlap=cfg.min_overlap)
        p[mi, kj, li] = fisher_p_values(r[mi, kj, li], effective, bartlett_inflation(acf_x, acf_y)[mi, kj])
    q = bh_q_values(p)
    links = (q < cfg.alpha) & (np.abs(r) >= cfg.min_strength)
    return Scan(blocks[0].lags, r, n, p, q, links, [w.order for w in whitened], np.column_stack([ex, ey]))


def correlate(
    grid: Grid,
    model_series: Sequence[Series],
    kpis: Sequence[Series],
    config: EngineConfig | None = None,
    *,
    progress: Progress | None = None,
) -> RunResult:
    """Relate every model-side series to every KPI; see the module docstring for the method.

    Examples
    --------
    A KPI that falls 0.8 per unit of a model metric, five cells later, and an unrelated metric:

    >>> from monitor.correlation.align import make_grid
    >>> rng = np.random.default_rng(11)
    >>> grid = make_grid(0.0, 2000 * 60.0, 60.0)
    >>> x = np.convolve(rng.normal(size=2000), np.ones(3) / 3, "same"); z = rng.normal(size=2000)
    >>> kpi = 10 - 0.8 * np.r_[np.zeros(5), x[:-5]] + 0.3 * rng.normal(size=2000)
    >>> result = correlate(grid, [Series("x", x), Series("z", z)], [Series("kpi", kpi)], EngineConfig(max_lag=10))
    >>> [(f.metric, f.lag_seconds, round(f.effect, 2)) for f in result.findings], result.tests
    ([('x', 300.0, -0.81)], 42)
    """
    cfg = config or EngineConfig()
    report = progress or _no_progress
    found = scan(grid, model_series, kpis, cfg, progress=report)
    r, q, links = found.r, found.q_value, found.links
    tested = {(model_series[i].key, kpis[j].key) for i, j in zip(*np.nonzero(found.tested), strict=True)}
    candidates = list(zip(*np.nonzero(links.any(axis=2)), strict=True))
    points: dict[int, list[int]] = {}  # change points per series index (model first, then KPIs)

    def cps(index: int, values: Floats) -> list[int]:
        if index not in points:
            points[index] = change_points(values)
        return points[index]

    findings = []
    for done, (i, j) in enumerate(candidates, start=1):
        i, j = int(i), int(j)
        hits = np.flatnonzero(links[i, j])
        best = int(hits[np.lexsort((-np.abs(r[i, j, hits]), q[i, j, hits]))[0]])
        findings.append(
            _finding(
                grid, model_series[i], kpis[j], cfg, int(found.lags[best]),
                float(r[i, j, best]), float(found.p_value[i, j, best]), float(q[i, j, best]), int(found.n[i, j, best]),
                reverse_hit=bool((found.lags[hits] < 0).any()), own_order=found.orders[len(model_series) + j],
                model_order=found.orders[i],
                model_points=partial(cps, i, model_series[i].values),
                kpi_points=partial(cps, len(model_series) + j, kpis[j].values),
            )
        )  # fmt: skip
        report("gathering evidence", done, len(candidates))
    findings = _drop_explained(findings, found, [s.key for s in model_series], [k.key for k in kpis], grid.step, cfg)
    linked = {(f.metric, f.kpi) for f in findings}
    shifts, event_tests = _incident_findings(grid, model_series, kpis, cfg)
    findings += [f for f in shifts if (f.metric, f.kpi) not in linked]
    tested |= {(f.metric, f.kpi) for f in shifts}
    findings.sort(key=lambda f: -f.score)
    return RunResult(findings, tested, int(np.isfinite(found.p_value).sum()) + event_tests)


def _incident_findings(
    grid: Grid, model_series: Sequence[Series], kpis: Sequence[Series], cfg: EngineConfig
) -> tuple[list[Finding], int]:
    """Event tests of every incident onset of the flagged series against every KPI; (findings, tests).

    The test depends only on the onset cell and the KPI, so series flagged from the same cell
    (two features drifting together) share one test: the family counts distinct (onset, KPI)
    pairs. A pair's finding is its most significant onset (the latest on ties); an onset after
    which the KPI moved less than in the same span just before it is not one (the KPI, or
    something else, moved first).
    """
    onsets = {s.key: [i.start for i in incidents(s.flags)] for s in model_series if s.flags is not None and s.flags.any()}
    if not onsets or not kpis:
        return [], 0
    statistics: dict[int, ShiftStatistics] = {}
    tests: dict[tuple[int, int], ShiftTest] = {}
    for cells in onsets.values():
        for onset in cells:
            for j, kpi in enumerate(kpis):
                if (onset, j) in tests:
                    continue
                if j not in statistics:
                    statistics[j] = shift_statistics(kpi.values, cfg.event_window)
                hit = shift_test(
                    kpi.values, statistics[j], onset, cfg.max_lag, min_placebos=cfg.event_min_placebos, alpha=cfg.alpha
                )
                if hit is not None:
                    tests[(onset, j)] = hit
    keys = list(tests)
    q = dict(zip(keys, bh_q_values([tests[k].p_value for k in keys]).tolist(), strict=True))
    findings = []
    for series in model_series:
        for j, kpi in enumerate(kpis):
            passed = [
                c for c in onsets.get(series.key, []) if (c, j) in tests and q[(c, j)] < cfg.alpha and not tests[(c, j)].earlier
            ]
            if passed:
                best = min(passed, key=lambda c: (q[(c, j)], -c))  # the most significant; the latest on ties
                findings.append(_event_finding(grid, series, kpi, cfg, tests[(best, j)], q[(best, j)], len(passed)))
    return findings, len(keys)


def _event_finding(grid: Grid, model: Series, kpi: Series, cfg: EngineConfig, hit: ShiftTest, q: float, matched: int) -> Finding:
    assert model.flags is not None
    incident = next(i for i in incidents(model.flags) if i.start == hit.onset)
    x = model.values
    before, during = x[max(hit.onset - cfg.event_window, 0) : hit.onset], x[incident.start : incident.stop]
    before, during = before[np.isfinite(before)], during[np.isfinite(during)]
    moved = float(during.mean() - before.mean()) if before.size and during.size else float("nan")
    z = float(stats.norm.ppf(0.975))
    low, high = hit.delta - z * hit.se, hit.delta + z * hit.se
    effect = hit.delta / moved if np.isfinite(moved) and moved != 0 else None
    bounds = sorted((low / moved, high / moved)) if effect is not None else [None, None]
    unit = cfg.units.get(kpi.key, KpiUnit())
    at = hit.onset + hit.lag
    minutes = (incident.stop - incident.start) * grid.step / 60.0
    estimate = IncidentEstimate(
        grid.start + at * grid.step, grid.start + (incident.stop + hit.lag) * grid.step, hit.delta, low, high,
        *worth(hit.delta, low, high, minutes, unit),
    )  # fmt: skip
    return Finding(
        metric=model.key, kpi=kpi.key, direction="model_leads", lag_seconds=hit.lag * grid.step,
        strength=hit.strength, p_value=hit.p_value, q_value=q, n=hit.n,
        evidence_start=grid.start,  # the placebo positions reach back to the run's start
        evidence_end=grid.start + (at + cfg.event_window) * grid.step,
        model=model.model, version=model.version, metric_label=model.label,
        effect=effect, effect_low=bounds[0], effect_high=bounds[1],
        events_model=len(incidents(model.flags)), events_matched=matched, event_effect=effect,
        incident=estimate, unit=unit, alpha=cfg.alpha, method="event", placebos=hit.placebos,
        exceeded_by=hit.exceeded_by,
    )  # fmt: skip


def _lagged_corr(a: Floats, b: Floats, lag: int) -> tuple[float, int]:
    """Correlation of ``a[t]`` with ``b[t + lag]`` over pairwise complete cells, and their count."""
    cc = cross_correlate(a[:, None], b[:, None], abs(lag), min_overlap=10)
    index = int(np.flatnonzero(cc.lags == lag)[0])
    return float(cc.r[0, 0, index]), int(cc.n[0, 0, index])


def _drop_explained(
    findings: list[Finding], found: Scan, model_keys: list[str], kpi_keys: list[str], step: float, cfg: EngineConfig
) -> list[Finding]:
    """Drop a model-leads finding that a stronger one on the same KPI explains (an observed common driver).

    For metric ``a`` (lag ``d_a``) and a stronger metric ``b`` (lag ``d_b``) linked to KPI ``y``,
    the partial correlation of the innovations of ``a`` and ``y`` given those of ``b`` is tested;
    when it is no longer significant at ``alpha`` (Fisher z, ``n - 4``) or falls under
    ``min_strength``, ``a`` only echoes ``b`` and is not reported.
    """
    columns = {key: i for i, key in enumerate(model_keys)}
    columns.update({key: len(model_keys) + j for j, key in enumerate(kpi_keys)})
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: -abs(f.strength)):
        stronger = [g for g in kept if g.kpi == f.kpi and g.direction == "model_leads"]
        if f.direction == "model_leads" and any(_echoes(f, g, found.residuals, columns, step, cfg) for g in stronger):
            continue
        kept.append(f)
    return kept


def _echoes(a: Finding, b: Finding, residuals: Floats, columns: dict[str, int], step: float, cfg: EngineConfig) -> bool:
    shift = round((a.lag_seconds - b.lag_seconds) / step)
    r_ab, n_ab = _lagged_corr(residuals[:, columns[a.metric]], residuals[:, columns[b.metric]], shift)
    if not np.isfinite(r_ab):
        return False
    denominator = np.sqrt((1 - r_ab * r_ab) * (1 - b.strength * b.strength))
    if denominator <= 1e-9:
        return True
    partial = float(np.clip((a.strength - r_ab * b.strength) / denominator, -0.999999, 0.999999))
    z = np.arctanh(partial) * np.sqrt(max(min(a.n, n_ab) - 4, 1))
    return bool(2 * stats.norm.sf(abs(z)) >= cfg.alpha or abs(partial) < cfg.min_strength)


def _finding(
    grid: Grid,
    model: Series,
    kpi: Series,
    cfg: EngineConfig,
    lag: int,
    r: float,
    p: float,
    q: float,
    n: int,
    *,
    reverse_hit: bool,
    own_order: int,
    model_order: int,
    model_points: Callable[[], list[int]],
    kpi_points: Callable[[], list[int]],
) -> Finding:
    x, y = model.values, kpi.values
    span = np.isfinite(x[: x.size - lag]) & np.isfinite(y[lag:]) if lag >= 0 else np.isfinite(x[-lag:]) & np.isfinite(y[:lag])
    cells = np.flatnonzero(span)
    shift = max(lag, 0)
    start, end = grid.start + cells[0] * grid.step, grid.start + (cells[-1] + shift + 1) * grid.step
    unit = cfg.units.get(kpi.key, KpiUnit())
    common = {
        "metric": model.key, "kpi": kpi.key, "lag_seconds": abs(lag) * grid.step, "strength": r, "p_value": p,
        "q_value": q, "n": n, "evidence_start": start, "evidence_end": end, "model": model.model,
        "version": model.version, "metric_label": model.label, "unit": unit, "alpha": cfg.alpha,
    }  # fmt: skip
    if lag < 0:
        return Finding(direction="kpi_leads", reverse_warning=True, **common)
    cross = [d for d in (lag - 1, lag, lag + 1) if d >= 1]
    own_y = list(range(1, max(own_order, 1) + 1))[: cfg.granger_order]
    own_x = list(range(1, max(model_order, 1) + 1))[: cfg.granger_order]
    forward = granger_test(y, x, own_y, cross, trend=True, periods=cfg.periods) if lag >= 1 else None
    backward = granger_test(x, y, own_x, cross or [1], trend=True, periods=cfg.periods)
    reverse = reverse_hit or (backward.p_value < cfg.alpha)
    effect = lagged_effect(x, y, lag, periods=cfg.periods)
    model_cps = model_points()
    matched = match_events(model_cps, kpi_points(), lag, max(cfg.event_tolerance, -(-x.size // 2000)))
    studies = event_study(x, y, model_cps, lag, cfg.event_window)
    moved = np.array([s.metric_change for s in studies])
    followed = np.array([s.difference for s in studies])
    # Least squares through the origin: large metric changes weigh most, small spurious ones little.
    event_effect = float(moved @ followed / (moved @ moved)) if studies and moved @ moved > 0 else None
    estimate = None
    if model.flags is not None and model.flags.any():
        incident = incidents(model.flags)[-1]
        hit = incident_impact(effect, x, incident, grid.step, unit)
        estimate = IncidentEstimate(
            grid.start + (hit.start + lag) * grid.step, grid.start + (hit.stop + lag) * grid.step,
            hit.kpi_change, hit.low, hit.high, hit.value, hit.value_low, hit.value_high,
        )  # fmt: skip
    return Finding(
        direction="model_leads",
        granger_p=None if forward is None else forward.p_value,
        reverse_p=backward.p_value,
        reverse_warning=reverse,
        effect=effect.slope,
        effect_low=effect.low,
        effect_high=effect.high,
        events_model=len(model_cps),
        events_matched=len(matched),
        event_effect=event_effect,
        incident=estimate,
        **common,
    )
