"""Incidents: at most one active incident per fingerprint, and a count of repeats.

Concurrent writers used to open several active incidents for one fingerprint. Before
the unique partial index can exist, every such group is merged into its most recently
active member: the others' signals move to it, their counts add up, its first and last
times and severity widen to cover them, and the merged rows are deleted.

Revision ID: 0010_incident_dedup
Revises: 0009_guardrails
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0010_incident_dedup"
down_revision = "0009_guardrails"
branch_labels = None
depends_on = None

ACTIVE_SQL = "status IN ('open', 'acknowledged')"


def _merge_duplicate_active_incidents(bind: sa.Connection) -> None:
    rows = bind.execute(sa.text(
        "SELECT id, project, fingerprint, severity, signal_count, first_ms, last_ms "
        f"FROM incidents WHERE {ACTIVE_SQL} ORDER BY last_ms DESC, id"
    )).all()
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        groups[(row.project, row.fingerprint)].append(row)
    for keep, *merged in (g for g in groups.values() if len(g) > 1):
        gone = [r.id for r in merged]
        every = [keep, *merged]
        bind.execute(
            sa.text("UPDATE incident_signals SET incident_id = :keep WHERE incident_id IN :gone")
            .bindparams(sa.bindparam("gone", expanding=True)),
            {"keep": keep.id, "gone": gone},
        )
        bind.execute(sa.text(
            "UPDATE incidents SET signal_count = :count, first_ms = :first, last_ms = :last, "
            "severity = :severity WHERE id = :keep"
        ), {"keep": keep.id, "count": sum(r.signal_count for r in every),
            "first": min(r.first_ms for r in every), "last": max(r.last_ms for r in every),
            "severity": max(r.severity for r in every)})
        bind.execute(
            sa.text("DELETE FROM incidents WHERE id IN :gone")
            .bindparams(sa.bindparam("gone", expanding=True)),
            {"gone": gone},
        )


def upgrade() -> None:
    _merge_duplicate_active_incidents(op.get_bind())
    op.add_column("incidents", sa.Column("repeat_count", sa.Integer(), nullable=False,
                                         server_default="0"))
    op.create_index("uq_incidents_active_fingerprint", "incidents", ["project", "fingerprint"],
                    unique=True, postgresql_where=sa.text(ACTIVE_SQL),
                    sqlite_where=sa.text(ACTIVE_SQL))


def downgrade() -> None:
    op.drop_index("uq_incidents_active_fingerprint", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("repeat_count")
