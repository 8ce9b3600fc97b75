"""Compare two datasets column by column: the batch quality gate behind ``driftline check``.

The gate runs the service's own tests and rules on two files instead of a live window:

1. The **reference** file is profiled with :func:`monitor.references.build_profiles`, as an
   uploaded reference is (quantile bins and an exact sample for numbers, top categories for
   everything else), with the service's ``reference_*`` settings.
2. The **current** file is streamed in record batches into the window sketches the pipeline
   fills (:class:`~detectors.sketches.NumericWindow` on the reference's bin edges with a
   ``window_sample_size`` reservoir, :class:`~detectors.sketches.CategoricalWindow`), so memory
   does not grow with its length.
3. :func:`monitor.drift.evaluate_window` selects each feature's test and applies family-wise
   control at ``drift_alpha`` with ``family_method``.

A later change to the test rules therefore applies to the service and to the gate alike.
Prefer this over an ad-hoc script when a CI job must block a dataset the service would alarm on.

Every column gets one status; the first four fail the gate (exit code 1):

================  =====  ======================================================================
status            fails  meaning
================  =====  ======================================================================
``drift``         yes    the feature's test flagged drift
``type_changed``  yes    the column's type family differs (number, text, boolean, time, ...)
``missing``       yes    in the reference, absent from the current file
``no_data``       yes    present, but every current value is null
``ok``            no     tested, no drift
``new``           no     only in the current file: there is no reference to test it against
``skipped``       no     reserved column (timestamp, prediction_id, prediction, score, latency,
                         label): not a feature, as in the service
================  =====  ======================================================================

Type changes fail the gate rather than count as bad input (exit code 2): both files are
readable, every other column can still be tested, and a model fed text where it was trained on
numbers is exactly what a gate should stop. (The service skips such a column silently; a gate
must not.) Integers against decimals are the same family, as both are numerical features.
Parquet columns carry their types. CSV columns are typed as Arrow types them over the whole
file; the current file is read with the reference's types, and a value that does not fit (text
in a numerical column, say, even on row 900,000) is a type change. Against a text reference
column every CSV value fits, so there a column turned numerical shows as drift in its
categories. Exit code 2 is kept for inputs that cannot be compared at all: missing, empty,
unreadable or not CSV/Parquet files, no rows, no feature columns, duplicate column names, or a
reference column without a single value (the service refuses such a reference too).

Memory and time
---------------
Both files are streamed. The current file costs one record batch (``batch_rows`` rows, or a
16 MiB CSV block) plus the sketches: ``O(bins + window_sample_size)`` per numerical and
``O(categories)`` per categorical column, whatever its length. The reference's exact quantiles
need every value of a column at once: a Parquet reference is read one column at a time (a few
columns at once, one per thread), so it costs a few columns; a CSV reference cannot be read by
column, so its columns are kept in Arrow form (8 bytes per numerical cell) until each is
profiled and released. (Arrow's whole-file ``read_csv`` would hold three to four times that
while it settles types; streaming infers types from the first block instead and re-reads the
file if a column turns out to be text, which gives the same types.) Prefer Parquet for large
references. Columns are profiled and fed on a few threads; the report does not depend on them.
Measured for two files of 1M rows x 100 columns (95 numerical, 5 categorical): Parquet (750 MB
each) 15 s of CPU time and 0.7 GiB peak RSS; CSV (1.8 GB each) 41 s of CPU and 1.3 GiB.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> import pyarrow as pa, pyarrow.csv as pa_csv
>>> rng = np.random.default_rng(7)
>>> folder = tempfile.TemporaryDirectory()
>>> def write(name, shift):
...     table = pa.table({
...         "age": rng.normal(40 + 10 * shift, 10, 3000),
...         "plan": rng.choice(["basic", "pro"], 3000, p=[0.7 - 0.4 * shift, 0.3 + 0.4 * shift]),
...         "income": rng.lognormal(10, 1, 3000),
...     })
...     pa_csv.write_csv(table, f"{folder.name}/{name}")
...     return Path(folder.name, name)
>>> report = run_check(write("train.csv", 0), write("today.csv", 1))
>>> [(f.feature, f.status) for f in report.ranked()]
[('age', 'drift'), ('plan', 'drift'), ('income', 'ok')]
>>> report.exit_code
1
>>> folder.cleanup()
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from collectors.records import Kind
from detectors.distribution import DriftTestResult
from detectors.sketches import CategoricalReference, CategoricalWindow, NumericReference, NumericWindow
from monitor._sources import CheckInputError, ColumnStoppedParsing, Source
from monitor.drift import evaluate_window
from monitor.references import RESERVED_COLUMNS, Profile, TableFormatError, build_profiles, profile_kind
from monitor.settings import Settings
from monitor.windows import WindowSet, new_feature_window

__all__ = [
    "FAILING_STATUSES",
    "CheckInputError",
    "CheckReport",
    "DatasetInfo",
    "FeatureCheck",
    "Histogram",
    "Progress",
    "Rules",
    "Status",
    "run_check",
]

Status = Literal["drift", "type_changed", "missing", "no_data", "ok", "new", "skipped"]
#: Statuses that fail the gate, most severe first.
FAILING_STATUSES: tuple[Status, ...] = ("drift", "type_changed", "missing", "no_data")
_RANK: dict[str, int] = {s: i for i, s in enumerate((*FAILING_STATUSES, "ok", "new", "skipped"))}

#: ``progress(stage, done, total)``, ``stage`` one of ``"reference_rows"`` (a CSV reference
#: being read), ``"reference_columns"`` (columns profiled) and ``"current_rows"``; ``total`` is
#: ``None`` when unknown (a CSV's row count). ``done`` is cumulative and starts again at 0 when
#: a CSV file has to be re-read because a column changed type partway through.
Progress = Callable[[str, int, int | None], None]

_HISTOGRAM_BINS = 30
_TOP_CATEGORIES = 12


@dataclass(frozen=True, slots=True)
class Rules:
    """The service settings the gate applies (see :class:`monitor.settings.Settings`)."""

    reference_bins: int
    reference_sample_size: int
    reference_max_categories: int
    window_sample_size: int
    drift_alpha: float
    family_method: Literal["bh", "bonferroni", "none"]

    @staticmethod
    def from_settings(settings: Settings) -> Rules:
        return Rules(
            reference_bins=settings.reference_bins,
            reference_sample_size=settings.reference_sample_size,
            reference_max_categories=settings.reference_max_categories,
            window_sample_size=settings.window_sample_size,
            drift_alpha=settings.drift_alpha,
            family_method=settings.family_method,
        )


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One input file as read: where, which format, how many rows and columns."""

    path: str
    format: Literal["csv", "parquet"]
    rows: int
    columns: int


