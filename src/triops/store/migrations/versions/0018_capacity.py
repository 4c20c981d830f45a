"""Capacity: rules that project series to a threshold, and each series' last verdict.

Revision ID: 0018_capacity
Revises: 0017_runbooks
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018_capacity"
down_revision = "0017_runbooks"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "capacity_rules",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "capacity_series_state",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("series", sa.String(512), primary_key=True),
        sa.Column("evaluated_ms", sa.BigInteger(), nullable=False),
        sa.Column("crossing_ms", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("capacity_series_state")
    op.drop_table("capacity_rules")
