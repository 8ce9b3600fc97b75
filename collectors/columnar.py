"""Decode the columnar batch API (``POST /api/v1/events``) into an inference batch.

Two bodies carry the same columns, one entry per event:

* JSON: ``{"model", "version", "timestamps", "prediction_ids", "predictions",
  "scores" (optional), "features": {name: [...]}}``;
* an Arrow IPC stream with columns ``timestamp``, ``prediction_id``, ``prediction``,
  ``score`` (optional) and one column per feature; model and version come from the
  query string.

Whole-request errors raise :class:`ColumnError` (a :class:`~collectors.errors.DecodeError`
naming the field): a body that does not parse (400), a missing model, columns of
unequal length, or a ``timestamps``/``prediction_ids``/``features`` field of the
wrong shape (422). Everything else is judged per event with the rules and
rejection reasons of the OTLP logs receiver (:mod:`collectors.otlp.logs`):

* numbers must be finite (``non_finite_value``); a null is a missing value;
* numbers are numeric, strings and booleans (``"true"``/``"false"``) categorical;
  nested values are ``unsupported_value_type``; scores must be numbers;
* a feature or the prediction keeps the kind it was first given (by an earlier
  request, a reference profile, or the first accepted event of this one); a
  value of the other kind rejects its event (``type_mismatch``);
* feature names are 1-128 characters (``invalid_feature_name``);
* a string (a feature value, a prediction or a prediction id) longer than
  ``max_string_length`` characters rejects its event (``value_too_long``);
* a null timestamp is the time the request was received.

The first failing check of an event names its reason; each (field, reason) pair
is reported once with the number of events it rejected.

How: every column is converted in bulk (``pyarrow.array`` on a JSON list, or the
Arrow column itself) and every rule is a numpy mask over whole columns; Python
runs per column, never per event, unless a JSON column mixes value types.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from collectors.errors import DecodeError
from collectors.limits import DEFAULT_LIMITS, IngestLimits, long_strings
from collectors.otlp._columnar import DEFAULT_VERSION, MAX_NAME_LENGTH, PREDICTION_KEY
from collectors.records import Column, InferenceBatch, Kind

__all__ = ["ARROW_MEDIA_TYPE", "ColumnError", "EventsDecodeResult", "decode_arrow", "decode_json"]

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"

KindLookup = Callable[[str, str], Mapping[str, Kind]]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]
Codes = npt.NDArray[np.int8]

# Value kinds per event: 0 null, then numeric, categorical, unsupported.
_NULL, _NUMERIC, _CATEGORICAL, _UNSUPPORTED = 0, 1, 2, 3
_KIND_CODE: dict[str, int] = {"numeric": _NUMERIC, "categorical": _CATEGORICAL}
_KIND_NAME: dict[int, Kind] = {_NUMERIC: "numeric", _CATEGORICAL: "categorical"}


class ColumnError(DecodeError):
    """A whole request refused because of one field; ``field`` names it (None: the body)."""

    def __init__(self, field: str | None, message: str, *, reason: str = "malformed", status: int = 422) -> None:
        super().__init__(message, reason=reason, status=status)
        self.field = field


@dataclass(slots=True)
class EventsDecodeResult:
    """What one columnar request turned into.

    ``errors`` has one entry per (field, reason) that rejected events:
    ``{"field", "reason", "rows", "message"}``, in check order.
    """

    model: str
    version: str
    batch: InferenceBatch | None = None
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: kinds first seen in this request, to be registered for (model, version)
    new_kinds: dict[str, Kind] = field(default_factory=dict)


@dataclass(slots=True)
class _Values:
    """One column as per-event kind codes plus the numeric and categorical views."""

    codes: Codes  # _NULL / _NUMERIC / _CATEGORICAL / _UNSUPPORTED per event
    numbers: Floats  # NaN where not numeric
    strings: Objects | None  # str where categorical (None elsewhere); None when the column has no strings
    text: pa.Array | None = None  # the string values as sent (null elsewhere; booleans are not strings)

    def present(self) -> Bools:
        mask: Bools = self.codes != _NULL
        return mask

    def non_finite(self) -> Bools:
        mask: Bools = (self.codes == _NUMERIC) & ~np.isfinite(self.numbers)
        return mask

    def too_long(self, limit: int) -> Bools:
        """Strings of more than ``limit`` characters."""
        if self.text is None:
            return np.zeros(self.codes.shape[0], dtype=np.bool_)
        return long_strings(self.text, limit)


# -- bulk conversion -----------------------------------------------------------------------------


def _from_arrow(array: pa.Array | pa.ChunkedArray) -> _Values:
    """Kind codes and values of a single-typed Arrow column, without a per-event loop."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n = len(array)
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    kind_type = array.type
    valid = np.ones(n, dtype=np.bool_) if array.null_count == 0 else np.asarray(array.is_valid().to_numpy(zero_copy_only=False))
    if pa.types.is_null(kind_type):
        return _Values(np.zeros(n, dtype=np.int8), np.full(n, np.nan), None)
    if pa.types.is_integer(kind_type) or pa.types.is_floating(kind_type) or pa.types.is_decimal(kind_type):
        # Unsafe: integers beyond 2**53 become the nearest float rather than an error.
        numbers = np.asarray(array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)
        codes = np.where(valid, _NUMERIC, _NULL).astype(np.int8)
        # A null reads back as NaN; keep NaN only where the value itself is NaN.
        return _Values(codes, numbers, None)
    text = array
    if pa.types.is_boolean(kind_type):
        array = pc.if_else(array, "true", "false")
        kind_type = pa.string()
        text = None
    if pa.types.is_string(kind_type) or pa.types.is_large_string(kind_type):
        strings = np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
        codes = np.where(valid, _CATEGORICAL, _NULL).astype(np.int8)
        return _Values(codes, np.full(n, np.nan), strings, text)
    codes = np.where(valid, _UNSUPPORTED, _NULL).astype(np.int8)
    return _Values(codes, np.full(n, np.nan), None)


