"""Server-side web UI sessions: the browser's cookie holds a session token, not a key.

Revision ID: 0011_ui_sessions
Revises: 0010_incident_dedup
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ui_sessions"
down_revision = "0010_incident_dedup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_ui_sessions_key_id", "ui_sessions", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_ui_sessions_key_id", table_name="ui_sessions")
    op.drop_table("ui_sessions")
