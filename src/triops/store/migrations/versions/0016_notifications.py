"""Notifications out (channels, routes, silences, delivery outbox) and the annotations
an incident's signals carried.

Revision ID: 0016_notifications
Revises: 0015_topology
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016_notifications"
down_revision = "0015_topology"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("annotations", JSONType, nullable=False,
                                   server_default="{}"))
    op.create_table(
        "notify_channels",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notify_routes",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("matchers", JSONType, nullable=False),
        sa.Column("group_by", JSONType, nullable=False),
        sa.Column("group_wait_s", sa.Integer(), nullable=False),
        sa.Column("repeat_interval_s", sa.Integer(), nullable=False),
        sa.Column("send_resolved", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notify_silences",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("matchers", JSONType, nullable=False),
        sa.Column("starts_ms", sa.BigInteger(), nullable=False),
        sa.Column("ends_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_notify_silences_project", "notify_silences", ["project"])
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("group_key", sa.String(1024), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_notify_deliveries_due", "notify_deliveries", ["status", "next_ms"])
    op.create_index("ix_notify_deliveries_group", "notify_deliveries",
                    ["project", "route", "group_key", "event"])
    op.create_table(
        "notify_delivery_incidents",
        sa.Column("delivery_id", sa.String(32),
                  sa.ForeignKey("notify_deliveries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("incident_id", sa.String(32), primary_key=True),
    )
    op.create_index("ix_notify_delivery_incidents_incident_id", "notify_delivery_incidents",
                    ["incident_id"])


def downgrade() -> None:
    for table in ("notify_delivery_incidents", "notify_deliveries", "notify_silences",
                  "notify_routes", "notify_channels"):
        op.drop_table(table)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("annotations")
