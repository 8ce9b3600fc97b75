"""ADWIN and KSWIN against river: throughput, and detection delay at matched false alarms.

``python -m bench.adwin_kswin [--quick]`` prints the tables; ``run(options)`` follows the
:mod:`bench` harness contract. Times are CPU seconds of this process (``time.process_time``),
best of several repeats, so that other load on the machine inflates them as little as possible;
river's detectors are fed value by value, which is the only interface they have.

Delay protocol: ``REPS`` streams of ``PRE`` N(0, 1) values followed by ``POST`` values of
N(mu, 1). False alarms are alarms before the change (per 10,000 values); the delay is the
number of values from the change to the first alarm at or after it; a stream without one
counts as missed. Both libraries run on the very same streams.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from river import drift

from bench._harness import Options, Report, sig, table
from detectors.streaming import ADWIN, KSWIN


def _cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def _river_alarms(detector: Any, xs: np.ndarray) -> list[int]:
    alarms = []
    update = detector.update
    for i, x in enumerate(xs.tolist()):
        update(x)
        if detector.drift_detected:
            alarms.append(i)
    return alarms


def _throughput(quick: bool) -> tuple[list[list[object]], dict[str, Any]]:
    rng = np.random.default_rng(0)
    n = 200_000 if quick else 1_000_000
    repeats = 2 if quick else 4
    steady = rng.normal(size=n)
    shifting = rng.normal(size=n) + np.repeat(rng.normal(0.0, 2.0, n // 5_000), 5_000)
    rows: list[list[object]] = []
    results: dict[str, Any] = {}

    def river_rate(make: Callable[[], Any], xs: np.ndarray) -> float:
        return xs.size / _cpu_seconds(lambda: _river_alarms(make(), xs), repeats)

    def batched(make: Callable[[], Any], xs: np.ndarray, size: int) -> Callable[[], None]:
        def go() -> None:
            detector = make()
            for i in range(0, xs.size, size):
                detector.update_many(xs[i : i + size])

        return go

    for label, xs in (("stationary", steady), ("shift every 5,000", shifting)):
        ours = ADWIN().update_many(xs).tolist()
        same = ours == _river_alarms(drift.ADWIN(), xs)  # type: ignore[no-untyped-call]
        river = river_rate(drift.ADWIN, xs)
        whole = xs.size / _cpu_seconds(partial(_adwin_whole, xs), repeats)
        by_1k = xs.size / _cpu_seconds(batched(ADWIN, xs, 1_000), repeats)
        by_10k = xs.size / _cpu_seconds(batched(ADWIN, xs, 10_000), repeats)
        head = xs[: n // 5]
        looped = head.size / _cpu_seconds(partial(_adwin_looped, head), 1)
        rows.append(
            [f"ADWIN, {label}", n, len(ours), river, whole, by_10k, by_1k, looped, whole / river, "yes" if same else "NO"]
        )
        results[f"adwin_{label.split(',')[0].split()[0]}"] = {
            "values": n,
            "alarms": len(ours),
            "river_values_per_s": sig(river),
            "update_many_values_per_s": sig(whole),
            "batches_10k_values_per_s": sig(by_10k),
            "batches_1k_values_per_s": sig(by_1k),
            "looped_update_values_per_s": sig(looped),
            "ratio_update_many_vs_river": sig(whole / river),
            "same_alarms_as_river": same,
        }

    m = 20_000 if quick else 200_000
    river_n = 2_000 if quick else 10_000
    river = river_rate(lambda: drift.KSWIN(seed=1), steady[:river_n])
    whole = m / _cpu_seconds(lambda: KSWIN(seed=1).update_many(steady[:m]), repeats)
    by_1k = m / _cpu_seconds(batched(lambda: KSWIN(seed=1), steady[:m], 1_000), repeats)
    looped = 5_000 / _cpu_seconds(lambda: [d := KSWIN(seed=1), *map(d.update, steady[:5_000].tolist())], 1)
    rows.append(["KSWIN, stationary", m, None, river, whole, None, by_1k, looped, whole / river, "n/a (RNG)"])
    results["kswin_stationary"] = {
        "values": m,
        "river_values": river_n,
        "river_values_per_s": sig(river),
        "update_many_values_per_s": sig(whole),
        "batches_1k_values_per_s": sig(by_1k),
        "looped_update_values_per_s": sig(looped),
        "ratio_update_many_vs_river": sig(whole / river),
    }
    return rows, results


def _delays(alarm_lists: Sequence[Sequence[int]], pre: int, post: int) -> dict[str, Any]:
    false = sum(sum(1 for a in alarms if a < pre) for alarms in alarm_lists)
    delays = [next((a - pre for a in alarms if a >= pre), None) for alarms in alarm_lists]
    found = [d for d in delays if d is not None]
    return {
        "false_alarms_per_10k": sig(1e4 * false / (pre * len(alarm_lists))),
        "mean_delay": sig(statistics.fmean(found)) if found else None,
        "median_delay": sig(statistics.median(found)) if found else None,
        "missed": len(delays) - len(found),
        "streams": len(alarm_lists),
        "values_after_change": post,
    }


def _delay_tables(quick: bool) -> tuple[list[list[object]], dict[str, Any]]:
    rows: list[list[object]] = []
    results: dict[str, Any] = {}
    setups: list[tuple[str, Callable[[], Any], Callable[[], Any], int, int, int]] = [
        # name, ours, river's, streams, values before, values after
        ("ADWIN (delta 0.002)", ADWIN, drift.ADWIN, 20 if quick else 200, 5_000, 3_000),
        (
            "KSWIN (alpha 1e-4)",
            lambda: KSWIN(alpha=1e-4, seed=7),
            lambda: drift.KSWIN(alpha=1e-4, seed=7),
            5 if quick else 30,
            2_000,
            1_000,
        ),
    ]
    for name, ours, theirs, reps, pre, post in setups:
        for mu in (0.5, 1.0, 2.0):
            rng = np.random.default_rng(int(mu * 100))
            streams = [np.concatenate([rng.normal(0.0, 1.0, pre), rng.normal(mu, 1.0, post)]) for _ in range(reps)]
            mine = _delays([ours().update_many(xs).tolist() for xs in streams], pre, post)
            river = _delays([_river_alarms(theirs(), xs) for xs in streams], pre, post)
            for who, figures in (("driftline", mine), ("river", river)):
                rows.append(
                    [
                        f"{name}, shift {mu:g}: {who}",
                        figures["streams"],
                        figures["false_alarms_per_10k"],
                        figures["mean_delay"],
                        figures["median_delay"],
                        figures["missed"],
                    ]
                )
                results[f"{name.split()[0].lower()}_shift_{mu:g}_{who}"] = figures
    return rows, results


def run(options: Options) -> Report:
    speed_rows, speed = _throughput(options.quick)
    delay_rows, delay = _delay_tables(options.quick)
    text = table(
        [
            "detector, stream",
            "values",
            "alarms",
            "river /s",
            "update_many /s",
            "10k batches /s",
            "1k batches /s",
            "update() /s",
            "x river",
            "same alarms",
        ],
        speed_rows,
        title="Throughput (values per CPU second; river value by value)",
    )
    text += [""]
    text += table(
        ["detector, shift (sd): library", "streams", "false /10k", "mean delay", "median delay", "missed"],
        delay_rows,
        title="Detection delay after an abrupt mean shift, same streams, same parameters",
    )
    return Report(config={"quick": options.quick}, results={"throughput": speed, "delay": delay}, text=text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adwin_kswin", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")
    args = parser.parse_args(argv)
    for line in run(Options(quick=args.quick)).text:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _adwin_whole(xs: npt.NDArray[np.float64]) -> None:
    ADWIN().update_many(xs)


def _adwin_looped(xs: npt.NDArray[np.float64]) -> None:
    detector = ADWIN()
    for x in xs.tolist():
        detector.update(x)
