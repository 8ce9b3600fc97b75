"""Correlation findings from the incident event test: which test found a link, and its placebo rank.

Revision ID: 0006_event_findings
Revises: 0005_correlate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_event_findings"
down_revision = "0005_correlate"


def upgrade() -> None:
    with op.batch_alter_table("correlation_findings") as batch:
        batch.add_column(sa.Column("method", sa.String(16), nullable=False, server_default="correlation"))
        batch.add_column(sa.Column("placebos", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("exceeded_by", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("correlation_findings") as batch:
        batch.drop_column("exceeded_by")
        batch.drop_column("placebos")
        batch.drop_column("method")