@dataclass(frozen=True, slots=True)
class Histogram:
    """Reference and current shares over the same bins, for plots.

    Numerical features: ``edges`` bound equal-width bins over the central 99% of both
    samples (values beyond fall in the end bins); the shares come from the reference's exact
    sample and the current reservoir. Categorical features: ``labels`` are the reference's
    most frequent categories plus ``"(other)"``, shares from the full counts.
    """

    kind: Kind
    edges: tuple[float, ...]
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class FeatureCheck:
    """The gate's verdict on one column."""

    feature: str
    kind: Kind
    status: Status
    message: str
    result: DriftTestResult | None = None
    n_reference: int | None = None
    n_current: int | None = None
    nulls_reference: int | None = None
    nulls_current: int | None = None
    mean_reference: float | None = None
    mean_current: float | None = None
    std_reference: float | None = None
    std_current: float | None = None
    histogram: Histogram | None = None

    @property
    def failed(self) -> bool:
        """Whether this column fails the gate (drift, type change, missing, no data)."""
        return self.status in FAILING_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The API's drift-result fields plus the gate's; every key always present.

        ``drift_detected`` is true exactly when the column fails the gate; ``status`` says why.
        """
        r = self.result
        return {
            "feature": self.feature,
            "kind": self.kind,
            "status": self.status,
            "test": None if r is None else r.test,
            "statistic": None if r is None else _finite(r.statistic),
            "p_value": None if r is None else _finite(r.p_value),
            "effect_size": None if r is None else _finite(r.effect_size),
            "threshold": None if r is None else _finite(r.threshold),
            "drift_detected": self.failed,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "nulls_reference": self.nulls_reference,
            "nulls_current": self.nulls_current,
            "mean_reference": _finite(self.mean_reference),
            "mean_current": _finite(self.mean_current),
            "std_reference": _finite(self.std_reference),
            "std_current": _finite(self.std_current),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything one ``driftline check`` found; ``features`` are sorted by name."""

    reference: DatasetInfo
    current: DatasetInfo
    rules: Rules
    features: tuple[FeatureCheck, ...]
    elapsed_seconds: float

    @property
    def drift_detected(self) -> bool:
        return any(f.failed for f in self.features)

    @property
    def exit_code(self) -> int:
        """0 when every column passes, 1 when any fails (2, bad input, never gets a report)."""
        return 1 if self.drift_detected else 0

    def count(self, status: Status) -> int:
        return sum(1 for f in self.features if f.status == status)

    def ranked(self) -> tuple[FeatureCheck, ...]:
        """Failing columns first (drift, type change, missing, no data), largest effect first."""

        def key(f: FeatureCheck) -> tuple[int, float, str]:
            effect = f.result.effect_size if f.result is not None and math.isfinite(f.result.effect_size) else 0.0
            return (_RANK[f.status], -effect, f.feature)

        return tuple(sorted(self.features, key=key))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary with stable keys."""
        statuses: tuple[Status, ...] = (*FAILING_STATUSES, "ok", "new", "skipped")
        return {
            "drift_detected": self.drift_detected,
            "exit_code": self.exit_code,
            "reference": _dataset_dict(self.reference),
            "current": _dataset_dict(self.current),
            "settings": {
                "reference_bins": self.rules.reference_bins,
                "reference_sample_size": self.rules.reference_sample_size,
                "reference_max_categories": self.rules.reference_max_categories,
                "window_sample_size": self.rules.window_sample_size,
                "drift_alpha": self.rules.drift_alpha,
                "family_method": self.rules.family_method,
            },
            "summary": {
                "columns": len(self.features),
                "tested": sum(1 for f in self.features if f.result is not None),
                "failing": sum(1 for f in self.features if f.failed),
                "by_status": {status: self.count(status) for status in statuses},
            },
            "features": [f.to_dict() for f in self.features],
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def _dataset_dict(info: DatasetInfo) -> dict[str, Any]:
    return {"path": info.path, "format": info.format, "rows": info.rows, "columns": info.columns}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# -- the check ------------------------------------------------------------------------------------


def run_check(
    reference: Path | str,
    current: Path | str,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    batch_rows: int = 65_536,
) -> CheckReport:
    """Compare ``current`` against ``reference`` (CSV or Parquet files) with the service's rules.

    Parameters
    ----------
    reference, current : path
        ``.csv``/``.tsv`` (optionally ``.gz``/``.bz2``/``.zst``) or Parquet files.
    settings : Settings, optional
        The service settings to apply; default ``Settings()`` (defaults and ``DRIFTLINE_*``).
    progress : callable, optional
        ``progress(stage, done, total)``, see :data:`Progress`.
    batch_rows : int, default 65536
        Rows per record batch read from a Parquet file (CSV files are read 16 MiB at a time).
        Larger: a little faster, more memory.

    Raises
    ------
    CheckInputError
        When the files cannot be compared (exit code 2 on the command line).
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    started = time.perf_counter()
    rules = Rules.from_settings(settings if settings is not None else Settings())
    ref_source = Source.open(Path(reference))
    cur_source = Source.open(Path(current))
    try:
        return _run(ref_source, cur_source, rules, batch_rows, progress, started)
    finally:
        ref_source.close()
        cur_source.close()


