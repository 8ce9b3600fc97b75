"""Validate flattened OTLP log records a column at a time and build their batches.

The rules are those of :mod:`collectors.otlp.logs`, stated for one record at a time:

* an ``ml.inference`` record is checked attribute by attribute in its attribute
  order, then its prediction, score and latency; the first failing check names
  the rejection reason;
* a column's kind is the one known from earlier requests, or else the kind of the
  first *accepted* record that carries it; a rejected record registers nothing.

Here each check is a mask over a whole column. The second rule is sequential
(whether a record is accepted can depend on which earlier ones were), so it is
solved as a fixed point over whole columns in :func:`_settle_kinds`; ordinary
traffic settles in one round.

Numbering used throughout: ``R`` records, ``E`` attributes (``FlatLogs``), and
for ``ml.inference`` records with a usable model name, ``G`` (model, version)
groups and ``C`` columns, one per (group, feature) and (group, prediction).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from collectors.limits import IngestLimits, long_strings
from collectors.otlp._wire import MEMBERS, FlatLogs
from collectors.records import Column, InferenceBatch, Kind, LabelBatch

if TYPE_CHECKING:
    from collectors.otlp.logs import KindLookup, LogsDecodeResult

__all__ = ["DEFAULT_VERSION", "INFERENCE_EVENT", "LABEL_EVENT", "MAX_NAME_LENGTH", "PREDICTION_KEY", "decode_flat"]

PREDICTION_KEY = "ml.prediction"
INFERENCE_EVENT = "ml.inference"
LABEL_EVENT = "ml.label"
DEFAULT_VERSION = "default"
MAX_NAME_LENGTH = 128
_FEATURE_PREFIX = "ml.feature."
_GEN_AI_USAGE_PREFIX = "gen_ai.usage."

Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.int8]
Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]

# FlatLogs.member codes; every member from _UNSUPPORTED on is rejected.
_STRING, _BOOL, _INT, _DOUBLE, _UNSUPPORTED = 1, 2, 3, 4, 5
# Kind codes: 0 is "no value".
_NUMERIC, _CATEGORICAL = 1, 2
_KIND_OF_MEMBER = np.array([0, _CATEGORICAL, _CATEGORICAL, _NUMERIC, _NUMERIC, 0, 0, 0, 0], dtype=np.int8)
_KIND_NAME: dict[int, Kind] = {_NUMERIC: "numeric", _CATEGORICAL: "categorical"}
_KIND_CODE: dict[object, int] = {"numeric": _NUMERIC, "categorical": _CATEGORICAL}
_TRUE_FALSE = np.array(["false", "true"], dtype=object)

# Attribute keys read once per record, by row of _Entries.at.
_SPECIAL_KEYS = (
    "ml.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "ml.model.version",
    "ml.prediction.id",
    PREDICTION_KEY,
    "ml.prediction.score",
    "ml.latency",
    "ml.label",
    "event.name",
)
_MODEL, _GEN_AI_REQUEST, _GEN_AI_RESPONSE, _VERSION, _PID, _PREDICTION, _SCORE, _LATENCY, _LABEL, _EVENT = range(10)
_FEATURE = len(_SPECIAL_KEYS)  # role of feature keys; -1 for keys nobody reads

# Checks, each naming a rejection reason and a message (see _message); 0 passes.
(
    _MODEL_MISSING,
    _MODEL_TOO_LONG,
    _FEATURE_NAME,
    _UNSUPPORTED_VALUE,
    _NON_FINITE,
    _FEATURE_KIND,
    _PREDICTION_KIND,
    _SCORE_KIND,
    _LATENCY_KIND,
    _UNKNOWN_EVENT,
    _LABEL_ID,
    _LABEL_MISSING,
    _LABEL_KIND,
    _TOO_MANY_ATTRIBUTES,
    _VALUE_TOO_LONG,
    _VERSION_TOO_LONG,
) = range(1, 17)
#: the rejection reason of each check (several checks are type mismatches)
_REASON_OF_CHECK = (
    "",
    "missing_model_name",
    "name_too_long",
    "invalid_feature_name",
    "unsupported_value_type",
    "non_finite_value",
    "type_mismatch",
    "type_mismatch",
    "type_mismatch",
    "type_mismatch",
    "unknown_event",
    "missing_prediction_id",
    "missing_label",
    "type_mismatch",
    "too_many_attributes",
    "value_too_long",
    "name_too_long",
)


@functools.cache
def _scalar(value: str | None) -> pa.Scalar:
    """A cached Arrow string scalar: building one from a Python str costs ~80 µs in pyarrow
    (it tries to import dateutil each time), comparing against it costs ~5 µs."""
    return pa.scalar(value, type=pa.string())


def _bools(array: pa.Array) -> Bools:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _has_repeats(codes: Ints, bins: int) -> bool:
    n = codes.shape[0]
    if n < 2:
        return False
    if bins <= 8 * n + 4096:
        return bool(np.bincount(codes, minlength=bins).max() > 1)
    ordered = np.sort(codes)
    return bool((ordered[1:] == ordered[:-1]).any())


def _dense(codes: Ints, bins: int) -> tuple[Ints, Ints]:
    """Small ids for ``codes`` in ``[0, bins)``, and the code of each id (the codes themselves when few bins)."""
    if bins <= 4 * codes.shape[0] + 1024:
        return codes, np.arange(bins, dtype=np.intp)
    unique, inverse = np.unique(codes, return_inverse=True)
    return inverse.reshape(-1).astype(np.intp), unique.astype(np.intp)


def _first_appearance(codes: Ints, bins: int) -> tuple[Ints, Ints]:
    """Ids numbered by first appearance, and the position of each id's first appearance."""
    if bins == 1:
        return np.zeros(codes.shape[0], dtype=np.intp), np.zeros(1, dtype=np.intp)
    ids, _ = _dense(codes, bins)
    n = codes.shape[0]
    first = np.full(int(ids.max()) + 1 if n else 0, n, dtype=np.intp)
    np.minimum.at(first, ids, np.arange(n, dtype=np.intp))
    present = np.flatnonzero(first < n)
    order = present[np.argsort(first[present], kind="stable")]
    rank = np.empty(first.shape[0], dtype=np.intp)
    rank[order] = np.arange(order.shape[0], dtype=np.intp)
    return rank[ids], first[order]