def _classify(value: object) -> int:
    if value is None:
        return _NULL
    if isinstance(value, bool | str):
        return _CATEGORICAL
    if isinstance(value, int | float):
        return _NUMERIC
    return _UNSUPPORTED


_classify_all = np.frompyfunc(_classify, 1, 1)


def _from_json(values: list[Any]) -> _Values:
    """A JSON list as column values: one bulk Arrow conversion, or a slower mixed-type path."""
    try:
        return _from_arrow(pa.array(values, from_pandas=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    # Mixed types (numbers and strings, nested values, huge integers): only invalid data gets here.
    objects = np.empty(len(values), dtype=object)
    objects[:] = values
    codes = np.asarray(_classify_all(objects), dtype=np.int8) if len(values) else np.zeros(0, dtype=np.int8)
    numbers = np.full(len(values), np.nan)
    numeric = codes == _NUMERIC
    numbers[numeric] = np.asarray([float(v) for v in objects[numeric]], dtype=np.float64)
    strings = np.full(len(values), None, dtype=object)
    categorical = codes == _CATEGORICAL
    strings[categorical] = [("true" if v else "false") if isinstance(v, bool) else v for v in objects[categorical]]
    text = pa.array([v if isinstance(v, str) else None for v in objects], type=pa.string())
    return _Values(codes, numbers, strings, text)


# -- request shape -------------------------------------------------------------------------------


def _model_name(model: object, *, field_name: str = "model") -> str:
    if not isinstance(model, str) or not model:
        raise ColumnError(field_name, f"{field_name!r} must be a non-empty string naming the model", reason="missing_model_name")
    if len(model) > MAX_NAME_LENGTH:
        raise ColumnError(field_name, f"{field_name!r} is longer than {MAX_NAME_LENGTH} characters", reason="name_too_long")
    return model


def _version_name(version: object, *, field_name: str = "version") -> str:
    if version is None or version == "":
        return DEFAULT_VERSION
    if not isinstance(version, str):
        raise ColumnError(field_name, f"{field_name!r} must be a string, got {type(version).__name__}")
    if len(version) > MAX_NAME_LENGTH:
        raise ColumnError(field_name, f"{field_name!r} is longer than {MAX_NAME_LENGTH} characters", reason="name_too_long")
    return version


def _check_lengths(lengths: Mapping[str, int]) -> int:
    expected = next(iter(lengths.values()), 0)
    for name, size in lengths.items():
        if size != expected:
            first = next(iter(lengths))
            raise ColumnError(
                name,
                f"column {name!r} has {size} values but {first!r} has {expected}; all columns must have equal length",
                reason="unequal_lengths",
            )
    return expected


def decode_json(
    body: bytes,
    known_kinds: KindLookup,
    *,
    now: float,
    model: str | None = None,
    version: str | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> EventsDecodeResult:
    """Decode a JSON columnar body; ``model``/``version`` are used when the body has none.

    Examples
    --------
    >>> body = b'''{"model": "churn", "timestamps": [1700000000, null], "prediction_ids": ["a", "b"],
    ...   "predictions": [1, 0], "features": {"plan": ["pro", 3], "age": [31, 40]}}'''
    >>> result = decode_json(body, lambda model, version: {}, now=1700000005.0)
    >>> result.accepted, dict(result.rejected), result.batch.timestamps.tolist()
    (1, {'type_mismatch': 1}, [1700000000.0])
    >>> result.errors[0]["field"], result.new_kinds
    ('features.plan', {'plan': 'categorical', 'age': 'numeric', 'ml.prediction': 'numeric'})
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ColumnError(None, f"body is not valid JSON: {exc}", reason="invalid_json", status=400) from None
    except RecursionError:
        raise ColumnError(None, "body is not valid JSON: nested too deeply", reason="invalid_json", status=400) from None
    if not isinstance(document, dict):
        raise ColumnError(None, f"body must be a JSON object of columns, got {type(document).__name__}", status=400)
    name = _model_name(document.get("model") or model)
    ver = _version_name(document.get("version") or version)
    raw: dict[str, Any] = {}
    for key in ("timestamps", "prediction_ids", "predictions", "scores"):
        value = document.get(key)
        if value is None and key in ("timestamps", "predictions"):
            raise ColumnError(key, f"{key!r} is required: a list with one value per event")
        if value is not None and not isinstance(value, list):
            raise ColumnError(key, f"{key!r} must be a list with one value per event, got {type(value).__name__}")
        if value is not None:
            raw[key] = value
    features = document.get("features", {})
    if not isinstance(features, dict):
        raise ColumnError("features", f"'features' must be an object of name -> list, got {type(features).__name__}")
    for fname, values in features.items():
        if not isinstance(values, list):
            raise ColumnError(f"features.{fname}", f"feature {fname!r} must be a list with one value per event")
    n = _check_lengths({**{k: len(v) for k, v in raw.items()}, **{f"features.{f}": len(v) for f, v in features.items()}})
    return _decode(
        name,
        ver,
        n,
        timestamps=_from_json(raw["timestamps"]),
        ids=_from_json(raw["prediction_ids"]) if "prediction_ids" in raw else None,
        prediction=_from_json(raw["predictions"]),
        scores=_from_json(raw["scores"]) if "scores" in raw else None,
        features={f: _from_json(v) for f, v in features.items()},
        known=known_kinds(name, ver),
        now=now,
        names={"timestamp": "timestamps", "prediction_id": "prediction_ids", "prediction": "predictions", "score": "scores"},
        limits=limits,
    )


def decode_arrow(
    body: bytes,
    known_kinds: KindLookup,
    *,
    now: float,
    model: str | None,
    version: str | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> EventsDecodeResult:
    """Decode an Arrow IPC stream body; ``model`` and ``version`` come from the query string.

    Examples
    --------
    >>> import pyarrow as pa
    >>> table = pa.table({"timestamp": [1.7e9, 1.7e9], "prediction_id": ["a", "b"],
    ...                   "prediction": [0.2, float("inf")], "age": [31, 40]})
    >>> sink = pa.BufferOutputStream()
    >>> with pa.ipc.new_stream(sink, table.schema) as writer:
    ...     writer.write_table(table)
    >>> result = decode_arrow(sink.getvalue().to_pybytes(), lambda m, v: {}, now=0.0, model="churn")
    >>> result.accepted, dict(result.rejected), result.errors[0]["field"]
    (1, {'non_finite_value': 1}, 'prediction')
    """
    name = _model_name(model)
    ver = _version_name(version)
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ColumnError(None, f"body is not a valid Arrow IPC stream: {exc}", reason="invalid_arrow", status=400) from None
    names = table.schema.names
    if len(set(names)) != len(names):
        duplicate = next(c for c in names if names.count(c) > 1)
        raise ColumnError(duplicate, f"column {duplicate!r} appears more than once")
    for required in ("timestamp", "prediction"):
        if required not in names:
            raise ColumnError(required, f"column {required!r} is required")
    columns = {c: table.column(c) for c in names}
    timestamps = columns.pop("timestamp")
    if pa.types.is_timestamp(timestamps.type):
        timestamps = pc.divide(timestamps.cast(pa.timestamp("ns")).cast(pa.int64()).cast(pa.float64(), safe=False), 1e9)
    ids = columns.pop("prediction_id", None)
    prediction = columns.pop("prediction")
    scores = columns.pop("score", None)
    return _decode(
        name,
        ver,
        table.num_rows,
        timestamps=_from_arrow(timestamps),
        ids=_from_arrow(ids) if ids is not None else None,
        prediction=_from_arrow(prediction),
        scores=_from_arrow(scores) if scores is not None else None,
        features={f: _from_arrow(a) for f, a in columns.items()},
        known=known_kinds(name, ver),
        now=now,
        names={"timestamp": "timestamp", "prediction_id": "prediction_id", "prediction": "prediction", "score": "score"},
        limits=limits,
    )


# -- per-event validation ------------------------------------------------------------------------


@dataclass(slots=True)
class _Checks:
    """The first failing check of each event, by check order (``order``), whatever order they run in."""

    size: int
    failed: npt.NDArray[np.intp] = field(init=False)  # index into labels; 0 passes
    labels: list[tuple[int, str, str, str]] = field(default_factory=lambda: [(1 << 62, "", "", "")])

    def __post_init__(self) -> None:
        self.failed = np.zeros(self.size, dtype=np.intp)

    def add(self, mask: Bools, order: int, field_name: str, reason: str, message: str) -> None:
        if not mask.any():
            return
        ranks = np.fromiter((label[0] for label in self.labels), dtype=np.int64, count=len(self.labels))
        hit = mask & (ranks[self.failed] > order)
        if hit.any():
            self.failed[hit] = len(self.labels)
            self.labels.append((order, field_name, reason, message))


def _decode(
    model: str,
    version: str,
    n: int,
    *,
    timestamps: _Values,
    ids: _Values | None,
    prediction: _Values,
    scores: _Values | None,
    features: dict[str, _Values],
    known: Mapping[str, Kind],
    now: float,
    names: Mapping[str, str],
    limits: IngestLimits,
) -> EventsDecodeResult:
    result = EventsDecodeResult(model, version)
    for key, values in (("timestamp", timestamps), ("prediction_id", ids)):
        if values is not None and bool(
            ((values.codes != _NULL) & (values.codes != (_NUMERIC if key == "timestamp" else _CATEGORICAL))).any()
        ):
            wanted = "numbers (unix seconds)" if key == "timestamp" else "strings"
            raise ColumnError(names[key], f"{names[key]!r} must hold {wanted} or nulls")

    checks = _Checks(n)
    checks.add(
        timestamps.non_finite(), 2, names["timestamp"], "non_finite_value", f"{names['timestamp']!r} must be finite numbers"
    )
    longest, too_long = limits.max_string_length, limits.string_rule()
    if ids is not None:
        shown = names["prediction_id"]
        checks.add(ids.too_long(longest), 3, shown, "value_too_long", f"{shown!r} holds strings {too_long}")
    # Every check except kinds, in event order: features in column order, then prediction, then score.
    # Check order: column c (timestamp and id 0, features, prediction, score) then name, nested,
    # non-finite or too long (a number or a string: never both), kind.
    kind_columns: list[tuple[str, int, str, _Values]] = []  # (registry key, column order, shown field, values)
    for c, (fname, values) in enumerate(features.items(), start=1):
        shown = f"features.{fname}" if names["timestamp"] == "timestamps" else fname
        present = values.present()
        if not fname or len(fname) > MAX_NAME_LENGTH:
            checks.add(
                present, 4 * c, shown, "invalid_feature_name", f"feature name {fname!r} must be 1-{MAX_NAME_LENGTH} characters"
            )
            continue
        checks.add(
            values.codes == _UNSUPPORTED,
            4 * c + 1,
            shown,
            "unsupported_value_type",
            f"{shown!r} holds nested values; use numbers or strings",
        )
        checks.add(values.non_finite(), 4 * c + 2, shown, "non_finite_value", f"{shown!r} must hold finite numbers")
        checks.add(values.too_long(longest), 4 * c + 2, shown, "value_too_long", f"{shown!r} holds strings {too_long}")
        kind_columns.append((fname, 4 * c, shown, values))
    c = len(features) + 1
    pshown = names["prediction"]
    checks.add(prediction.codes == _UNSUPPORTED, 4 * c + 1, pshown, "unsupported_value_type", f"{pshown!r} holds nested values")
    checks.add(prediction.non_finite(), 4 * c + 2, pshown, "non_finite_value", f"{pshown!r} must hold finite numbers")
    checks.add(prediction.too_long(longest), 4 * c + 2, pshown, "value_too_long", f"{pshown!r} holds strings {too_long}")
    kind_columns.append((PREDICTION_KEY, 4 * c, pshown, prediction))
    c += 1
    if scores is not None:
        sshown = names["score"]
        checks.add(
            (scores.codes != _NULL) & (scores.codes != _NUMERIC),
            4 * c + 3,
            sshown,
            "type_mismatch",
            f"{sshown!r} must hold numbers",
        )
        checks.add(scores.non_finite(), 4 * c + 2, sshown, "non_finite_value", f"{sshown!r} must hold finite numbers")

    kinds = _settle_kinds(kind_columns, checks, known)

    failed = checks.failed
    accepted = failed == 0
    result.accepted = int(accepted.sum())
    if result.accepted < n:
        counts = np.bincount(failed, minlength=len(checks.labels))
        for index in sorted(range(1, len(checks.labels)), key=lambda i: checks.labels[i][0]):
            _, field_name, reason, message = checks.labels[index]
            if counts[index]:
                result.rejected[reason] += int(counts[index])
                result.errors.append({"field": field_name, "reason": reason, "rows": int(counts[index]), "message": message})
    if result.accepted == 0:
        return result
    rows = None if result.accepted == n else np.flatnonzero(accepted)

    def take(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return array if rows is None else array[rows]

    stamps = take(timestamps.numbers)
    stamps = np.where(np.isnan(stamps), now, stamps)
    if ids is None or ids.strings is None:
        id_values = np.full(result.accepted, None, dtype=object)
    else:
        id_values = take(ids.strings).copy()
        id_values[id_values == ""] = None
    batch_features: dict[str, Column] = {}
    predictions: Column | None = None
    for key, _, _, values in kind_columns:
        codes = take(values.codes)
        if not (codes != _NULL).any():
            continue
        kind = kinds[key]
        column = _column(kind, values, take)
        if key == PREDICTION_KEY:
            predictions = column
        else:
            batch_features[key] = column
        if key not in known:
            result.new_kinds[key] = kind
    if predictions is None:
        kind = known.get(PREDICTION_KEY, "numeric")
        empty = np.full(result.accepted, np.nan) if kind == "numeric" else np.full(result.accepted, None, dtype=object)
        predictions = Column(kind, empty)
    score_values = np.full(result.accepted, np.nan) if scores is None else take(scores.numbers)
    result.batch = InferenceBatch(
        model=model,
        version=version,
        timestamps=np.ascontiguousarray(stamps, dtype=np.float64),
        prediction_ids=id_values,
        predictions=predictions,
        scores=np.ascontiguousarray(score_values, dtype=np.float64),
        latencies=np.full(result.accepted, np.nan),
        features=batch_features,
    )
    return result


def _column(kind: Kind, values: _Values, take: Callable[[npt.NDArray[Any]], npt.NDArray[Any]]) -> Column:
    if kind == "numeric":
        numbers = take(values.numbers)
        return Column("numeric", np.ascontiguousarray(numbers, dtype=np.float64))
    strings = values.strings if values.strings is not None else np.full(values.codes.shape[0], None, dtype=object)
    return Column("categorical", take(strings))


def _settle_kinds(columns: list[tuple[str, int, str, _Values]], checks: _Checks, known: Mapping[str, Kind]) -> dict[str, Kind]:
    """Each column's kind, and type-mismatch rejections, as if events were read one by one.

    A column without a known kind takes the kind of its first *accepted* event; an
    event is accepted when every check passes. Each round fixes the kinds found on
    the earliest event that still passes and carries an unsettled column, so the
    number of rounds is at most the number of columns (one or two in practice).
    """
    kinds: dict[str, Kind] = {key: known[key] for key, _, _, _ in columns if key in known}
    # A kind binds the events after the one that fixed it (-1: known before this request).
    since: dict[str, int] = dict.fromkeys(kinds, -1)
    base = checks.failed == 0
    start = 0
    n = checks.size
    while True:
        mismatch = np.zeros(n, dtype=np.bool_)
        for key, _, _, values in columns:
            if key in kinds:
                mismatch |= _mismatch(values, kinds[key], since[key])
        ok = base & ~mismatch
        unsettled = [(key, values) for key, _, _, values in columns if key not in kinds]
        if not unsettled:
            break
        carries = np.zeros(n, dtype=np.bool_)
        for _, values in unsettled:
            carries |= (values.codes == _NUMERIC) | (values.codes == _CATEGORICAL)
        candidates = np.flatnonzero((ok & carries)[start:])
        if candidates.shape[0] == 0:
            break
        row = start + int(candidates[0])
        for key, values in unsettled:
            code = int(values.codes[row])
            if code in _KIND_NAME:
                kinds[key] = _KIND_NAME[code]
                since[key] = row
        start = row + 1
    for key, order, shown, values in columns:
        if key in kinds:
            expected = kinds[key]
            what = "a number" if expected == "numeric" else "a string"
            checks.add(
                _mismatch(values, expected, since[key]),
                order + 3,
                shown,
                "type_mismatch",
                f"{shown!r} must hold {what} as before, got the other kind",
            )
    return kinds


def _mismatch(values: _Values, kind: Kind, since: int) -> Bools:
    other = _CATEGORICAL if kind == "numeric" else _NUMERIC
    mask: Bools = values.codes == other
    if since >= 0:
        mask[: since + 1] = False
    return mask
