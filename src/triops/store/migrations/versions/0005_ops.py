"""AIOps: detector state per series, log-mining state per stream.

Revision ID: 0005_ops
Revises: 0004_llm_traces
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_ops"
down_revision = "0004_llm_traces"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ops_series_state",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("series", sa.String(512), primary_key=True),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("state", JSONType, nullable=False),
        sa.Column("last_ts_ms", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("anomalies", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ops_log_streams",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("stream", sa.String(512), primary_key=True),
        sa.Column("miner", JSONType, nullable=False),
        sa.Column("rates", JSONType, nullable=False),
        sa.Column("seen", JSONType, nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ops_log_streams")
    op.drop_table("ops_series_state")
