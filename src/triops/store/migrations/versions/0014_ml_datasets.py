"""MLOps datasets and native tracking: dataset versions, applied SDK batches.

Revision ID: 0014_ml_datasets
Revises: 0013_model_trust
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014_ml_datasets"
down_revision = "0013_model_trust"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ml_dataset_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("columns", JSONType, nullable=False),
        sa.Column("profile", JSONType, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ux_ml_dataset_versions_version", "ml_dataset_versions",
                    ["project", "name", "version"], unique=True)
    op.create_index("ix_ml_dataset_versions_digest", "ml_dataset_versions",
                    ["project", "name", "digest"])
    op.create_table(
        "ml_applied_batches",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ml_applied_batches")
    op.drop_index("ix_ml_dataset_versions_digest", "ml_dataset_versions")
    op.drop_index("ux_ml_dataset_versions_version", "ml_dataset_versions")
    op.drop_table("ml_dataset_versions")
