"""Compact binary encoding of checkpoint state: JSON structure, numpy arrays as raw buffers.

Window state is mostly float arrays (reservoir samples, their keys, bin counts).
Writing them as JSON numbers costs tens of milliseconds per checkpoint and holds
the GIL throughout; here each array is stored as its raw bytes and the JSON
document only records where to find it.

Layout: ``MAGIC | u32 header length | header JSON | buffer bytes...``.

Examples
--------
>>> import numpy as np
>>> blob = pack({"a": np.arange(3.0), "b": [1, {"c": np.array([7], dtype=np.int64)}]})
>>> state = unpack(blob)
>>> state["a"].tolist(), state["b"][1]["c"].dtype.name
([0.0, 1.0, 2.0], 'int64')
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

__all__ = ["pack", "unpack"]

MAGIC = b"DLS1"
_HEADER = struct.Struct("<I")
_ALLOWED_DTYPES = frozenset({"float64", "int64", "float32", "int32", "bool"})


def pack(state: Any) -> bytes:
    """Encode nested dicts/lists/scalars/None/str and 1-D numeric numpy arrays."""
    buffers = _Buffers()
    header = json.dumps(buffers.encode(state), separators=(",", ":"), allow_nan=True).encode()
    return b"".join([MAGIC, _HEADER.pack(len(header)), header, *buffers.parts])


class _Buffers:
    """The array bytes of one :func:`pack` call, in order.

    A small object rather than a closure inside :func:`pack`: a nested function that calls
    itself is a reference cycle, which would keep every array copy (megabytes per
    checkpoint) alive until the cyclic garbage collector's next *full* collection.
    """

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def encode(self, value: Any) -> Any:
        """``value`` with every array replaced by a reference to its bytes, appended to :attr:`parts`."""
        if isinstance(value, np.ndarray):
            if value.dtype.name not in _ALLOWED_DTYPES:
                raise TypeError(f"cannot pack arrays of dtype {value.dtype.name}")
            data = np.ascontiguousarray(value).tobytes()
            ref = {"__nd__": [self.size, len(data), value.dtype.name, list(value.shape)]}
            self.parts.append(data)
            self.size += len(data)
            return ref
        if isinstance(value, dict):
            return {key: self.encode(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.encode(item) for item in value]
        if isinstance(value, np.generic):
            return value.item()
        return value


def unpack(blob: bytes) -> Any:
    """Inverse of :func:`pack`; arrays come back as independent, writable copies."""
    if blob[:4] != MAGIC:
        raise ValueError("checkpoint state is not in the packed format (bad magic bytes)")
    (length,) = _HEADER.unpack_from(blob, 4)
    start = 4 + _HEADER.size
    return _decode(json.loads(bytes(blob[start : start + length])), memoryview(blob)[start + length :])


def _decode(value: Any, data: memoryview) -> Any:
    """``value`` with array references resolved against ``data`` (module level: see :class:`_Buffers`)."""
    if isinstance(value, dict):
        ref = value.get("__nd__")
        if ref is not None and len(value) == 1:
            position, size, dtype, shape = ref
            if dtype not in _ALLOWED_DTYPES:
                raise ValueError(f"checkpoint array has unsupported dtype {dtype!r}")
            return np.frombuffer(data[position : position + size], dtype=dtype).reshape(shape).copy()
        return {key: _decode(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, data) for item in value]
    return value
