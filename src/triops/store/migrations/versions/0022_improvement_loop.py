"""The improvement loop: typed scores with declared configs, versioned eval datasets,
annotation queues, fine-tuning jobs.

Every existing score is numeric. Every existing dataset with cases gets version 1, which
holds its cases as they are; a case taken from a trace gets that trace's id.

Revision ID: 0022_improvement_loop
Revises: 0021_llm_people
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0022_improvement_loop"
down_revision = "0021_llm_people"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
LIVE = sa.text("removed_version IS NULL")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("llm_trace_scores", sa.Column("data_type", sa.String(16), nullable=False,
                                                server_default="numeric"))
    op.add_column("llm_trace_scores", sa.Column("string_value", sa.String(256), nullable=True))
    op.create_table(
        "llm_score_configs",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("data_type", sa.String(16), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("categories", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )

    op.add_column("eval_datasets", sa.Column("version", sa.Integer(), nullable=False,
                                             server_default="0"))
    op.create_table(
        "eval_dataset_versions",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("dataset", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("case_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.add_column("eval_cases", sa.Column("trace_id", sa.String(32), nullable=True))
    op.add_column("eval_cases", sa.Column("added_version", sa.Integer(), nullable=False,
                                          server_default="1"))
    op.add_column("eval_cases", sa.Column("removed_version", sa.Integer(), nullable=True))
    op.drop_index("ux_eval_cases_position", table_name="eval_cases")
    op.create_index("ux_eval_cases_live", "eval_cases", ["project", "dataset", "position"],
                    unique=True, postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_index("ix_eval_cases_dataset", "eval_cases",
                    ["project", "dataset", "added_version"])
    op.create_index("ix_eval_cases_trace", "eval_cases", ["project", "trace_id"])
    op.execute("UPDATE eval_cases SET trace_id = substr(source, 7) "
               "WHERE source LIKE 'trace:%' AND length(source) = 38")
    op.execute("UPDATE eval_datasets SET version = 1 WHERE case_count > 0")
    op.execute("INSERT INTO eval_dataset_versions (project, dataset, version, case_count, "
               "message, created_by, created_ms) SELECT project, name, 1, case_count, "
               "'cases before versioning', created_by, created_ms FROM eval_datasets "
               "WHERE case_count > 0")

    op.create_table(
        "annotation_queues",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("score_name", sa.String(256), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "annotation_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(256), nullable=True),
        sa.Column("reviewer", sa.String(256), nullable=True),
        sa.Column("value", sa.String(256), nullable=True),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("exported", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ux_annotation_items_trace", "annotation_items",
                    ["project", "queue", "trace_id"], unique=True)
    op.create_index("ix_annotation_items_status", "annotation_items",
                    ["project", "queue", "status", "id"])

    op.create_table(
        "fine_tuning_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("upstream", sa.String(128), nullable=False),
        sa.Column("upstream_model", sa.String(256), nullable=False),
        sa.Column("upstream_job_id", sa.String(128), nullable=True),
        sa.Column("training_file", sa.String(40), nullable=False),
        sa.Column("validation_file", sa.String(40), nullable=True),
        sa.Column("hyperparameters", JSON, nullable=False),
        sa.Column("suffix", sa.String(64), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("fine_tuned_model", sa.String(256), nullable=True),
        sa.Column("trained_tokens", sa.BigInteger(), nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("registered_model", sa.String(256), nullable=True),
        sa.Column("registered_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_fine_tuning_jobs_listing", "fine_tuning_jobs",
                    ["project", "created_ms", "id"])
    op.create_table(
        "fine_tuning_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
    )
    op.create_index("ux_fine_tuning_events_source", "fine_tuning_events",
                    ["job_id", "source_id"], unique=True)


def downgrade() -> None:
    op.drop_table("fine_tuning_events")
    op.drop_table("fine_tuning_jobs")
    op.drop_table("annotation_items")
    op.drop_table("annotation_queues")
    # Closed rows are history the old schema cannot hold.
    op.execute("DELETE FROM eval_cases WHERE removed_version IS NOT NULL")
    op.drop_index("ix_eval_cases_trace", table_name="eval_cases")
    op.drop_index("ix_eval_cases_dataset", table_name="eval_cases")
    op.drop_index("ux_eval_cases_live", table_name="eval_cases")
    op.create_index("ux_eval_cases_position", "eval_cases", ["project", "dataset", "position"],
                    unique=True)
    with op.batch_alter_table("eval_cases") as batch:
        batch.drop_column("removed_version")
        batch.drop_column("added_version")
        batch.drop_column("trace_id")
    op.drop_table("eval_dataset_versions")
    with op.batch_alter_table("eval_datasets") as batch:
        batch.drop_column("version")
    op.drop_table("llm_score_configs")
    with op.batch_alter_table("llm_trace_scores") as batch:
        batch.drop_column("string_value")
        batch.drop_column("data_type")