def _run(
    ref_source: Source, cur_source: Source, rules: Rules, batch_rows: int, progress: Progress | None, started: float
) -> CheckReport:
    cur_types = cur_source.first_types()  # a bad current file fails before the reference is read
    if cur_source.format == "parquet" and cur_source.parquet_rows() == 0:
        raise CheckInputError(f"{cur_source.path}: the file has no rows", path=cur_source.path)
    profiles, ref_types, ref_rows = _profile_reference(ref_source, rules, batch_rows, progress)

    checks: dict[str, FeatureCheck] = {}
    comparable: dict[str, Profile] = {}
    for name in ref_types:
        if name in RESERVED_COLUMNS:
            checks[name] = FeatureCheck(name, _kind(ref_types[name]), "skipped", "reserved column: not a feature")
        elif name not in cur_types:
            p = profiles[name]
            checks[name] = FeatureCheck(
                name, profile_kind(p), "missing", "absent from the current file", n_reference=p.n, nulls_reference=p.nulls
            )
        elif (changed := _type_change(ref_types[name], cur_types[name], csv=cur_source.format == "csv")) is not None:
            checks[name] = _type_changed(name, profiles[name], changed)
        else:
            comparable[name] = profiles[name]
    for name, type_ in cur_types.items():
        if name not in ref_types:
            status: Status = "skipped" if name in RESERVED_COLUMNS else "new"
            message = "reserved column: not a feature" if status == "skipped" else "only in the current file: no reference"
            checks[name] = FeatureCheck(name, _kind(type_), status, message)

    while True:  # a CSV column that stops parsing is set aside and the file re-read
        windows = _new_windows(comparable, rules)
        try:
            cur_rows = _fill(cur_source, windows, ref_types, batch_rows, progress)
            break
        except ColumnStoppedParsing as stop:
            profile = comparable.pop(stop.column)
            checks[stop.column] = _type_changed(
                stop.column,
                profile,
                f"type changed: {_family(ref_types[stop.column])} in the reference, but the current file has {stop.reason}",
            )

    window_set = WindowSet(start=0.0, end=0.0, n=cur_rows, features=dict(windows))
    results = {
        drift.feature: drift.result
        for drift in evaluate_window(window_set, comparable, alpha=rules.drift_alpha, method=rules.family_method)
    }
    for name, profile in comparable.items():
        checks[name] = _tested(name, profile, windows[name], results.get(name))

    return CheckReport(
        reference=DatasetInfo(str(ref_source.path), ref_source.format, ref_rows, len(ref_types)),
        current=DatasetInfo(str(cur_source.path), cur_source.format, cur_rows, len(cur_types)),
        rules=rules,
        features=tuple(checks[name] for name in sorted(checks)),
        elapsed_seconds=time.perf_counter() - started,
    )


