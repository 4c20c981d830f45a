"""LLM gateway: stored upstreams, routes and per-key policies.

Revision ID: 0003_llm_gateway
Revises: 0002_ml
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_llm_gateway"
down_revision = "0002_ml"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llm_gateway_upstreams",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "llm_gateway_routes",
        sa.Column("alias", sa.String(256), primary_key=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "llm_gateway_key_policies",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("allowed", JSONType, nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("budget_period", sa.String(16), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("cache", sa.Boolean(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("llm_gateway_key_policies")
    op.drop_table("llm_gateway_routes")
    op.drop_table("llm_gateway_upstreams")
