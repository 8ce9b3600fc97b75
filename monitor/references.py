"""Reference profiles: building them from tabular data and keeping them at hand."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from collectors.records import Kind
from detectors.sketches import CategoricalReference, NumericReference

__all__ = ["Profile", "ReferenceStore", "TableFormatError", "build_profiles", "profile_from_dict", "profile_kind", "read_table"]

Profile = NumericReference | CategoricalReference

#: Columns of a reference table that describe the prediction, not an input feature.
RESERVED_COLUMNS = frozenset({"timestamp", "prediction_id", "prediction", "score", "latency", "label"})


class TableFormatError(ValueError):
    """A reference upload that cannot be read as a table."""


def read_table(data: bytes, content_type: str | None = None, *, filename: str | None = None) -> pa.Table:
    """Read CSV, Parquet or JSON records (a list of objects) into an Arrow table."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").lower()
    try:
        if (
            data[:4] == b"PAR1"
            or kind in ("application/vnd.apache.parquet", "application/x-parquet")
            or name.endswith(".parquet")
        ):
            return pq.read_table(io.BytesIO(data))
        if kind == "application/json" or name.endswith(".json") or data.lstrip()[:1] == b"[":
            records = json.loads(data)
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise TableFormatError("JSON reference must be a list of objects (one per row)")
            return pa.Table.from_pylist(records)
        return pa_csv.read_csv(io.BytesIO(data))
    except TableFormatError:
        raise
    except (pa.ArrowException, json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise TableFormatError(f"cannot read the reference as CSV, Parquet or JSON records: {exc}") from None
    except RecursionError:
        raise TableFormatError("cannot read the reference: JSON nested too deeply") from None


def build_profiles(
    table: pa.Table,
    *,
    n_bins: int = 20,
    sample_size: int = 5000,
    max_categories: int = 50,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Profile]:
    """One profile per feature column: numbers get quantile bins, everything else categories."""
    if table.num_rows == 0:
        raise TableFormatError("the reference table has no rows")
    profiles: dict[str, Profile] = {}
    for name in table.column_names:
        if name in RESERVED_COLUMNS:
            continue
        column = table.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            try:
                profiles[name] = NumericReference.from_values(values, n_bins=n_bins, sample_size=sample_size)
            except ValueError as exc:
                raise TableFormatError(f"reference column {name!r}: {exc}") from None
        else:
            if pa.types.is_boolean(column.type):
                raw = ["true" if v else "false" if v is not None else None for v in column.to_pylist()]
            else:
                raw = [None if v is None else str(v) for v in column.to_pylist()]
            try:
                profiles[name] = CategoricalReference.from_values(raw, max_categories=max_categories)
            except ValueError as exc:
                raise TableFormatError(f"reference column {name!r}: {exc}") from None
        if progress is not None:
            progress(name)
    if not profiles:
        raise TableFormatError("the reference table has no feature columns")
    return profiles


def profile_kind(profile: Profile) -> Kind:
    """The column kind a profile describes."""
    return "numeric" if isinstance(profile, NumericReference) else "categorical"


def profile_from_dict(state: dict[str, object]) -> Profile:
    if state["kind"] == "numeric":
        return NumericReference.from_dict(state)
    return CategoricalReference.from_dict(state)


class ReferenceStore:
    """Thread-safe in-memory map (model, version) -> feature -> profile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: dict[tuple[str, str], dict[str, Profile]] = {}

    def set(self, model: str, version: str, profiles: dict[str, Profile]) -> None:
        with self._lock:
            self._profiles[(model, version)] = dict(profiles)

    def get(self, model: str, version: str) -> dict[str, Profile] | None:
        with self._lock:
            return self._profiles.get((model, version))
