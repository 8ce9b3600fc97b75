"""Table definitions (SQLAlchemy Core). Schema changes go through Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "action_audit",
    "alert_groups",
    "alerts",
    "checkpoints",
    "correlation_findings",
    "drift_results",
    "features",
    "ingest_log",
    "metadata",
    "models",
    "outbox",
    "quality_windows",
    "references",
    "series_points",
    "silences",
    "windows",
]

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
Offset = BigInteger().with_variant(Integer(), "sqlite")

models = Table(
    "models",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("created_at", Float, nullable=False),
)

features = Table(
    "features",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("feature", String(160), primary_key=True),
    Column("kind", String(16), nullable=False),
)

references = Table(
    "references",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("feature", String(160), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("profile", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

ingest_log = Table(
    "ingest_log",
    metadata,
    Column("offset", Offset, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("records", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("log_offset", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", Float, nullable=False),
)

windows = Table(
    "windows",
    metadata,
    Column("id", Offset, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("closed_at", Float, nullable=False),
    Column("summary", Text, nullable=False),
    Index("ix_windows_lookup", "model", "version", "window_start"),
)

drift_results = Table(
    "drift_results",
    metadata,
    Column("id", Offset, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("feature", String(160), nullable=False),
    Column("test", String(32), nullable=False),
    Column("statistic", Float, nullable=False),
    Column("p_value", Float, nullable=True),
    Column("effect_size", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("drift_detected", Boolean, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_drift_results_lookup", "model", "version", "feature", "window_end"),
)

# One row per (series, resolution, bucket): see monitor.series. ``labels`` is the
# canonical JSON attribute set; rows are merged by UPSERT on the primary key.
series_points = Table(
    "series_points",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("labels", Text, primary_key=True),
    Column("resolution", Integer, primary_key=True),
    Column("bucket_start", Float, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("last", Float, nullable=False),
    Column("last_t", Float, nullable=False),
    Index("ix_series_points_range", "name", "resolution", "bucket_start"),
    Index("ix_series_points_age", "bucket_start"),
)

# -- labels --
# One row per closed quality window of a (model, version): see monitor.labels.
quality_windows = Table(
    "quality_windows",
    metadata,
    Column("id", Offset, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("task", String(16), nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("drift_detected", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_quality_windows_lookup", "model", "version", "window_end"),
)


# -- alerts -------------------------------------------------------------------------------------
# One row per alert incident: pending, then firing, then resolved (the history). At most one
# pending/firing row per fingerprint; a fingerprint that fires again gets a new row.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Offset, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("active_since", Float, nullable=False),
    Column("starts_at", Float, nullable=True),
    Column("ends_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Index("ix_alerts_state", "state", "fingerprint"),
    Index("ix_alerts_recent", "active_since"),
)

# What each receiver was last told about each notification group (for dedup and repeat_interval).
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("receiver", String(128), primary_key=True),
    Column("group_key", String(64), primary_key=True),
    Column("labels", Text, nullable=False),
    Column("fingerprints", Text, nullable=False),
    Column("last_sent_at", Float, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Notifications and actions, written before delivery; ``id`` is the idempotency key.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(128), nullable=False),
    Column("group_key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False),
    Column("audit_id", BigInteger, nullable=True),
    Index("ix_outbox_due", "state", "next_attempt_at"),
)

# One row per rollback-policy decision: what fired, what ran (or why not), the result.
action_audit = Table(
    "action_audit",
    metadata,
    Column("id", Offset, primary_key=True, autoincrement=True),
    Column("policy", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("scope", String(512), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("trigger", Text, nullable=False),
    Column("alertname", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("labels", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("result", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("outbox_id", String(36), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_action_audit_policy", "policy", "created_at"),
)


# -- correlate --
# One row per (model-side series, KPI): the latest evidence of a link, see monitor.correlation.
correlation_findings = Table(
    "correlation_findings",
    metadata,
    Column("metric", Text, primary_key=True),
    Column("kpi", Text, primary_key=True),
    Column("model", String(128), nullable=True),
    Column("version", String(128), nullable=True),
    Column("metric_label", Text, nullable=False),
    Column("direction", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lag_seconds", Float, nullable=False),
    Column("strength", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("q_value", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("granger_p", Float, nullable=True),
    Column("reverse_p", Float, nullable=True),
    Column("reverse_warning", Boolean, nullable=False),
    Column("effect", Float, nullable=True),
    Column("effect_low", Float, nullable=True),
    Column("effect_high", Float, nullable=True),
    Column("events_model", Integer, nullable=False),
    Column("events_matched", Integer, nullable=False),
    Column("event_effect", Float, nullable=True),
    Column("evidence", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence_start", Float, nullable=False),
    Column("evidence_end", Float, nullable=False),
    Column("incident", Text, nullable=True),
    Column("unit", Text, nullable=False),
    Column("sentence", Text, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_confirmed", Float, nullable=False),
    Column("expired_at", Float, nullable=True),
    Column("method", String(16), nullable=False, server_default="correlation"),
    Column("placebos", Integer, nullable=False, server_default="0"),
    Column("exceeded_by", Integer, nullable=False, server_default="0"),
    Index("ix_correlation_findings_rank", "status", "score"),
)
