"""Incidents hold several fingerprints: members, their join reasons, and a timeline.

Every existing incident gets one member, its own fingerprint (the live home of that
fingerprint while the incident is active), and its signals are tagged with it.

Revision ID: 0019_incident_members
Revises: 0018_capacity
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0019_incident_members"
down_revision = "0018_capacity"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE_SQL = "status IN ('open', 'acknowledged')"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("flapping", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.add_column("incidents", sa.Column("merged_into", sa.String(32), nullable=True))
    op.add_column("incident_signals", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.create_table(
        "incident_members",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("incident_id", sa.String(32),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("signal_count", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
        sa.Column("flap_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_incident_members_incident_id", "incident_members", ["incident_id"])
    op.create_index("uq_incident_members_active", "incident_members", ["project", "fingerprint"],
                    unique=True, postgresql_where=sa.text("active"),
                    sqlite_where=sa.text("active"))
    op.create_index("ix_incident_members_recent", "incident_members",
                    ["project", "active", "last_ms"])
    op.create_table(
        "incident_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    op.execute(
        "INSERT INTO incident_members (project, incident_id, fingerprint, active, firing, "
        "source, kind, subject, labels, severity, signal_count, first_ms, last_ms, "
        "flap_count, reason) SELECT project, id, fingerprint, "
        f"CASE WHEN {ACTIVE_SQL} THEN TRUE ELSE FALSE END, TRUE, source, kind, subject, "
        "labels, severity, signal_count, first_ms, last_ms, 0, '' FROM incidents"
    )
    op.execute(
        "UPDATE incident_signals SET fingerprint = (SELECT fingerprint FROM incidents "
        "WHERE incidents.id = incident_signals.incident_id)"
    )


def downgrade() -> None:
    op.drop_table("incident_events")
    op.drop_table("incident_members")
    with op.batch_alter_table("incident_signals") as batch:
        batch.drop_column("fingerprint")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("flapping")
