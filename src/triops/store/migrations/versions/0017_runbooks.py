"""Runbooks: versioned runbooks, their runs, and the queue of incidents to match.

Revision ID: 0017_runbooks
Revises: 0016_notifications
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017_runbooks"
down_revision = "0016_notifications"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runbooks",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "runbook_versions",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "runbook_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("runbook", sa.String(128), nullable=False),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("causes", JSONType, nullable=False),
        sa.Column("plan", JSONType, nullable=False),
        sa.Column("steps", JSONType, nullable=False),
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("decided_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("acted_ms", sa.BigInteger(), nullable=True),
        sa.Column("verify_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_runbook_runs_incident_id", "runbook_runs", ["incident_id"])
    op.create_index("ix_runbook_runs_book", "runbook_runs", ["project", "runbook", "created_ms"])
    op.create_index("ix_runbook_runs_status", "runbook_runs", ["status"])
    op.create_table(
        "runbook_queue",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("enqueued_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runbook_queue")
    op.drop_index("ix_runbook_runs_status", table_name="runbook_runs")
    op.drop_index("ix_runbook_runs_book", table_name="runbook_runs")
    op.drop_index("ix_runbook_runs_incident_id", table_name="runbook_runs")
    op.drop_table("runbook_runs")
    op.drop_table("runbook_versions")
    op.drop_table("runbooks")
