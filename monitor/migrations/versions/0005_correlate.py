"""Correlation findings: model-side series linked to business KPIs.

Revision ID: 0005_correlate
Revises: 0004_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_correlate"
down_revision = "0004_alerts"


def upgrade() -> None:
    op.create_table(
        "correlation_findings",
        sa.Column("metric", sa.Text, primary_key=True),
        sa.Column("kpi", sa.Text, primary_key=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("metric_label", sa.Text, nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lag_seconds", sa.Float, nullable=False),
        sa.Column("strength", sa.Float, nullable=False),
        sa.Column("p_value", sa.Float, nullable=False),
        sa.Column("q_value", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("granger_p", sa.Float, nullable=True),
        sa.Column("reverse_p", sa.Float, nullable=True),
        sa.Column("reverse_warning", sa.Boolean, nullable=False),
        sa.Column("effect", sa.Float, nullable=True),
        sa.Column("effect_low", sa.Float, nullable=True),
        sa.Column("effect_high", sa.Float, nullable=True),
        sa.Column("events_model", sa.Integer, nullable=False),
        sa.Column("events_matched", sa.Integer, nullable=False),
        sa.Column("event_effect", sa.Float, nullable=True),
        sa.Column("evidence", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence_start", sa.Float, nullable=False),
        sa.Column("evidence_end", sa.Float, nullable=False),
        sa.Column("incident", sa.Text, nullable=True),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("sentence", sa.Text, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_confirmed", sa.Float, nullable=False),
        sa.Column("expired_at", sa.Float, nullable=True),
    )
    op.create_index("ix_correlation_findings_rank", "correlation_findings", ["status", "score"])


def downgrade() -> None:
    op.drop_index("ix_correlation_findings_rank", table_name="correlation_findings")
    op.drop_table("correlation_findings")
