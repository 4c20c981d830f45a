"""Foundation: projects, API keys, incidents, audit log, append-only records.

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_api_keys_project", "api_keys", ["project"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("signal_count", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("acked_by", sa.String(256), nullable=True),
        sa.Column("acked_ms", sa.BigInteger(), nullable=True),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_incidents_project_fp_status", "incidents", ["project", "fingerprint", "status"]
    )
    op.create_table(
        "incident_signals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", sa.String(32),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("labels", JSONType, nullable=False),
    )
    op.create_index("ix_incident_signals_incident_id", "incident_signals", ["incident_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("detail", JSONType, nullable=False),
    )
    op.create_index("ix_audit_log_project", "audit_log", ["project"])
    op.create_table(
        "records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
    )
    op.create_index("ix_records_scan", "records", ["project", "kind", "stream", "ts_ms"])


def downgrade() -> None:
    for table in ("records", "audit_log", "incident_signals", "incidents", "api_keys", "projects"):
        op.drop_table(table)
