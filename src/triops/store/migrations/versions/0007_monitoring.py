"""ML monitoring and pipelines: monitors, monitor results, pipelines, runs, steps.

Revision ID: 0007_monitoring
Revises: 0006_deployments
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_monitoring"
down_revision = "0006_deployments"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ml_monitors",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_run_ms", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("project", "name", name="uq_ml_monitors_project_name"),
    )
    op.create_table(
        "ml_monitor_results",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("monitor_id", sa.String(32),
                  sa.ForeignKey("ml_monitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_reference", sa.Integer(), nullable=False),
        sa.Column("n_current", sa.Integer(), nullable=False),
        sa.Column("drift", JSONType, nullable=False),
        sa.Column("quality", JSONType, nullable=False),
        sa.Column("performance", JSONType, nullable=False),
        sa.Column("breaches", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_ml_monitor_results_monitor_time", "ml_monitor_results",
                    ["monitor_id", "time_ms"])
    op.create_table(
        "ml_pipelines",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("ref", sa.String(512), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ml_pipeline_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("pipeline", sa.String(256), nullable=False),
        sa.Column("ref", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(256), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("outputs", JSONType, nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_ml_pipeline_runs_project_pipeline", "ml_pipeline_runs",
                    ["project", "pipeline"])
    op.create_table(
        "ml_pipeline_steps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32),
                  sa.ForeignKey("ml_pipeline_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_ml_pipeline_steps_run_id", "ml_pipeline_steps", ["run_id"])


def downgrade() -> None:
    op.drop_table("ml_pipeline_steps")
    op.drop_table("ml_pipeline_runs")
    op.drop_table("ml_pipelines")
    op.drop_table("ml_monitor_results")
    op.drop_table("ml_monitors")
