"""The correlation engine at scale, and its precision, recall and lag error on seeded scenarios.

``python -m bench.correlation [--quick]`` prints the tables; ``run(options)`` follows the
:mod:`bench` harness contract.

Scale: 200 model-side series and 20 KPIs, 30 days at 1-minute resolution (43,200 cells), lags
-60..60 minutes (121 per pair, 484,000 tests in one false-discovery family), with 20 planted
links. Times are CPU seconds of this process (``time.process_time``; BLAS threads add up), and
wall seconds beside them. "scan" is pre-whitening, every cross-correlation and BH; "evidence"
adds Granger tests, change points, event studies and effects for the pairs found.

Scenarios: each seed builds the suite of ``tests/monitor/test_correlation_engine.py`` (a link
that lowers the KPI, one that raises it, a driver that moves a metric and a KPI, two random
walks, two series sharing a daily season, a KPI that moves first) on a week of 10-minute cells.
A true positive is a reported model-leads finding on a true pair; anything else reported as
model-leads is a false positive.

Coverage: how often the effect's 95% interval holds the true effect on seeded linked pairs,
with the default interval and with the classic Newey-West one.

Sparse series: how often a window-level score (a value per 30 one-minute cells) or a flag that
fires three times is linked to an unrelated KPI whose only event is one level shift, over 8
hours; every such link is false.

Incidents: the event test for one onset (:mod:`monitor.correlation.shifts`) on 8 hours of a
1-minute KPI (a slice of a daily cycle plus white, AR(0.6) or AR(0.9) noise), the onset at a
random cell from 3 hours in, lags to 60 minutes. How often it reports a shift (p < 0.05) when
nothing follows the onset (false events: the noise check's level), when the KPI makes one
unrelated shift of 12 noise units at a random time (coincidences: what no single incident can
rule out), and when the KPI shifts by 4 noise units at a random lag after the onset (power), with
the share of the shifts found that are dated within one grid step of their lag.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy import signal

from bench._harness import Options, Report, sig, table
from monitor.correlation import scenarios
from monitor.correlation.align import make_grid
from monitor.correlation.engine import EngineConfig, Series, correlate, scan
from monitor.correlation.impact import lagged_effect
from monitor.correlation.shifts import shift_statistics, shift_test


def _ar1_block(rng: np.random.Generator, cells: int, columns: int, phi: float = 0.8) -> np.ndarray:
    noise = rng.normal(size=(cells, columns))
    out: np.ndarray = signal.lfilter([1.0], [1.0, -phi], noise, axis=0)
    return out


def _scale_inputs(cells: int, models: int, kpis: int, links: int, seed: int = 0) -> tuple[list[Series], list[Series], list[int]]:
    rng = np.random.default_rng(seed)
    x = _ar1_block(rng, cells, models)
    y = _ar1_block(rng, cells, kpis, 0.6) + 3.0 * np.sin(2 * np.pi * np.arange(cells) / 1440.0)[:, None]
    lags = [int(v) for v in rng.integers(2, 50, size=links)]
    for i, lag in enumerate(lags):  # model i moves KPI i, ``lag`` minutes later
        y[lag:, i] += 0.4 * x[:-lag, i]
    return (
        [Series(f"m{i}", x[:, i]) for i in range(models)],
        [Series(f"k{j}", y[:, j]) for j in range(kpis)],
        lags,
    )


def _scale(options: Options) -> tuple[dict[str, float | None], list[list[object]]]:
    days = 7 if options.quick else 30
    cells, models, kpis, links = days * 1440, 200, 20, 20
    model_series, kpi_series, lags = _scale_inputs(cells, models, kpis, links)
    grid = make_grid(0.0, cells * 60.0, 60.0)
    config = EngineConfig(max_lag=60, periods=(1440.0,), min_overlap=360)
    cpu, wall = time.process_time(), time.perf_counter()
    found = scan(grid, model_series, kpi_series, config)
    scan_cpu, scan_wall = time.process_time() - cpu, time.perf_counter() - wall
    cpu, wall = time.process_time(), time.perf_counter()
    result = correlate(grid, model_series, kpi_series, config)
    full_cpu, full_wall = time.process_time() - cpu, time.perf_counter() - wall
    truth = {(f"m{i}", f"k{i}"): lag for i, lag in enumerate(lags)}
    reported = {(f.metric, f.kpi): f for f in result.findings if f.direction == "model_leads"}
    hits = [key for key in reported if key in truth]
    lag_error = [abs(reported[key].lag_seconds / 60 - truth[key]) for key in hits]
    results = {
        "days": days,
        "cells": cells,
        "models": models,
        "kpis": kpis,
        "lags": int(found.lags.size),
        "tests": int(np.isfinite(found.p_value).sum()),
        "scan_cpu_s": sig(scan_cpu),
        "scan_wall_s": sig(scan_wall),
        "full_cpu_s": sig(full_cpu),
        "full_wall_s": sig(full_wall),
        "planted": links,
        "found_true": len(hits),
        "false_links": len(reported) - len(hits),
        "max_lag_error_min": max(lag_error) if lag_error else None,
    }
    row: list[object] = [
        f"{models} x {kpis} x {found.lags.size} lags, {days} d",
        results["tests"], sig(scan_cpu, 3), sig(scan_wall, 3), sig(full_cpu, 3), sig(full_wall, 3),
        f"{len(hits)}/{links}", len(reported) - len(hits), results["max_lag_error_min"],
    ]  # fmt: skip
    return results, [row]


def _suite(seed: int) -> tuple[set[tuple[str, str]], dict[tuple[str, str], float], dict[tuple[str, str], int]]:
    n, step = 1008, 600.0
    rng = np.random.default_rng(seed)
    falls = scenarios.linked_pair(rng, n, lag=int(rng.integers(2, 20)), effect=-0.5)
    rises = scenarios.linked_pair(rng, n, lag=int(rng.integers(2, 20)), effect=0.8)
    driver, echo, driven = scenarios.confounded_pair(rng, n, lag=4)
    follower, leader = scenarios.reverse_pair(rng, n, lag=5)
    model = [falls.x, rises.x, driver, echo, scenarios.random_walk(rng, n), scenarios.seasonal(rng, n), follower]
    kpis = [falls.y, rises.y, driven, scenarios.random_walk(rng, n), scenarios.seasonal(rng, n), leader]
    names_m = ["falls", "rises", "driver", "echo", "walk", "season", "follower"]
    names_k = ["k_falls", "k_rises", "k_driven", "k_walk", "k_season", "k_leader"]
    result = correlate(
        make_grid(0.0, n * step, step),
        [Series(a, v) for a, v in zip(names_m, model, strict=True)],
        [Series(a, v) for a, v in zip(names_k, kpis, strict=True)],
        EngineConfig(max_lag=24, min_overlap=200, periods=(144.0,)),
    )
    truth = {("falls", "k_falls"): falls.lag, ("rises", "k_rises"): rises.lag, ("driver", "k_driven"): 4}
    reported = {(f.metric, f.kpi): f.lag_seconds / step for f in result.findings if f.direction == "model_leads"}
    return set(reported), reported, truth


def _coverage(seeds: int) -> tuple[dict[str, float | None], list[list[object]]]:
    """How often the 95% interval of the effect holds the true effect, per bandwidth rule."""
    n, lag, effect = 1008, 15, 0.8
    rules: dict[str, Callable[[int], int]] = {
        "Newey-West 4 (n/100)^(2/9), normal critical value": lambda size: int(4 * (size / 100) ** (2 / 9)),
        "1.3 sqrt(n), fixed-b critical value (default)": lambda size: math.ceil(1.3 * math.sqrt(size)),
    }
    results: dict[str, float | None] = {}
    rows: list[list[object]] = []
    for name, rule in rules.items():
        covered = 0
        for seed in range(seeds):
            pair = scenarios.linked_pair(np.random.default_rng(seed), n, lag=lag, effect=effect)
            band = rule(n - lag)
            fit = lagged_effect(pair.x, pair.y, lag, periods=(144.0,), bandwidth=band)
            if name.startswith("Newey-West"):  # the classic interval: normal quantile, no fixed-b widening
                covered += abs(fit.slope - effect) <= 1.96 * fit.se
            else:
                covered += fit.low <= effect <= fit.high
        results[name] = sig(covered / seeds)
        rows.append([name, seeds, sig(covered / seeds)])
    return results, rows


def _sparse(seeds: int) -> tuple[dict[str, float | None], list[list[object]]]:
    """False-link rate of sparse model-side series against a KPI with one unrelated level shift."""
    n = 480
    grid = make_grid(0.0, n * 60.0, 60.0)
    config = EngineConfig(max_lag=60, min_overlap=360)
    linked = {"window score (30 cells)": 0, "flag (3 cells)": 0}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        model = [Series("score", scenarios.window_score(rng, n)), Series("flag", scenarios.flags(rng, n))]
        found = scan(grid, model, [Series("kpi", scenarios.level_shift(rng, n))], config)
        for name, row in zip(linked, found.links, strict=True):
            linked[name] += bool(row.any())
    results: dict[str, float | None] = {name: sig(count / seeds) for name, count in linked.items()}
    return results, [[name, seeds, sig(count / seeds)] for name, count in linked.items()]


def _incidents(seeds: int) -> tuple[dict[str, dict[str, float | None]], list[list[object]]]:
    """Rates at which the event test reports a KPI shift after one onset, per noise and case."""
    n, window, max_lag = 480, 30, 60
    results: dict[str, dict[str, float | None]] = {}
    rows: list[list[object]] = []
    for phi in (0.0, 0.6, 0.9):
        counts = {"false events": 0, "coincidences": 0, "power": 0}
        lag_errors: list[int] = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            noise = scenarios.ar1(rng, n, phi) if phi else rng.normal(size=n)
            scale = float(np.std(noise))
            base = 100.0 + 5.0 * scale * np.sin(2 * np.pi * (np.arange(n) / 1440.0 + rng.random())) + noise
            onset = int(rng.integers(180, n - 90))
            unrelated, lag = base.copy(), int(rng.integers(0, max_lag))
            unrelated[int(rng.integers(60, n - 60)) :] += 12.0 * scale
            moved = base.copy()
            moved[onset + lag :] += 4.0 * scale
            for case, kpi in (("false events", base), ("coincidences", unrelated), ("power", moved)):
                hit = shift_test(kpi, shift_statistics(kpi, window), onset, max_lag)
                if hit is not None and hit.p_value < 0.05:
                    counts[case] += 1
                    if case == "power":
                        lag_errors.append(abs(hit.lag - lag))
        noise_name = "white" if phi == 0.0 else f"AR({phi:g})"
        results[noise_name] = {case: sig(count / seeds) for case, count in counts.items()}
        dated = sig(float(np.mean(np.asarray(lag_errors) <= 1))) if lag_errors else None
        results[noise_name]["found_dated_within_one_step"] = dated
        rows.append([noise_name, seeds, *(sig(count / seeds) for count in counts.values()), dated])
    return results, rows


def run(options: Options) -> Report:
    scale, scale_rows = _scale(options)
    sparse, sparse_rows = _sparse(100 if options.quick else 500)
    coverage, coverage_rows = _coverage(200 if options.quick else 1000)
    incident, incident_rows = _incidents(200 if options.quick else 1000)
    seeds = range(5 if options.quick else 20)
    tp = fp = fn = 0
    errors: list[float] = []
    for seed in seeds:
        reported, lags, truth = _suite(seed)
        tp += len(reported & set(truth))
        fp += len(reported - set(truth))
        fn += len(set(truth) - reported)
        errors += [abs(lags[key] - truth[key]) for key in reported & set(truth)]
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    suite = {
        "seeds": len(seeds),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": sig(precision),
        "recall": sig(recall),
        "mean_lag_error_steps": sig(float(np.mean(errors))) if errors else None,
        "max_lag_error_steps": max(errors) if errors else None,
    }
    text = table(
        [
            "inputs",
            "tests",
            "scan CPU s",
            "scan wall s",
            "full CPU s",
            "full wall s",
            "planted found",
            "false",
            "max lag err (min)",
        ],
        scale_rows,
        title="Scale: one run over all pairs and lags",
    )
    text += [""]
    text += table(
        ["scenario suite", "seeds", "precision", "recall", "mean lag error", "max lag error"],
        [["7 metrics x 6 KPIs, 3 true links", len(seeds), suite["precision"], suite["recall"],
          suite["mean_lag_error_steps"], suite["max_lag_error_steps"]]],
        title="Ground truth (lag error in grid steps)",
    )  # fmt: skip
    text += [""]
    text += table(
        ["interval", "seeds", "coverage"],
        coverage_rows,
        title="95% interval of the effect (lag 15, AR(1) metric, AR(1) noise, a week of 10-minute cells)",
    )
    text += [""]
    text += table(
        ["model-side series", "seeds", "false-link rate"],
        sparse_rows,
        title="Sparse series against a KPI with one unrelated level shift (8 h of minutes, lags to 60 min)",
    )
    text += [""]
    text += table(
        ["KPI noise", "seeds", "false events", "coincidences", "power", "found within ±1 min"],
        incident_rows,
        title="Event test for one incident (8 h of minutes, lags to 60 min; rates of p < 0.05)",
    )
    results = {"scale": scale, "suite": suite, "coverage": coverage, "sparse": sparse, "incidents": incident}
    return Report(config={"quick": options.quick}, results=results, text=text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.correlation", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 days instead of 30, 5 seeds instead of 20")
    args = parser.parse_args(argv)
    for line in run(Options(quick=args.quick)).text:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