def _distinct(strings: pa.StringArray) -> tuple[Ints, list[str]]:
    """Code of each string and the distinct strings (Python work per distinct string only)."""
    encoded = strings.dictionary_encode()
    return np.asarray(encoded.indices.to_numpy(), dtype=np.intp), encoded.dictionary.to_pylist()


def _split(values: Ints, groups: Ints, n: int) -> list[Ints]:
    """``values`` split by group id (0..n-1), each part keeping its order."""
    order = np.argsort(groups.astype(np.uint16) if n <= 1 << 16 else groups, kind="stable")
    return np.split(values[order], np.cumsum(np.bincount(groups, minlength=n))[:-1])


def _classify_keys(keys: list[str]) -> tuple[npt.NDArray[np.int8], Ints, Bools, list[str]]:
    """Role, feature id and bad-name flag of each distinct key (Python work per distinct key only)."""
    roles = np.full(len(keys), -1, dtype=np.int8)
    fids = np.full(len(keys), -1, dtype=np.intp)
    bad = np.zeros(len(keys), dtype=np.bool_)
    names: list[str] = []
    index: dict[str, int] = {}
    specials = {key: role for role, key in enumerate(_SPECIAL_KEYS)}
    for k, key in enumerate(keys):
        if key in specials:
            roles[k] = specials[key]
            continue
        if key.startswith(_FEATURE_PREFIX):
            name = key[len(_FEATURE_PREFIX) :]
        elif key.startswith(_GEN_AI_USAGE_PREFIX):
            name = key
        else:
            continue
        roles[k] = _FEATURE
        fids[k] = index.setdefault(name, len(names))
        if fids[k] == len(names):
            names.append(name)
        bad[k] = not name or len(name) > MAX_NAME_LENGTH
    return roles, fids, bad, names


