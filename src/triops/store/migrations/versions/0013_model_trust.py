"""Serving endpoints: the skops types an admin trusted and the files that trust is for.

Revision ID: 0013_model_trust
Revises: 0012_spend_ledger
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013_model_trust"
down_revision = "0012_spend_ledger"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("serving_endpoints") as batch:
        batch.add_column(sa.Column("trusted_types", JSONType, nullable=False,
                                   server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("trusted_files", JSONType, nullable=False,
                                   server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("serving_endpoints") as batch:
        batch.drop_column("trusted_files")
        batch.drop_column("trusted_types")
