"""Window drift tests: Driftline against Evidently's data-drift report and plain scipy.

Data: 20 numerical and 5 categorical columns, reference and current of the same
size (10k, 100k, 1M rows), with 3 numerical and 1 categorical column shifted.
Both sides get the data from the same Parquet files.

Driftline is timed two ways:

* **at window close** — what the service does when a window closes: the
  reference profile exists (built once per model version) and the window's
  sketches were filled as events arrived; only the tests run.
* **from raw data** — reference profiling, filling the window sketches from the
  raw current columns, and the tests: the fair comparison with tools that start
  from two data frames each time.

Evidently runs ``Report([DataDriftPreset()]).run(current, reference)`` in its own
environment (see ``bench/_peers.py``); the second of two runs is timed, so
import and first-call costs are excluded. scipy runs ``ks_2samp`` per numerical
column and a chi-square test per categorical column on the raw data.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench._harness import Options, Report, median, sig, table, time_calls
from bench._peers import PeerUnavailable, run_in_peer
from detectors.sketches import CategoricalWindow, NumericReference, NumericWindow
from monitor.drift import evaluate_window
from monitor.references import Profile, build_profiles
from monitor.settings import Settings
from monitor.windows import WindowSet

N_NUMERIC, N_CATEGORICAL = 20, 5
SHIFTED_NUMERIC = ("n0", "n1", "n2")
SHIFTED_CATEGORICAL = ("c0",)
CHUNK_ROWS = 65_536

_EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
definition = DataDefinition(
    numerical_columns=[c for c in reference.columns if c.startswith("n")],
    categorical_columns=[c for c in reference.columns if c.startswith("c")],
)
seconds = []
for _ in range(2):
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds.append(time.perf_counter() - started)
drifted = []
for metric in result["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift") and metric["value"] >= config["threshold"]:
        drifted.append(config["column"])
print(json.dumps({"seconds": seconds[-1], "drifted": sorted(drifted)}))
"""


def make_table(rng: np.random.Generator, rows: int, *, shifted: bool) -> pa.Table:
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        shift = 0.5 if shifted and f"n{i}" in SHIFTED_NUMERIC else 0.0
        columns[f"n{i}"] = rng.normal(shift + i, 1.0 + i / 10, rows)
    for i in range(N_CATEGORICAL):
        k = 5 + 3 * i
        p = np.linspace(1.0, 2.0, k)
        if shifted and f"c{i}" in SHIFTED_CATEGORICAL:
            p = p[::-1]
        columns[f"c{i}"] = rng.choice([f"v{j}" for j in range(k)], rows, p=p / p.sum())
    return pa.table(columns)