def _last_value_first_position(codes: Ints, entry: Ints) -> tuple[Bools, Ints]:
    """Per repeated (record, key) code: keep the last entry, at the first entry's position."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.ones(ordered.shape[0], dtype=np.bool_)
    starts[1:] = ordered[1:] != ordered[:-1]
    ends = np.ones_like(starts)
    ends[:-1] = starts[1:]
    first_position = entry[order][starts][np.cumsum(starts) - 1]
    keep = np.zeros(codes.shape[0], dtype=np.bool_)
    keep[order[ends]] = True
    position = np.empty(codes.shape[0], dtype=np.intp)
    position[order] = first_position
    return keep, position[keep]


def _same_keys_per_record(flat: FlatLogs) -> int:
    """The number of attributes per record when every record has the same keys in the
    same order (what SDKs send), else 0; checked on the raw key bytes, without hashing."""
    counts = np.diff(flat.attribute_offsets)
    if counts.shape[0] == 0 or counts[0] == 0 or (counts != counts[0]).any():
        return 0
    per_record = int(counts[0])
    key = flat.key
    offsets = np.frombuffer(key.buffers()[1], dtype=np.int32, count=len(key) + 1, offset=key.offset * 4)
    lengths = np.diff(offsets).reshape(counts.shape[0], per_record)
    if (lengths != lengths[0]).any():
        return 0
    start, size = int(offsets[0]), int(offsets[per_record] - offsets[0])
    if size:
        data = np.frombuffer(key.buffers()[2], dtype=np.uint8, count=start + size * counts.shape[0])[start:]
        rows = data.reshape(counts.shape[0], size)
        if (rows != rows[0]).any():
            return 0
    return per_record


class _Entries:
    """The attributes of all records as a record-at-a-time reader sees them.

    A record's attributes behave like ``{kv.key: kv.value for kv in attributes}``: a
    repeated key keeps its last value, at the position of its first occurrence.
    ``entry`` maps back to ``FlatLogs`` rows; when no key repeats (the usual case)
    the arrays are the flat ones, not copies.
    """

    def __init__(self, flat: FlatLogs, max_string_length: int) -> None:
        self.flat = flat
        n = flat.records
        per_record = _same_keys_per_record(flat)
        # When every record has the same keys, those of the first record are all there is to read.
        encoded = (flat.key.slice(0, per_record) if per_record else flat.key).dictionary_encode()
        key_id = np.asarray(encoded.indices.to_numpy(), dtype=np.intp)
        roles, self.fids, self.bad_names, self.feature_names = _classify_keys(encoded.dictionary.to_pylist())
        role = roles[key_id]
        width = _FEATURE + len(self.feature_names)
        column = np.where(role == _FEATURE, _FEATURE + self.fids[key_id], role)
        record = flat.record[: key_id.shape[0]]
        read = role >= 0
        #: a key, or a feature name under two keys, repeats within a record
        self.repeats = _has_repeats((record * width + column)[read], (1 if per_record else n) * width)
        if per_record:
            key_id, role = np.tile(key_id, n), np.tile(role, n)
            read = role >= 0
        record = flat.record
        if self.repeats:
            entry = np.flatnonzero(read)
            keep, self.position = _last_value_first_position(record[entry] * len(roles) + key_id[entry], entry)
            self.entry = entry[keep]
            record, key_id, role = record[self.entry], key_id[self.entry], role[self.entry]
            self.member = flat.member[self.entry]
        else:
            self.entry = self.position = np.arange(record.shape[0], dtype=np.intp)
            self.member = flat.member
        self.record, self.key_id, self.role = record, key_id, role
        #: numeric value of every flat attribute (meaningful where the member is int or double)
        self.flat_number = np.where(flat.member == _INT, flat.int_value.astype(np.float64), flat.double_value)
        self.number = self.flat_number[self.entry] if self.repeats else self.flat_number
        #: whether each flat attribute is a string longer than the limit (only read ones reject)
        self.flat_long = long_strings(flat.string_value, max_string_length)
        self.long = self.flat_long[self.entry] if self.repeats else self.flat_long
        #: flat index of each record's special attributes, -1 where absent
        self.at = np.full((_FEATURE, n), -1, dtype=np.intp)
        if per_record and not self.repeats:
            starts = np.arange(n, dtype=np.intp) * per_record
            for position, special in enumerate(role[:per_record].tolist()):
                if 0 <= special < _FEATURE:
                    self.at[special] = starts + position
        else:
            special = (role >= 0) & (role < _FEATURE)
            self.at[role[special], record[special]] = self.entry[special]

    # Values of flat attribute indices.

    def strings(self, entries: Ints) -> pa.StringArray:
        """``AnyValue.string_value`` of each entry ("" when not a string; entry -1 is absent)."""
        taken = self.flat.string_value.take(pa.array(entries, type=pa.int64(), mask=entries < 0))
        return pc.fill_null(taken, _scalar(""))

    def member_at(self, entries: Ints) -> Codes:
        """Member code of each entry, -1 where absent."""
        if self.flat.member.shape[0] == 0:
            return np.full(entries.shape, -1, dtype=np.int8)
        return np.where(entries >= 0, self.flat.member[np.maximum(entries, 0)], -1).astype(np.int8)

    def long_at(self, entries: Ints) -> Bools:
        """Whether each entry is a string longer than the limit (False where absent)."""
        if self.flat_long.shape[0] == 0:
            return np.zeros(entries.shape, dtype=np.bool_)
        return (entries >= 0) & self.flat_long[np.maximum(entries, 0)]

    def numbers(self, entries: Ints) -> Floats:
        """Numeric value of each entry (meaningful where the member is int or double)."""
        if self.flat_number.shape[0] == 0:
            return np.full(entries.shape, np.nan)
        return self.flat_number[entries]

    def categories(self, entries: Ints) -> Objects:
        """Categorical value of each entry (str; bools as "true"/"false")."""
        out = np.empty(entries.shape[0], dtype=object)
        member = self.flat.member[entries]
        strings = member == _STRING
        if strings.any():
            # Categories repeat: one Python str per distinct value, not per value.
            encoded = self.flat.string_value.take(pa.array(entries[strings])).dictionary_encode()
            out[strings] = encoded.dictionary.to_numpy(zero_copy_only=False)[encoded.indices.to_numpy()]
        bools = member == _BOOL
        out[bools] = _TRUE_FALSE[self.flat.bool_value[entries[bools]].astype(np.intp)]
        return out


@dataclass(slots=True)
class _Verdicts:
    """Per record: the failed check (0: accepted), the attribute it concerns, the kind expected."""

    check: Codes
    entry: Ints
    expected: Codes

    def fail(self, rows: Ints, check: npt.ArrayLike, entry: npt.ArrayLike = -1, expected: npt.ArrayLike = 0) -> None:
        self.check[rows] = check
        self.entry[rows] = entry
        self.expected[rows] = expected


def decode_flat(flat: FlatLogs, known_kinds: KindLookup, received: float, result: LogsDecodeResult, limits: IngestLimits) -> None:
    """Fill ``result`` from the records of ``flat``; ``received`` stamps records without a time."""
    n = flat.records
    if n == 0:
        return
    entries = _Entries(flat, limits.max_string_length)
    verdicts = _Verdicts(np.zeros(n, dtype=np.int8), np.full(n, -1, dtype=np.intp), np.zeros(n, dtype=np.int8))
    stamp = np.where(flat.time_unix_nano != 0, flat.time_unix_nano, flat.observed_time_unix_nano)
    timestamps = np.where(stamp != 0, stamp.astype(np.float64) / 1e9, received)

    is_label, is_inference = _events(entries)
    # A record with too many attributes is refused before anything else is read from it.
    crowded = np.diff(flat.attribute_offsets) > limits.max_attributes_per_record
    if crowded.any():
        verdicts.fail(np.flatnonzero(crowded), _TOO_MANY_ATTRIBUTES)
        is_label &= ~crowded
        is_inference &= ~crowded
    verdicts.fail(np.flatnonzero(~is_label & ~is_inference & ~crowded), _UNKNOWN_EVENT)
    inference = _Inference(entries, np.flatnonzero(is_inference), verdicts, known_kinds)
    for batch, new_kinds in inference.batches(timestamps):
        result.batches.append(batch)
        if new_kinds:
            result.new_kinds[(batch.model, batch.version)] = new_kinds
    labels = _labels(entries, np.flatnonzero(is_label), verdicts, timestamps)
    if labels is not None:
        result.batches.append(labels)

    rejected = np.flatnonzero(verdicts.check > 0)
    result.accepted = n - rejected.shape[0]
    if rejected.shape[0]:
        # Counted in the order reasons first occur, as a record-at-a-time loop would.
        checks, first, counts = np.unique(verdicts.check[rejected], return_index=True, return_counts=True)
        for i in np.argsort(first, kind="stable").tolist():
            result.rejected[_REASON_OF_CHECK[int(checks[i])]] += int(counts[i])
        row = int(rejected[0])
        result.first_error = _message(
            entries, row, int(verdicts.check[row]), int(verdicts.entry[row]), int(verdicts.expected[row]), limits
        )


def _events(entries: _Entries) -> tuple[Bools, Bools]:
    """Which records are labels and which inference events (the rest are unknown events)."""
    event = entries.flat.event_name
    label = _bools(pc.equal(event, _scalar(LABEL_EVENT)))
    inference = _bools(pc.equal(event, _scalar(INFERENCE_EVENT)))
    at = entries.at
    fallback = np.flatnonzero(_bools(pc.equal(event, _scalar(""))) & (at[_EVENT] >= 0))
    if fallback.shape[0]:
        named = entries.strings(at[_EVENT][fallback])
        label[fallback] = _bools(pc.equal(named, _scalar(LABEL_EVENT)))
        inference[fallback] = _bools(pc.equal(named, _scalar(INFERENCE_EVENT)))
    gen_ai = (at[_GEN_AI_REQUEST] >= 0) | (at[_GEN_AI_RESPONSE] >= 0)
    return label, ~label & (inference | gen_ai)


def _labels(entries: _Entries, rows: Ints, verdicts: _Verdicts, timestamps: Floats) -> LabelBatch | None:
    if rows.shape[0] == 0:
        return None
    pid_entry = entries.at[_PID][rows]
    ids = entries.strings(pid_entry)
    no_id = np.asarray(pc.binary_length(ids).to_numpy(), dtype=np.intp) == 0
    long_id = entries.long_at(pid_entry)
    entry = entries.at[_LABEL][rows]
    member = entries.member_at(entry)
    kind = _KIND_OF_MEMBER[np.maximum(member, 0)]
    number = entries.numbers(np.maximum(entry, 0))
    check = np.select(
        [
            no_id,
            long_id,
            member < 0,
            member >= _UNSUPPORTED,
            member == 0,
            entries.long_at(entry),
            (kind == _NUMERIC) & ~np.isfinite(number),
        ],
        [_LABEL_ID, _VALUE_TOO_LONG, _LABEL_MISSING, _UNSUPPORTED_VALUE, _LABEL_MISSING, _VALUE_TOO_LONG, _NON_FINITE],
        0,
    ).astype(np.int8)
    passed = np.flatnonzero(check == 0)
    if passed.shape[0]:  # one label kind per request: the first accepted label's
        check[passed[kind[passed] != kind[passed[0]]]] = _LABEL_KIND
    failed = check > 0
    verdicts.fail(rows[failed], check[failed], np.where(long_id, pid_entry, entry)[failed])
    ok = ~failed
    if not ok.any():
        return None
    if kind[passed[0]] == _NUMERIC:
        labels = Column("numeric", number[ok])
    else:
        labels = Column("categorical", entries.categories(entry[ok]))
    return LabelBatch(
        timestamps=timestamps[rows[ok]],
        prediction_ids=np.asarray(ids.filter(pa.array(ok)).to_numpy(zero_copy_only=False), dtype=object),
        labels=labels,
    )


@dataclass(slots=True)
class _Values:
    """Values that have a kind (supported, finite, not null): features first, then predictions.

    Features are in record order, then attribute order.
    """

    row: Ints
    column: Ints
    kind: Codes
    entry: Ints  # flat attribute index
    features: int  # how many of them are features
    #: kind of the first value of this column in this record; differs only when two keys name one feature
    first_kind: Codes | None = None
    #: the value that stays when two keys name one feature in one record (None: all of them)
    last: Bools | None = None


class _Inference:
    """Checks of ``ml.inference`` records; builds one batch per (model, version)."""

    def __init__(self, entries: _Entries, rows: Ints, verdicts: _Verdicts, known_kinds: KindLookup) -> None:
        self.entries = entries
        self.verdicts = verdicts
        at = entries.at
        model_entry = np.where(
            at[_MODEL] >= 0, at[_MODEL], np.where(at[_GEN_AI_REQUEST] >= 0, at[_GEN_AI_REQUEST], at[_GEN_AI_RESPONSE])
        )
        model, models = _distinct(entries.strings(model_entry[rows]))
        length = np.array([len(name) for name in models], dtype=np.intp)[model]  # characters, as Python counts them
        version, versions = _distinct(entries.strings(at[_VERSION][rows]))
        version_length = np.array([len(name) for name in versions], dtype=np.intp)[version]
        # Then the version and the prediction id, before any other attribute.
        long_version = entries.long_at(at[_VERSION][rows])
        long_id = entries.long_at(at[_PID][rows])
        check = np.select(
            [length == 0, length > MAX_NAME_LENGTH, version_length > MAX_NAME_LENGTH, long_version | long_id],
            [_MODEL_MISSING, _MODEL_TOO_LONG, _VERSION_TOO_LONG, _VALUE_TOO_LONG],
            0,
        )
        entry = np.where(long_version, at[_VERSION][rows], at[_PID][rows])
        verdicts.fail(rows[check > 0], check[check > 0], entry[check > 0])
        usable = check == 0
        self.rows = rows[usable]  # the records that get a group
        self._groups(model[usable], models, known_kinds)
        self.group_of = np.full(entries.flat.records, -1, dtype=np.intp)
        self.group_of[self.rows] = self.group
        self._features()
        self._outputs()
        self._columns()
        self.accepted, self.established = self._settle_kinds()
        self._reasons()

    def _groups(self, model: Ints, models: list[str], known_kinds: KindLookup) -> None:
        """(model, version) of each record, numbered by first appearance; looks each up once."""
        version, versions = _distinct(self.entries.strings(self.entries.at[_VERSION][self.rows]))
        if "" in versions:  # an empty version is the default one
            names = [name or DEFAULT_VERSION for name in versions]
            merged = {name: i for i, name in reversed(list(enumerate(names)))}
            version = np.array([merged[name] for name in names], dtype=np.intp)[version]
        self.group, firsts = _first_appearance(model * len(versions) + version, len(models) * len(versions))
        self.groups = firsts.shape[0]
        self.keys: list[tuple[str, str]] = [
            (models[m], versions[v] or DEFAULT_VERSION)
            for m, v in zip(model[firsts].tolist(), version[firsts].tolist(), strict=True)
        ]
        self.known: list[Mapping[str, Kind]] = [known_kinds(model, version) for model, version in self.keys]

    def _features(self) -> None:
        """Feature attributes of records with a group: the failing ones and the valued ones."""
        e = self.entries
        feature = (e.role == _FEATURE) & (self.group_of[e.record] >= 0)
        failing = (e.member >= _UNSUPPORTED) | ((e.member == _DOUBLE) & ~np.isfinite(e.number))
        if e.bad_names.any():
            failing |= e.bad_names[e.key_id]
        if e.flat_long.any():
            failing |= e.long
        failing &= feature
        self.kind = _KIND_OF_MEMBER[e.member]
        #: positions (in entries) of feature attributes that fail a check of their own
        self.failing = np.flatnonzero(failing)
        self.valued = np.flatnonzero(feature & (self.kind > 0) & ~failing)
        if e.repeats:  # positions moved when keys repeat: back to record, then attribute order
            self.valued = self.valued[np.lexsort((e.position[self.valued], e.record[self.valued]))]

    def _outputs(self) -> None:
        """Entry, kind, check and numeric value of the prediction, score and latency of each record."""
        entry = self.entries.at[[_PREDICTION, _SCORE, _LATENCY]][:, self.rows]
        member = self.entries.member_at(entry.reshape(-1)).reshape(entry.shape)
        kind = _KIND_OF_MEMBER[np.maximum(member, 0)] * (member >= 0)
        number = self.entries.numbers(np.maximum(entry, 0).reshape(-1)).reshape(entry.shape)
        numeric = kind == _NUMERIC
        with np.errstate(invalid="ignore"):
            non_finite = numeric & ~np.isfinite(number)
        # A categorical score or latency is a type mismatch; a categorical prediction is fine.
        categorical = np.array([0, _SCORE_KIND, _LATENCY_KIND], dtype=np.int8)[:, None] * (kind == _CATEGORICAL)
        check = np.where(
            member >= _UNSUPPORTED, _UNSUPPORTED_VALUE, np.where(categorical > 0, categorical, non_finite * _NON_FINITE)
        )
        check = check.astype(np.int8)
        check[0, self.entries.long_at(entry[0])] = _VALUE_TOO_LONG  # a string prediction (long: a string, nothing else failed)
        self.p_entry, self.s_entry, self.l_entry = entry
        self.p_check, self.s_check, self.l_check = check
        self.p_kind = kind[0].astype(np.int8)
        self.scores, self.latencies = np.where(numeric[1:], number[1:], np.nan)

    def _columns(self) -> None:
        """Columns (group, feature) and (group, prediction), their known kinds, and the values in them."""
        e = self.entries
        names = e.feature_names
        width = len(names) + 1
        valued = self.valued
        row = e.record[valued]
        fid = e.fids[e.key_id[valued]]
        p_kind = self.p_kind
        p_valued = np.flatnonzero((self.p_check == 0) & (p_kind > 0))
        if self.groups == 1:
            raw = np.concatenate([fid, np.full(p_valued.shape[0], width - 1, dtype=np.intp)])
        else:
            raw = np.concatenate([self.group_of[row] * width + fid, self.group[p_valued] * width + width - 1])
        column, codes = _dense(raw, self.groups * width)
        self.columns = codes.shape[0]
        self.c_group = codes // width
        self.c_fid = codes % width
        self.c_known = np.zeros(self.columns, dtype=np.int8)
        present = np.zeros(self.columns, dtype=np.bool_)
        present[column] = True
        present[self.c_fid == width - 1] = True
        for c in np.flatnonzero(present).tolist():
            fid_c = int(self.c_fid[c])
            name = PREDICTION_KEY if fid_c == width - 1 else names[fid_c]
            self.c_known[c] = _KIND_CODE.get(self.known[int(self.c_group[c])].get(name)) or 0
        self.values = _Values(
            row=np.concatenate([row, self.rows[p_valued]]),
            column=column,
            kind=np.concatenate([self.kind[valued], p_kind[p_valued]]),
            entry=np.concatenate([e.entry[valued], self.p_entry[p_valued]]),
            features=valued.shape[0],
        )
        if e.repeats:
            self._aliases()

    def _aliases(self) -> None:
        """Two keys naming one feature (``ml.feature.gen_ai.usage.x`` and ``gen_ai.usage.x``) in one record."""
        values = self.values
        n = values.features
        position = self.entries.position[self.valued]
        order = np.lexsort((position, values.column[:n], values.row[:n]))
        row, column = values.row[order], values.column[order]
        starts = np.ones(n, dtype=np.bool_)
        starts[1:] = (row[1:] != row[:-1]) | (column[1:] != column[:-1])
        ends = np.ones_like(starts)
        ends[:-1] = starts[1:]
        values.first_kind = values.kind.copy()
        values.first_kind[order] = values.kind[order][starts][np.cumsum(starts) - 1]
        values.last = np.ones(values.row.shape[0], dtype=np.bool_)
        values.last[order] = ends

    # -- kinds ---------------------------------------------------------------------------

    def _settle_kinds(self) -> tuple[Bools, Codes]:
        """Accepted records, and the kind each column has once the request is read.

        A column of unknown kind takes the kind of its first accepted record. When the
        candidates (records with no other failure and no clash with a known kind) agree
        on each column's kind, they are all accepted. Otherwise guess that each
        column's first candidate sets its kind: the guess is right for every record up
        to the earliest setting record it rejects, so that one is rejected for good and
        the guess is made again. Ordinary traffic never loops.
        """
        n = self.entries.flat.records
        values = self.values
        candidate = np.zeros(n, dtype=np.bool_)
        candidate[self.rows] = True
        candidate[self.entries.record[self.failing]] = False
        candidate[self.rows[(self.p_check > 0) | (self.s_check > 0) | (self.l_check > 0)]] = False
        row, column, kind = values.row, values.column, values.kind
        if self.c_known.any() or values.first_kind is not None:
            known = self.c_known[column]
            clash = (known > 0) & (kind != known)
            if values.first_kind is not None:
                clash |= kind != values.first_kind
            candidate[row[clash]] = False
            free = (known == 0) & candidate[row]
        else:
            free = candidate[row]
        if not free.all():
            row, column, kind = row[free], column[free], kind[free]
        seen = np.zeros((self.columns, 3), dtype=np.bool_)
        seen[column, kind] = True
        if not (seen[:, _NUMERIC] & seen[:, _CATEGORICAL]).any():
            settled = np.where(seen[:, _NUMERIC], _NUMERIC, np.where(seen[:, _CATEGORICAL], _CATEGORICAL, 0))
            return candidate, settled.astype(np.int8)
        while True:
            first = np.full(self.columns, n, dtype=np.intp)
            np.minimum.at(first, column, row)
            setting = row == first[column]
            established = np.zeros(self.columns, dtype=np.int8)
            established[column[setting]] = kind[setting]
            rejected = np.zeros(n, dtype=np.bool_)
            rejected[row[(row > first[column]) & (kind != established[column])]] = True
            firsts = first[first < n]
            wrong = firsts[rejected[firsts]]
            if wrong.shape[0] == 0:
                return candidate & ~rejected, established
            earliest = wrong.min()
            candidate[earliest] = False
            keep = row != earliest
            row, column, kind = row[keep], column[keep], kind[keep]

    def _reasons(self) -> None:
        """For each rejected record, the first failing check in attribute order."""
        e = self.entries
        rejected = np.zeros(e.flat.records, dtype=np.bool_)
        rejected[self.rows] = True
        rejected &= ~self.accepted
        if not rejected.any():
            return
        values = self.values
        # The kind a column has at each record: known, or set by its first accepted record before it.
        accepted_free = np.flatnonzero((self.c_known[values.column] == 0) & self.accepted[values.row])
        first_row = np.full(self.columns, e.flat.records, dtype=np.intp)
        np.minimum.at(first_row, values.column[accepted_free], values.row[accepted_free])

        tail = e.flat.record.shape[0]  # positions after every attribute
        parts: list[tuple[Ints, Ints, npt.ArrayLike, Ints, npt.ArrayLike]] = []
        failing = self.failing[rejected[e.record[self.failing]]]
        if failing.shape[0]:
            member = e.member[failing]
            bad_name = e.bad_names[e.key_id[failing]]
            conditions = [bad_name, member >= _UNSUPPORTED, e.long[failing]]
            check = np.select(conditions, [_FEATURE_NAME, _UNSUPPORTED_VALUE, _VALUE_TOO_LONG], _NON_FINITE)
            parts.append((e.record[failing], e.position[failing], check, e.entry[failing], 0))
        mine = np.flatnonzero(rejected[values.row])
        row, column, kind = values.row[mine], values.column[mine], values.kind[mine]
        is_feature = mine < values.features
        known = self.c_known[column]
        expected = np.where(known > 0, known, np.where(row > first_row[column], self.established[column], 0))
        if values.first_kind is not None:  # else, within its record: the first value's kind
            expected = np.where(is_feature & (expected == 0), values.first_kind[mine], expected)
        clash = (expected > 0) & (kind != expected)
        position = np.full(mine.shape[0], tail, dtype=np.intp)
        position[is_feature] = e.position[self.valued[mine[is_feature]]]
        kind_check = np.where(is_feature, _FEATURE_KIND, _PREDICTION_KIND)
        parts.append((row[clash], position[clash], kind_check[clash], values.entry[mine][clash], expected[clash]))
        of_rows = rejected[self.rows]
        for offset, check, entry in (
            (0, self.p_check, self.p_entry),
            (1, self.s_check, self.s_entry),
            (2, self.l_check, self.l_entry),
        ):
            hit = of_rows & (check > 0)
            parts.append((self.rows[hit], np.full(int(hit.sum()), tail + offset, dtype=np.intp), check[hit], entry[hit], 0))
        row = np.concatenate([p[0] for p in parts])
        position = np.concatenate([p[1] for p in parts])
        order = np.lexsort((position, row))
        first = np.ones(order.shape[0], dtype=np.bool_)
        first[1:] = row[order][1:] != row[order][:-1]
        pick = order[first]
        check = np.concatenate([np.broadcast_to(p[2], p[0].shape) for p in parts])
        entry = np.concatenate([p[3] for p in parts])
        expected_all = np.concatenate([np.broadcast_to(p[4], p[0].shape) for p in parts])
        self.verdicts.fail(row[pick], check[pick], entry[pick], expected_all[pick])

    # -- output --------------------------------------------------------------------------

    def batches(self, timestamps: Floats) -> list[tuple[InferenceBatch, dict[str, Kind]]]:
        """One batch per group with accepted records, with the kinds it registers.

        A group's columns of one kind are the rows of one 2-D array, filled by a
        single scatter of every accepted value; each column is a contiguous row view.
        """
        accepted_rows = np.flatnonzero(self.accepted)
        if accepted_rows.shape[0] == 0:
            return []
        e = self.entries
        names = e.feature_names
        group_rows = [accepted_rows] if self.groups == 1 else _split(accepted_rows, self.group_of[accepted_rows], self.groups)
        local = np.zeros(e.flat.records, dtype=np.intp)  # index of each record within its batch
        for rows in group_rows:
            local[rows] = np.arange(rows.shape[0])

        values = self.values
        taken = np.flatnonzero(self.accepted[values.row])
        # A batch's features are in order of first appearance among accepted values.
        features = taken[taken < values.features]
        first_seen = np.full(self.columns, values.row.shape[0], dtype=np.intp)
        np.minimum.at(first_seen, values.column[features], features)
        is_prediction = self.c_fid == len(names)
        ordered = np.flatnonzero((first_seen < values.row.shape[0]) & ~is_prediction)
        ordered = np.concatenate([ordered[np.argsort(first_seen[ordered], kind="stable")], np.flatnonzero(is_prediction)])
        categorical = np.where(self.c_known > 0, self.c_known, self.established) == _CATEGORICAL
        slot = np.zeros(self.columns, dtype=np.intp)  # row of the column in its group's 2-D array
        layouts: list[list[int]] = [[] for _ in range(self.groups)]
        sizes = np.zeros((self.groups, 2), dtype=np.intp)
        for c, g, k in zip(
            ordered.tolist(), self.c_group[ordered].tolist(), categorical[ordered].astype(np.intp).tolist(), strict=True
        ):
            slot[c] = sizes[g, k]
            sizes[g, k] += 1
            layouts[g].append(c)

        if values.last is not None:
            taken = taken[values.last[taken]]
        in_groups = [taken] if self.groups == 1 else _split(taken, self.c_group[values.column[taken]], self.groups)
        out: list[tuple[InferenceBatch, dict[str, Kind]]] = []
        for g, rows in enumerate(group_rows):
            size = rows.shape[0]
            if size == 0:
                continue
            mine = in_groups[g]
            column, where, entry = values.column[mine], local[values.row[mine]], values.entry[mine]
            numeric = ~categorical[column]
            numbers = np.full((int(sizes[g, 0]), size), np.nan)
            numbers[slot[column[numeric]], where[numeric]] = e.numbers(entry[numeric])
            categories = np.full((int(sizes[g, 1]), size), None, dtype=object)
            categories[slot[column[~numeric]], where[~numeric]] = e.categories(entry[~numeric])
            batch_features: dict[str, Column] = {}
            new_kinds: dict[str, Kind] = {}
            predictions: Column | None = None
            for c in layouts[g]:
                col = Column("categorical", categories[slot[c]]) if categorical[c] else Column("numeric", numbers[slot[c]])
                if is_prediction[c]:
                    predictions, prediction_column = col, c
                    continue
                name = names[self.c_fid[c]]
                batch_features[name] = col
                if self.c_known[c] == 0:
                    new_kinds[name] = col.kind
            known_prediction = _KIND_CODE.get(self.known[g].get(PREDICTION_KEY)) or 0
            if predictions is None:
                kind = _KIND_NAME.get(known_prediction, "numeric")
                predictions = Column(kind, np.full(size, np.nan) if kind == "numeric" else np.full(size, None, dtype=object))
            elif known_prediction == 0 and self.established[prediction_column] > 0:
                new_kinds[PREDICTION_KEY] = predictions.kind
            index = np.searchsorted(self.rows, rows)
            model, version = self.keys[g]
            batch = InferenceBatch(
                model=model,
                version=version,
                timestamps=timestamps[rows],
                prediction_ids=self._ids(rows),
                predictions=predictions,
                scores=self.scores[index],
                latencies=self.latencies[index],
                features=batch_features,
            )
            out.append((batch, new_kinds))
        return out

    def _ids(self, rows: Ints) -> Objects:
        ids = self.entries.strings(self.entries.at[_PID][rows])
        out = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
        out[np.asarray(pc.binary_length(ids).to_numpy()) == 0] = None
        return out


def _message(entries: _Entries, row: int, check: int, entry: int, expected: int, limits: IngestLimits) -> str:
    """The message of one failed check (only the request's first is ever shown)."""
    flat = entries.flat
    if check == _TOO_MANY_ATTRIBUTES:
        count = int(flat.attribute_offsets[row + 1] - flat.attribute_offsets[row])
        limit = limits.max_attributes_per_record
        return f"log record has {count} attributes; the limit is {limit} (max_attributes_per_record)"
    if check == _MODEL_MISSING:
        return "ml.inference records need a non-empty string ml.model.name"
    if check == _MODEL_TOO_LONG:
        return f"ml.model.name is longer than {MAX_NAME_LENGTH} characters"
    if check == _VERSION_TOO_LONG:
        return f"ml.model.version is longer than {MAX_NAME_LENGTH} characters"
    if check == _UNKNOWN_EVENT:
        event = flat.event_name[row].as_py()
        if not event and entries.at[_EVENT][row] >= 0:
            event = entries.strings(entries.at[_EVENT][row : row + 1])[0].as_py()
        return f"log record event name {event!r} is not ml.inference or ml.label"
    if check == _LABEL_ID:
        return "ml.label records need a non-empty ml.prediction.id"
    if check == _LABEL_MISSING:
        return "ml.label records need an ml.label attribute"
    if check == _LABEL_KIND:
        return "ml.label values in one request must share one type"
    if check == _SCORE_KIND:
        return "attribute 'ml.prediction.score' must be a number"
    if check == _LATENCY_KIND:
        return "attribute 'ml.latency' must be a number of seconds"
    key = flat.key[entry].as_py()
    if check == _VALUE_TOO_LONG:
        return f"attribute {key!r} is {limits.string_rule()}"
    member = int(flat.member[entry])
    if check == _UNSUPPORTED_VALUE:
        return f"{MEMBERS[member - 1]} values are not supported for model inputs and outputs"
    if check == _NON_FINITE:
        number = float(entries.numbers(np.array([entry], dtype=np.intp))[0])
        return f"attribute {key!r} must be a finite number, got {number}"
    name = key[len(_FEATURE_PREFIX) :] if key.startswith(_FEATURE_PREFIX) else key
    if check == _FEATURE_NAME:
        return f"feature name {name!r} must be 1-{MAX_NAME_LENGTH} characters"
    kind = _KIND_NAME[int(_KIND_OF_MEMBER[member])]
    if check == _PREDICTION_KIND:
        return f"attribute {PREDICTION_KEY!r} changed type to {kind}"
    shown = "a number" if expected == _NUMERIC else "a string"
    return f"attribute {name!r} must be {shown} as before, got a {kind} value"
