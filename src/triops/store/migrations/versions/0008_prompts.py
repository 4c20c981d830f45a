"""Prompt registry, eval datasets, eval runs and their results, online evaluators.

Revision ID: 0008_prompts
Revises: 0007_monitoring
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_prompts"
down_revision = "0007_monitoring"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _col(name: str, kind, nullable: bool = False, **kw) -> sa.Column:  # type: ignore[no-untyped-def]
    return sa.Column(name, kind, nullable=nullable, **kw)


def upgrade() -> None:
    op.create_table(
        "prompts",
        _col("project", sa.String(128), primary_key=True),
        _col("name", sa.String(128), primary_key=True),
        _col("kind", sa.String(8)),
        _col("description", sa.Text()),
        _col("latest_version", sa.Integer()),
        _col("created_by", sa.String(256)),
        _col("created_ms", sa.BigInteger()),
    )
    op.create_table(
        "prompt_versions",
        _col("id", BigId, primary_key=True, autoincrement=True),
        _col("project", sa.String(128)),
        _col("name", sa.String(128)),
        _col("version", sa.Integer()),
        _col("template", JSONType),
        _col("variables", JSONType),
        _col("model", sa.String(256), nullable=True),
        _col("params", JSONType),
        _col("message", sa.Text()),
        _col("created_by", sa.String(256)),
        _col("created_ms", sa.BigInteger()),
    )
    op.create_index("ux_prompt_versions_version", "prompt_versions",
                    ["project", "name", "version"], unique=True)
    op.create_table(
        "prompt_labels",
        _col("project", sa.String(128), primary_key=True),
        _col("name", sa.String(128), primary_key=True),
        _col("label", sa.String(64), primary_key=True),
        _col("version", sa.Integer()),
        _col("updated_by", sa.String(256)),
        _col("updated_ms", sa.BigInteger()),
    )
    op.create_table(
        "prompt_label_moves",
        _col("id", BigId, primary_key=True, autoincrement=True),
        _col("project", sa.String(128)),
        _col("name", sa.String(128)),
        _col("label", sa.String(64)),
        _col("from_version", sa.Integer(), nullable=True),
        _col("to_version", sa.Integer(), nullable=True),
        _col("kind", sa.String(8)),
        _col("undone", sa.Boolean()),
        _col("actor", sa.String(256)),
        _col("time_ms", sa.BigInteger()),
    )
    op.create_index("ix_prompt_label_moves_label", "prompt_label_moves",
                    ["project", "name", "label", "id"])
    op.create_table(
        "eval_datasets",
        _col("project", sa.String(128), primary_key=True),
        _col("name", sa.String(128), primary_key=True),
        _col("description", sa.Text()),
        _col("case_count", sa.Integer()),
        _col("created_by", sa.String(256)),
        _col("created_ms", sa.BigInteger()),
    )
    op.create_table(
        "eval_cases",
        _col("id", BigId, primary_key=True, autoincrement=True),
        _col("project", sa.String(128)),
        _col("dataset", sa.String(128)),
        _col("position", sa.Integer()),
        _col("inputs", JSONType),
        _col("expected", sa.Text(), nullable=True),
        _col("meta", JSONType),
        _col("source", sa.String(256)),
    )
    op.create_index("ux_eval_cases_position", "eval_cases",
                    ["project", "dataset", "position"], unique=True)
    op.create_table(
        "eval_runs",
        _col("id", sa.String(32), primary_key=True),
        _col("project", sa.String(128)),
        _col("name", sa.String(256)),
        _col("prompt_name", sa.String(128), nullable=True),
        _col("prompt_version", sa.Integer(), nullable=True),
        _col("prompt_label", sa.String(64), nullable=True),
        _col("model", sa.String(256)),
        _col("dataset", sa.String(256)),
        _col("config", JSONType),
        _col("status", sa.String(16)),
        _col("case_count", sa.Integer()),
        _col("summary", JSONType),
        _col("created_by", sa.String(256)),
        _col("created_ms", sa.BigInteger()),
        _col("finished_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_eval_runs_project", "eval_runs", ["project"])
    op.create_table(
        "eval_results",
        _col("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("eval_runs.id", ondelete="CASCADE"),
                  nullable=False),
        _col("case_index", sa.Integer()),
        _col("inputs", JSONType),
        _col("expected", sa.Text(), nullable=True),
        _col("output", sa.Text(), nullable=True),
        _col("error", sa.Text()),
        _col("latency_ms", sa.Float()),
        _col("prompt_tokens", sa.Integer()),
        _col("completion_tokens", sa.Integer()),
        _col("cost", sa.Float()),
        _col("trace_id", sa.String(32), nullable=True),
        _col("scores", JSONType),
    )
    op.create_index("ux_eval_results_case", "eval_results", ["run_id", "case_index"],
                    unique=True)
    op.create_table(
        "online_evaluators",
        _col("project", sa.String(128), primary_key=True),
        _col("name", sa.String(128), primary_key=True),
        _col("config", JSONType),
        _col("enabled", sa.Boolean()),
        _col("cursor_ms", sa.BigInteger()),
        _col("state", JSONType),
        _col("created_ms", sa.BigInteger()),
    )


def downgrade() -> None:
    for table in ("online_evaluators", "eval_results", "eval_runs", "eval_cases",
                  "eval_datasets", "prompt_label_moves", "prompt_labels", "prompt_versions",
                  "prompts"):
        op.drop_table(table)
