"""Time series store: rolled-up metric buckets.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "series_points",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("labels", sa.Text, primary_key=True),
        sa.Column("resolution", sa.Integer, primary_key=True),
        sa.Column("bucket_start", sa.Float, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        sa.Column("last_t", sa.Float, nullable=False),
    )
    op.create_index("ix_series_points_range", "series_points", ["name", "resolution", "bucket_start"])
    op.create_index("ix_series_points_age", "series_points", ["bucket_start"])


def downgrade() -> None:
    op.drop_table("series_points")