def _profile_reference(
    source: Source, rules: Rules, batch_rows: int, progress: Progress | None
) -> tuple[dict[str, Profile], dict[str, pa.DataType], int]:
    """Profiles of the reference's feature columns, its column types and row count."""
    if source.format == "parquet":
        types = source.first_types()
        rows = source.parquet_rows()

        def column(name: str) -> pa.Table:
            return source.read_parquet_column(name)

    else:
        chunks, types, rows = _read_csv_reference(source, batch_rows, progress)

        def column(name: str) -> pa.Table:
            return pa.table({name: pa.chunked_array(chunks.pop(name), type=types[name])})  # released once profiled

    if rows == 0:
        raise CheckInputError(f"{source.path}: the file has no rows", path=source.path)
    features = [name for name in types if name not in RESERVED_COLUMNS]
    if not features:
        raise CheckInputError(
            f"{source.path}: no feature columns (only reserved ones: {', '.join(sorted(types))})", path=source.path
        )

    def profile(name: str) -> dict[str, Profile]:
        try:
            return build_profiles(
                column(name),
                n_bins=rules.reference_bins,
                sample_size=rules.reference_sample_size,
                max_categories=rules.reference_max_categories,
            )
        except TableFormatError as exc:
            raise CheckInputError(f"{source.path}: {exc}", path=source.path) from None

    if progress is not None:
        progress("reference_columns", 0, len(features))
    profiles: dict[str, Profile] = {}
    # Columns are independent and numpy's binning releases the GIL: profile a few side by side.
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        try:
            for done, one in enumerate(pool.map(profile, features), start=1):
                profiles.update(one)
                if progress is not None:
                    progress("reference_columns", done, len(features))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return profiles, types, rows


def _read_csv_reference(
    source: Source, batch_rows: int, progress: Progress | None
) -> tuple[dict[str, list[pa.Array]], dict[str, pa.DataType], int]:
    """Stream a CSV reference into per-column chunks, typed as a whole-file parse would type them.

    Arrow's whole-file ``read_csv`` settles types over the whole file but holds about three
    times the table meanwhile. Streaming infers from the first block instead, so numbers are
    read as float64 (integers may turn decimal later; build_profiles takes float64 anyway)
    and a column that stops parsing is re-read as text: the type a whole-file parse gives it.
    """
    types = {
        name: pa.float64() if _kind(type_) == "numeric" or pa.types.is_null(type_) else type_
        for name, type_ in source.first_types().items()
    }
    features = [name for name in types if name not in RESERVED_COLUMNS]
    while True:
        chunks: dict[str, list[pa.Array]] = {name: [] for name in features}
        rows = 0
        if progress is not None:
            progress("reference_rows", 0, None)
        try:
            for batch in source.batches(features, batch_rows, {name: types[name] for name in features}):
                for name in features:
                    chunks[name].append(batch.column(name))
                rows += batch.num_rows
                if progress is not None:
                    progress("reference_rows", rows, None)
            return chunks, types, rows
        except ColumnStoppedParsing as stop:
            if pa.types.is_string(types[stop.column]):
                raise CheckInputError(
                    f"{source.path}: cannot read as CSV: column {stop.column!r}: {stop.reason}", path=source.path
                ) from None
            types[stop.column] = pa.string()


