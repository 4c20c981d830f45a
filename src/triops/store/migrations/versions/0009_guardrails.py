"""Guardrail rules stored through the API.

Revision ID: 0009_guardrails
Revises: 0008_prompts
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_guardrails"
down_revision = "0008_prompts"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llm_guardrail_rules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("llm_guardrail_rules")
