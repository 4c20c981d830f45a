"""Indexes for reading LLM traces by session (a conversation) and by end user.

Revision ID: 0020_llm_people
Revises: 0019_incident_members
"""

from alembic import op

revision = "0020_llm_people"
down_revision = "0019_incident_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_llm_traces_session", "llm_traces", ["project", "session_id", "start_ns"])
    op.create_index("ix_llm_traces_user", "llm_traces", ["project", "user_id", "start_ns"])


def downgrade() -> None:
    op.drop_index("ix_llm_traces_user", table_name="llm_traces")
    op.drop_index("ix_llm_traces_session", table_name="llm_traces")
