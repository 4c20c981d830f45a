"""What the native tracking protocol adds to runs: batch ids applied exactly once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.store.schema_ml_datasets import AppliedBatch


def claim_batch(session: Session, run_id: str, batch_id: str, points: int) -> bool:
    """Record ``batch_id`` as applied to the run; False when it already was.

    Runs in the transaction that writes the batch, so the claim and the data commit
    together: a batch re-sent after a lost reply finds its claim and writes nothing,
    and a batch whose transaction failed left no claim and is written on retry. On
    PostgreSQL a concurrent duplicate waits on the first insert's row lock and then
    sees the conflict.
    """
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(AppliedBatch).values(
        run_id=run_id, batch_id=batch_id, applied_ms=now_ms(), points=points
    ).on_conflict_do_nothing(index_elements=["run_id", "batch_id"]
                             ).returning(AppliedBatch.batch_id)
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    return session.execute(stmt).scalar() is not None


def applied_batches(session: Session, run_id: str) -> list[str]:
    return list(session.scalars(select(AppliedBatch.batch_id)
                                .where(AppliedBatch.run_id == run_id)
                                .order_by(AppliedBatch.applied_ms)))
