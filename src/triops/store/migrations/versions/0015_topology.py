"""Topology nodes and edges, and change events.

Revision ID: 0015_topology
Revises: 0014_ml_datasets
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015_topology"
down_revision = "0014_ml_datasets"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "topology_nodes",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "topology_edges",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("src", sa.String(512), primary_key=True),
        sa.Column("dst", sa.String(512), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("version", sa.String(256), nullable=False),
        sa.Column("commit", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
    )
    op.create_index("ix_changes_project_time", "changes", ["project", "time_ms"])
    op.create_index("ix_changes_project_entity_time", "changes",
                    ["project", "entity", "time_ms"])


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_table("topology_edges")
    op.drop_table("topology_nodes")
