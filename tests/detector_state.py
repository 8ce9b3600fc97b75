"""Checks on a detector's ``state()`` shared by the detector contract tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["assert_plain", "assert_same_state"]

PLAIN = (bool, int, float, str, type(None))


def assert_plain(value: Any, path: str = "state") -> None:
    """State must be plain Python values and numpy arrays (no numpy scalars, no objects)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: key {key!r} is not a str"
            assert_plain(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            assert_plain(item, f"{path}[{i}]")
    else:
        assert type(value) in PLAIN or type(value) is np.ndarray, f"{path} is a {type(value).__name__}"


def assert_same_state(a: Any, b: Any, path: str = "state") -> None:
    """Equal values of equal types, NaN equal to NaN; arrays element for element."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys differ"
        for key in a:
            assert_same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{path}: {a.dtype} != {b.dtype}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{path}: arrays differ"
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), f"{path}: nan != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
