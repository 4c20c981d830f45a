"""Indexes for reading LLM traces by session (a conversation) and by end user; traces
name their API key by id.

Traces that came in through OTLP or the SDK named their key by its name, gateway traces
by its id. Names that belong to exactly one key become that key's id; a name several
keys share cannot be told apart and stays as it is.

Revision ID: 0021_llm_people
Revises: 0020_llm_files
"""

from alembic import op

revision = "0021_llm_people"
down_revision = "0020_llm_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_llm_traces_session", "llm_traces", ["project", "session_id", "start_ns"])
    op.create_index("ix_llm_traces_user", "llm_traces", ["project", "user_id", "start_ns"])
    op.execute(
        "UPDATE llm_traces SET api_key = "
        "(SELECT k.id FROM api_keys k WHERE k.name = llm_traces.api_key) "
        "WHERE api_key IN (SELECT name FROM api_keys GROUP BY name HAVING COUNT(*) = 1) "
        "AND api_key NOT IN (SELECT id FROM api_keys)")


def downgrade() -> None:
    # Key ids stay: they are as valid a value of the column as names were.
    op.drop_index("ix_llm_traces_user", table_name="llm_traces")
    op.drop_index("ix_llm_traces_session", table_name="llm_traces")
