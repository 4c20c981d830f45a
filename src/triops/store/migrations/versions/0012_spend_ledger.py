"""LLM gateway: the spend ledger, one row per settled call.

Revision ID: 0012_spend_ledger
Revises: 0011_ui_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_spend_ledger"
down_revision = "0011_ui_sessions"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "llm_gateway_spend",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_llm_gateway_spend_key_time", "llm_gateway_spend",
                    ["key_id", "created_ms"])
    op.create_index("ix_llm_gateway_spend_project_time", "llm_gateway_spend",
                    ["project", "created_ms"])


def downgrade() -> None:
    op.drop_table("llm_gateway_spend")