def _workers() -> int:
    """Threads for column-parallel work: the CPUs this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _new_windows(profiles: dict[str, Profile], rules: Rules) -> dict[str, NumericWindow | CategoricalWindow]:
    # The same sketches monitor.windows opens for a referenced feature; seeded by column order
    # so that a report is reproducible.
    return {
        name: new_feature_window(profile_kind(profile), profile, rules.window_sample_size, seed)
        for seed, (name, profile) in enumerate(sorted(profiles.items()))
    }


def _tested(
    name: str, profile: Profile, window: NumericWindow | CategoricalWindow, result: DriftTestResult | None
) -> FeatureCheck:
    numeric = isinstance(profile, NumericReference) and isinstance(window, NumericWindow) and window.n > 0
    if result is None:
        status: Status = "no_data"
        message = "every current value is null"
    elif result.drift_detected:
        status, message = "drift", _verdict(result, drifted=True)
    else:
        status, message = "ok", _verdict(result, drifted=False)
    return FeatureCheck(
        name,
        profile_kind(profile),
        status,
        message,
        result,
        n_reference=profile.n,
        n_current=window.n,
        nulls_reference=profile.nulls,
        nulls_current=window.nulls,
        mean_reference=profile.mean if isinstance(profile, NumericReference) else None,
        std_reference=profile.std if isinstance(profile, NumericReference) else None,
        mean_current=window.mean if numeric and isinstance(window, NumericWindow) else None,
        std_current=window.std if numeric and isinstance(window, NumericWindow) else None,
        histogram=None if result is None else _histogram(profile, window),
    )


def _verdict(r: DriftTestResult, *, drifted: bool) -> str:
    if r.p_value is None:
        op = ">=" if r.statistic >= r.threshold else "<"
        return f"{r.test} {r.statistic:.4g} {op} threshold {r.threshold:.4g}"
    if drifted:
        return f"{r.test} p={r.p_value:.3g} < {r.threshold:.3g} and effect {r.effect_size:.3g} >= {r.min_effect:.3g}"
    if r.p_value < r.threshold:
        return f"{r.test} p={r.p_value:.3g} but effect {r.effect_size:.3g} < floor {r.min_effect:.3g}"
    return f"{r.test} p={r.p_value:.3g} >= {r.threshold:.3g}"


def _type_changed(name: str, profile: Profile, why: str) -> FeatureCheck:
    return FeatureCheck(name, profile_kind(profile), "type_changed", why, n_reference=profile.n, nulls_reference=profile.nulls)


# -- types ----------------------------------------------------------------------------------------


def _kind(type_: pa.DataType) -> Kind:
    """The kind build_profiles gives a column of this type."""
    return "numeric" if pa.types.is_integer(type_) or pa.types.is_floating(type_) else "categorical"


def _family(type_: pa.DataType) -> str | None:
    """What a value of this type *is*, for telling a real type change from a storage detail."""
    if pa.types.is_null(type_):
        return None  # no values seen: compatible with anything
    if pa.types.is_dictionary(type_):
        return _family(type_.value_type)
    if pa.types.is_integer(type_) or pa.types.is_floating(type_):
        return "number"
    if pa.types.is_boolean(type_):
        return "boolean"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or str(type_) == "string_view":
        return "text"
    if pa.types.is_temporal(type_):
        return "time"
    return str(type_)


def _type_change(reference: pa.DataType, current: pa.DataType, *, csv: bool) -> str | None:
    """Why the two types are not comparable, or None.

    A CSV's ``current`` type is inferred from its first block only, and every CSV value can be
    read as text: against a text reference column, a CSV column is read as text and compared.
    """
    ref, cur = _family(reference), _family(current)
    if ref is None or cur is None or ref == cur or (csv and ref == "text"):
        return None
    return f"type changed: {ref} ({reference}) in the reference, {cur} ({current}) in the current file"


def _feed(window: NumericWindow | CategoricalWindow, array: pa.Array) -> None:
    if isinstance(window, NumericWindow):
        window.update(_floats(array))
    else:
        _add_categories(window, array)


def _floats(array: pa.Array) -> npt.NDArray[np.float64]:
    """Numbers as float64 with NaN for nulls, as the pipeline's columns hold them."""
    return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _add_categories(window: CategoricalWindow, array: pa.Array) -> None:
    """Count categories under the names build_profiles gives them ("true"/"false", str(v))."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if _family(array.type) in ("text", "boolean") or pa.types.is_null(array.type):
        if not pa.types.is_string(array.type):
            array = array.cast(pa.string())  # booleans become "true"/"false", as in build_profiles
        counts = pc.value_counts(array)
        names, numbers = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
        present = {name: count for name, count in zip(names, numbers, strict=True) if name is not None}
        window.merge(CategoricalWindow(counts=present, n=sum(present.values()), nulls=array.null_count))
    else:  # dates, decimals, ...: str() of the Python value, exactly as the reference was named
        window.update(np.asarray([None if v is None else str(v) for v in array.to_pylist()], dtype=object))


def _fill(
    source: Source,
    windows: dict[str, NumericWindow | CategoricalWindow],
    ref_types: dict[str, pa.DataType],
    batch_rows: int,
    progress: Progress | None,
) -> int:
    """Stream the current file's rows into ``windows``; return the number of rows."""
    total = source.parquet_rows() if source.format == "parquet" else None
    types: dict[str, pa.DataType] = {}
    if source.format == "csv":
        # Read each column as the reference's type: numbers as float64 (a first block of
        # integers may be followed by decimals), text as text (any value fits), booleans and
        # times as the reference parsed them. A value that does not fit is a type change.
        for name, window in windows.items():
            if isinstance(window, NumericWindow):
                types[name] = pa.float64()
            elif _family(ref_types[name]) == "text":
                types[name] = pa.string()
            else:
                types[name] = ref_types[name]
    if progress is not None:
        progress("current_rows", 0, total)
    rows = 0
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        for batch in source.batches(list(windows), batch_rows, types):
            # Each window takes its batches in file order, so the result does not depend on
            # the threads: only different columns run side by side.
            list(pool.map(_feed, windows.values(), (batch.column(name) for name in windows)))
            rows += batch.num_rows
            if progress is not None:
                progress("current_rows", rows, total)
    if rows == 0:
        raise CheckInputError(f"{source.path}: the file has no rows", path=source.path)
    return rows


