"""MLOps tracking and model registry: experiments, runs, params, tags, latest metrics,
dataset inputs, logged models, registered models, versions and aliases.

Revision ID: 0002_ml
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_ml"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk() -> sa.Column:
    return sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("ml_runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "ml_experiments",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("experiment_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("artifact_location", sa.Text(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
    )
    op.create_index("ux_ml_experiments_name", "ml_experiments", ["project", "name"], unique=True)
    op.create_table(
        "ml_runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("experiment_id", sa.String(32), nullable=False),
        sa.Column("run_name", sa.String(512), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_ml_runs_search", "ml_runs",
        ["project", "experiment_id", "lifecycle_stage", "start_time"],
    )
    for table in ("ml_run_params", "ml_run_tags"):
        op.create_table(
            table,
            _run_fk(),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
        )
    op.create_table(
        "ml_latest_metrics",
        _run_fk(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_ml_latest_metrics_key_value", "ml_latest_metrics", ["key", "value"])
    op.create_table(
        "ml_run_inputs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("ml_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dataset_name", sa.String(500), nullable=False),
        sa.Column("dataset_digest", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
    )
    op.create_index("ix_ml_run_inputs_run_id", "ml_run_inputs", ["run_id"])
    op.create_table(
        "ml_run_models",
        _run_fk(),
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ml_logged_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("experiment_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("model_type", sa.String(128), nullable=False),
        sa.Column("source_run_id", sa.String(32), nullable=True),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("tags", JSONType, nullable=False),
    )
    op.create_index(
        "ix_ml_logged_models_search", "ml_logged_models",
        ["project", "experiment_id", "creation_timestamp_ms"],
    )
    op.create_table(
        "ml_registered_models",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
    )
    op.create_index(
        "ux_ml_registered_models_name", "ml_registered_models", ["project", "name"], unique=True
    )
    op.create_table(
        "ml_model_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "registered_model_id", BigId,
            sa.ForeignKey("ml_registered_models.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("run_link", sa.Text(), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("current_stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("storage_location", sa.Text(), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
    )
    op.create_index("ix_ml_model_versions_run_id", "ml_model_versions", ["run_id"])
    op.create_index(
        "ux_ml_model_versions_version", "ml_model_versions",
        ["registered_model_id", "version"], unique=True,
    )
    op.create_table(
        "ml_model_aliases",
        sa.Column(
            "registered_model_id", BigId,
            sa.ForeignKey("ml_registered_models.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("alias", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "ml_model_aliases", "ml_model_versions", "ml_registered_models", "ml_logged_models",
        "ml_run_models", "ml_run_inputs", "ml_latest_metrics", "ml_run_tags", "ml_run_params",
        "ml_runs", "ml_experiments",
    ):
        op.drop_table(table)
