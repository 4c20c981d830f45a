"""Serving endpoints.

Revision ID: 0006_deployments
Revises: 0005_ops
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_deployments"
down_revision = "0005_ops"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "serving_endpoints",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_ref", sa.String(256), nullable=False),
        sa.Column("policy", JSONType, nullable=False),
        sa.Column("max_batch_size", sa.Integer(), nullable=False),
        sa.Column("max_wait_ms", sa.Float(), nullable=False),
        sa.Column("log_sample_rate", sa.Float(), nullable=False),
        sa.Column("trust_pickle", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("serving_endpoints")
