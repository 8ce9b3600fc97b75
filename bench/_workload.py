"""Synthetic ``ml.inference`` traffic as serialized OTLP requests, cheap to make distinct.

Building a 512-record ``ExportLogsServiceRequest`` through the protobuf API takes
tens of milliseconds, too slow to do per request while measuring a server. So a few
templates are built once, and each request is a copy of one with its prediction ids
and timestamps patched in place: every body is distinct (the server deduplicates
retries by body digest), carries unique prediction ids, and is stamped "now".
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

__all__ = ["CATEGORICAL", "MODEL", "NUMERIC", "VERSION", "BodyFactory", "feature_table", "gzip_body"]

MODEL = "credit-risk"
VERSION = "v3"
#: 16 numeric features; the ``int`` ones are sent as OTLP ``int_value`` like an SDK would.
NUMERIC: dict[str, type] = {
    "income": float,
    "age": int,
    "debt_ratio": float,
    "credit_lines": int,
    "loan_amount": float,
    "loan_term_months": int,
    "interest_rate": float,
    "months_employed": int,
    "num_dependents": int,
    "savings_balance": float,
    "checking_balance": float,
    "credit_utilization": float,
    "num_late_payments": int,
    "account_age_days": int,
    "annual_spend": float,
    "requested_limit": float,
}
CATEGORICAL: dict[str, tuple[str, ...]] = {
    "employment": ("salaried", "self_employed", "unemployed", "retired"),
    "region": ("north", "south", "east", "west", "central"),
    "channel": ("web", "mobile", "branch", "partner"),
    "product": ("card", "personal_loan", "auto_loan", "mortgage", "overdraft", "student_loan"),
}
_PID_PREFIX = 12  # hex digits of each prediction id that carry the request sequence number
_TIME_MARK = 0x0123_4567_0000_0000  # distinctive placeholder timestamps, found and patched later
_TIME_TAG = b"\x09"  # LogRecord.time_unix_nano: field 1, fixed64
_OBSERVED_TAG = b"\x59"  # LogRecord.observed_time_unix_nano: field 11, fixed64
_U64 = struct.Struct("<Q")


def feature_table(rng: np.random.Generator, n: int) -> pa.Table:
    """``n`` rows of the 20 features (the same population for live traffic and the reference)."""
    columns: dict[str, np.ndarray] = {
        "income": rng.lognormal(10.6, 0.45, n),
        "age": np.clip(rng.normal(41, 12, n), 18, 90).round(),
        "debt_ratio": rng.beta(2, 5, n),
        "credit_lines": rng.poisson(4, n),
        "loan_amount": rng.lognormal(9.5, 0.8, n),
        "loan_term_months": rng.choice([12, 24, 36, 48, 60], n),
        "interest_rate": rng.uniform(0.02, 0.25, n),
        "months_employed": rng.poisson(60, n),
        "num_dependents": rng.poisson(1.2, n),
        "savings_balance": rng.lognormal(8, 1.5, n),
        "checking_balance": rng.lognormal(7, 1.2, n),
        "credit_utilization": rng.beta(2, 3, n),
        "num_late_payments": rng.poisson(0.4, n),
        "account_age_days": rng.integers(30, 7000, n),
        "annual_spend": rng.gamma(3, 4000, n),
        "requested_limit": rng.lognormal(8.5, 0.6, n),
    }
    arrays: dict[str, pa.Array] = {
        name: pa.array(columns[name].astype(np.int64 if kind is int else np.float64)) for name, kind in NUMERIC.items()
    }
    for name, values in CATEGORICAL.items():
        arrays[name] = pa.array(rng.choice(np.array(values, dtype=object), n).tolist(), type=pa.string())
    return pa.table(arrays)


def _value(value: object) -> common_pb2.AnyValue:
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    return common_pb2.AnyValue(double_value=float(value))  # type: ignore[arg-type]


def _kv(key: str, value: object) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=_value(value))


@dataclass(frozen=True, slots=True)
class _Template:
    body: bytes
    pid_offsets: tuple[int, ...]
    time_offsets: tuple[int, ...]  # time_unix_nano and observed_time_unix_nano of each record
    time_lags_ns: tuple[int, ...]  # how long before "now" each of those is stamped


def _template(rng: np.random.Generator, index: int, records: int) -> _Template:
    rows = feature_table(rng, records).to_pylist()
    scores = rng.random(records)
    latencies = rng.gamma(4, 0.005, records)
    pids = [f"{0:0{_PID_PREFIX}x}{index:04x}{i:04x}{rng.integers(1 << 48):012x}" for i in range(records)]
    log_records = []
    for i, row in enumerate(rows):
        attributes = [
            _kv("ml.model.name", MODEL),
            _kv("ml.model.version", VERSION),
            _kv("ml.prediction.id", pids[i]),
            _kv("ml.prediction", "approve" if scores[i] >= 0.5 else "decline"),
            _kv("ml.prediction.score", float(scores[i])),
            _kv("ml.latency", float(latencies[i])),
        ]
        attributes += [_kv(f"ml.feature.{name}", row[name]) for name in (*NUMERIC, *CATEGORICAL)]
        log_records.append(
            logs_pb2.LogRecord(
                time_unix_nano=_TIME_MARK + 2 * i,
                observed_time_unix_nano=_TIME_MARK + 2 * i + 1,
                severity_number=logs_pb2.SEVERITY_NUMBER_INFO,
                severity_text="INFO",
                event_name="ml.inference",
                trace_id=rng.bytes(16),
                span_id=rng.bytes(8),
                flags=1,
                attributes=attributes,
            )
        )
    resource = resource_pb2.Resource(
        attributes=[
            _kv("service.name", f"{MODEL}-server"),
            _kv("service.version", "2.14.1"),
            _kv("service.instance.id", f"pod-{index:02d}"),
            _kv("deployment.environment.name", "production"),
            _kv("host.name", f"inference-{index:02d}.internal"),
            _kv("telemetry.sdk.language", "python"),
            _kv("telemetry.sdk.name", "opentelemetry"),
        ]
    )
    scope = common_pb2.InstrumentationScope(name="credit_risk.serving", version="2.14.1")
    request = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(resource=resource, scope_logs=[logs_pb2.ScopeLogs(scope=scope, log_records=log_records)])
        ]
    )
    body = request.SerializeToString()
    pid_offsets = tuple(_find_once(body, pid.encode()) for pid in pids)
    time_offsets: list[int] = []
    lags: list[int] = []
    spacing = 50_000  # records 50 µs apart, the newest "now"
    for i in range(records):
        lag = (records - 1 - i) * spacing
        time_offsets.append(_find_once(body, _TIME_TAG + _U64.pack(_TIME_MARK + 2 * i)) + 1)
        time_offsets.append(_find_once(body, _OBSERVED_TAG + _U64.pack(_TIME_MARK + 2 * i + 1)) + 1)
        lags += [lag, lag]
    return _Template(body, pid_offsets, tuple(time_offsets), tuple(lags))


def _find_once(haystack: bytes, needle: bytes) -> int:
    position = haystack.find(needle)
    if position < 0 or haystack.find(needle, position + 1) >= 0:
        raise RuntimeError(f"placeholder {needle!r} must occur exactly once in the template body")
    return position


class BodyFactory:
    """Distinct serialized ``ExportLogsServiceRequest`` bodies of ``records`` ``ml.inference`` events.

    Each template has its own feature values; :meth:`make` patches a request
    sequence number into every prediction id (so ids never repeat) and stamps
    the records with the current time.
    """

    def __init__(self, *, records: int = 512, templates: int = 4, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.records = records
        self._templates = [_template(rng, index, records) for index in range(templates)]

    @property
    def body_bytes(self) -> int:
        return len(self._templates[0].body)

    def make(self, seq: int, now_ns: int | None = None) -> bytes:
        template = self._templates[seq % len(self._templates)]
        buffer = bytearray(template.body)
        prefix = f"{seq:0{_PID_PREFIX}x}".encode()
        if len(prefix) != _PID_PREFIX:
            raise ValueError(f"seq must be below 16**{_PID_PREFIX}, got {seq}")
        for offset in template.pid_offsets:
            buffer[offset : offset + _PID_PREFIX] = prefix
        now = time.time_ns() if now_ns is None else now_ns
        pack = _U64.pack_into
        for offset, lag in zip(template.time_offsets, template.time_lags_ns, strict=True):
            pack(buffer, offset, now - lag)
        return bytes(buffer)


def gzip_body(body: bytes, level: int) -> bytes:
    """``Content-Encoding: gzip`` of ``body``."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()