def fill_window(current: pa.Table, profiles: dict[str, Profile], capacity: int) -> WindowSet:
    """The window sketches, filled chunk by chunk as the service fills them from batches."""
    features: dict[str, NumericWindow | CategoricalWindow] = {}
    for name, profile in profiles.items():
        features[name] = (
            NumericWindow(edges=profile.edges, capacity=capacity, seed=1)
            if isinstance(profile, NumericReference)
            else CategoricalWindow()
        )
    for batch in current.to_batches(max_chunksize=CHUNK_ROWS):
        for name, window in features.items():
            column = batch.column(name)
            if isinstance(window, NumericWindow):
                window.update(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
            else:
                window.update(np.asarray(column.to_numpy(zero_copy_only=False), dtype=object))
    return WindowSet(start=0.0, end=1.0, n=current.num_rows, features=features)


def scipy_tests(reference: pa.Table, current: pa.Table) -> list[str]:
    from scipy import stats

    drifted = []
    for name in reference.column_names:
        ref = reference.column(name).to_numpy(zero_copy_only=False)
        cur = current.column(name).to_numpy(zero_copy_only=False)
        if name.startswith("n"):
            p = stats.ks_2samp(ref, cur).pvalue
        else:
            categories, ref_counts = np.unique(ref, return_counts=True)
            cur_counts = np.asarray([np.count_nonzero(cur == c) for c in categories])
            p = stats.chi2_contingency(np.vstack([ref_counts, cur_counts])).pvalue
        if p < 0.05 / reference.num_columns:
            drifted.append(name)
    return drifted


def run(options: Options) -> Report:
    settings = Settings()
    sizes = [10_000, 100_000] if options.quick else [10_000, 100_000, 1_000_000]
    rows_out: list[list[object]] = []
    results: dict[str, Any] = {}
    expected = sorted(SHIFTED_NUMERIC + SHIFTED_CATEGORICAL)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-") as tmp:
        for size in sizes:
            rng = np.random.default_rng(size)
            reference, current = make_table(rng, size, shifted=False), make_table(rng, size, shifted=True)
            ref_path, cur_path = Path(tmp) / f"ref{size}.parquet", Path(tmp) / f"cur{size}.parquet"
            pq.write_table(reference, ref_path)
            pq.write_table(current, cur_path)

            repeats = 3 if size >= 1_000_000 else 5
            profiles = build_profiles(reference, n_bins=settings.reference_bins, sample_size=settings.reference_sample_size)
            window = fill_window(current, profiles, settings.window_sample_size)
            close_s = median(time_calls(lambda: evaluate_window(window, profiles), repeats))  # noqa: B023
            flagged = sorted(r.feature for r in evaluate_window(window, profiles) if r.result.drift_detected)

            def from_raw() -> None:
                built = build_profiles(reference, n_bins=settings.reference_bins, sample_size=settings.reference_sample_size)  # noqa: B023
                evaluate_window(fill_window(current, built, settings.window_sample_size), built)  # noqa: B023

            raw_s = median(time_calls(from_raw, repeats, warmup=0))
            started = time.perf_counter()
            scipy_flagged = scipy_tests(reference, current)
            scipy_s = time.perf_counter() - started
            try:
                evidently = run_in_peer("evidently", _EVIDENTLY, str(ref_path), str(cur_path))
                evidently_s: float | None = float(evidently["seconds"])
                evidently_flagged: list[str] | None = evidently["drifted"]
            except PeerUnavailable as exc:
                evidently_s, evidently_flagged = None, None
                print(f"  evidently unavailable: {exc}")
            ratio = None if evidently_s is None else evidently_s / raw_s
            rows_out.append(
                [
                    f"{size:,}",
                    close_s * 1e3,
                    raw_s,
                    scipy_s,
                    evidently_s,
                    None if evidently_s is None else evidently_s / close_s,
                    ratio,
                    "yes" if flagged == expected else f"no: {flagged}",
                ]
            )
            results[str(size)] = {
                "driftline_window_close_seconds": sig(close_s),
                "driftline_from_raw_seconds": sig(raw_s),
                "scipy_seconds": sig(scipy_s),
                "evidently_seconds": sig(evidently_s),
                "evidently_over_driftline_from_raw": sig(ratio),
                "driftline_flagged": flagged,
                "scipy_flagged": scipy_flagged,
                "evidently_flagged": evidently_flagged,
            }
    text = table(
        ["rows", "close ms", "raw s", "scipy s", "evidently s", "x at close", "x from raw", "right columns"],
        rows_out,
        title=f"{N_NUMERIC} numerical + {N_CATEGORICAL} categorical columns; shifted: {', '.join(expected)}",
    )
    text.append("")
    verdicts: list[str] = []
    for row in rows_out:
        ratio_close, ratio_raw = row[5], row[6]
        if isinstance(ratio_close, float) and isinstance(ratio_raw, float):
            verdicts.append(
                f"{row[0]} rows: at close {'met' if ratio_close >= 50 else 'not met'}, "
                f"from raw {'met' if ratio_raw >= 50 else 'not met'} ({ratio_raw:.0f}x)"
            )
    text.append(
        "target: window tests >= 50x faster than Evidently's data-drift report: "
        + ("; ".join(verdicts) if verdicts else "not measured (Evidently unavailable)")
    )
    config = {"numeric": N_NUMERIC, "categorical": N_CATEGORICAL, "sizes": sizes, "chunk_rows": CHUNK_ROWS}
    return Report(config=config, results=results, text=text)
