"""LLM tracing: per-trace summary rows and trace scores.

Revision ID: 0004_llm_traces
Revises: 0003_llm_gateway
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_llm_traces"
down_revision = "0003_llm_gateway"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "llm_traces",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("has_root", sa.Boolean(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("session_id", sa.String(256), nullable=True),
        sa.Column("api_key", sa.String(256), nullable=True),
        sa.Column("service", sa.String(256), nullable=True),
    )
    op.create_index("ix_llm_traces_project_start", "llm_traces", ["project", "start_ns"])
    op.create_table(
        "llm_trace_scores",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_llm_trace_scores_trace", "llm_trace_scores", ["project", "trace_id"])


def downgrade() -> None:
    op.drop_table("llm_trace_scores")
    op.drop_table("llm_traces")
