"""Files uploaded through the OpenAI-compatible ``/v1/files`` API.

Revision ID: 0020_llm_files
Revises: 0019_incident_members
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_llm_files"
down_revision = "0019_incident_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(700), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_llm_files_listing", "llm_files", ["project", "created_ms", "id"])


def downgrade() -> None:
    op.drop_table("llm_files")