# -- plots ----------------------------------------------------------------------------------------


def _histogram(profile: Profile, window: NumericWindow | CategoricalWindow) -> Histogram | None:
    if isinstance(profile, NumericReference) and isinstance(window, NumericWindow):
        ref, cur = profile.sample, window.sample
        if ref.size == 0 or cur.size == 0:
            return None
        lo = float(min(np.quantile(ref, 0.005), np.quantile(cur, 0.005)))
        hi = float(max(np.quantile(ref, 0.995), np.quantile(cur, 0.995)))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, _HISTOGRAM_BINS + 1)
        return Histogram("numeric", tuple(edges.tolist()), (), _shares(ref, edges), _shares(cur, edges))
    if isinstance(profile, CategoricalReference) and isinstance(window, CategoricalWindow):
        ref_counts = profile.counts.astype(np.float64)
        cur_counts = profile.align(window.counts).astype(np.float64)
        top = min(_TOP_CATEGORIES, len(profile.categories))
        labels = (*profile.categories[:top], "(other)")
        ref_shown = np.append(ref_counts[:top], ref_counts[top:].sum())
        cur_shown = np.append(cur_counts[:top], cur_counts[top:].sum())
        if labels[-1] == "(other)" and ref_shown[-1] == 0 and cur_shown[-1] == 0:
            labels, ref_shown, cur_shown = labels[:-1], ref_shown[:-1], cur_shown[:-1]
        return Histogram("categorical", (), labels, _normalise(ref_shown), _normalise(cur_shown))
    return None


def _shares(sample: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> tuple[float, ...]:
    counts, _ = np.histogram(np.clip(sample, edges[0], edges[-1]), bins=edges)
    return _normalise(counts.astype(np.float64))


def _normalise(counts: npt.NDArray[np.float64]) -> tuple[float, ...]:
    total = float(counts.sum())
    return tuple((counts / total).tolist()) if total > 0 else tuple(0.0 for _ in counts)
