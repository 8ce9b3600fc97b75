"""Input checks shared by the distribution tests (private).

Every error names the parameter, the offending value and the rule it broke.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "as_counts",
    "as_edges",
    "as_rows",
    "as_sample",
    "check_fraction",
    "check_min_int",
    "check_non_negative",
    "check_positive",
]


def as_sample(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``values`` as a 1-D float array with NaN removed."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one non-NaN value; got none")
    return arr


def _as_count_vector(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one bin; got an empty array")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; got {arr.tolist()}")
    if arr.sum() <= 0:
        raise ValueError(f"{name} must have a positive total; got {arr.tolist()}")
    return arr


def as_counts(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return both count vectors as float arrays, checked and aligned."""
    ref = _as_count_vector("reference_counts", reference_counts)
    cur = _as_count_vector("current_counts", current_counts)
    if ref.shape != cur.shape:
        raise ValueError(f"current_counts must have the same length as reference_counts ({ref.size}); got {cur.size}")
    return ref, cur


def check_fraction(name: str, value: float) -> None:
    """Require ``0 < value < 1`` (significance levels, smoothing floors)."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1); got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """Require a finite ``value >= 0`` (effect floors, distance thresholds)."""
    if not (np.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")


def check_positive(name: str, value: float) -> None:
    """Require a finite ``value > 0`` (distance thresholds)."""
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be finite and > 0; got {value!r}")


def check_min_int(name: str, value: int, minimum: int) -> None:
    """Require an integer ``value >= minimum`` (permutation counts, sample caps)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def as_rows(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``values`` as a 2-D float array (rows = observations), rows with NaN dropped.

    A 1-D input is one feature: it becomes a single column.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (rows x features); got an array of shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():  # one pass and no copy in the usual, all-finite case
        missing = np.isnan(arr)
        if np.any(~finite & ~missing):
            raise ValueError(f"{name} must be finite apart from NaN; got an infinite value")
        arr = arr[~missing.any(axis=1)]
    if arr.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 rows without NaN; got {arr.shape[0]}")
    return arr


def as_edges(edges: npt.ArrayLike, n_bins: int) -> npt.NDArray[np.float64]:
    """Return the ``n_bins + 1`` bin boundaries as a float array, checked."""
    arr = np.asarray(edges, dtype=np.float64)
    if arr.ndim != 1 or arr.size != n_bins + 1:
        raise ValueError(f"edges must be 1-D with one more entry than the counts ({n_bins + 1}); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"edges must be finite (close the outer bins at the data's range); got {arr.tolist()}")
    if np.any(np.diff(arr) < 0):
        raise ValueError(f"edges must be non-decreasing; got {arr.tolist()}")
    return arr
