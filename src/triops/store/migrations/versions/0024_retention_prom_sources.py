"""Retention policies per project, and Prometheus query_range sources.

Revision ID: 0024_retention_prom_sources
Revises: 0023_rag
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0024_retention_prom_sources"
down_revision = "0023_rag"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_run_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_report", JSON, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
    )
    op.create_table(
        "ops_prom_sources",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_run_ms", sa.BigInteger(), nullable=True),
        sa.Column("fetched_to_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_ok_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_ms", sa.BigInteger(), nullable=True),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("anomalies", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ops_prom_sources")
    op.drop_table("retention_policies")
