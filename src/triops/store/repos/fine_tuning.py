"""Fine-tuning jobs and their events."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.schema_fine_tuning import FineTuningEvent, FineTuningJob


def add(session: Session, row: FineTuningJob) -> FineTuningJob:
    session.add(row)
    session.flush()
    return row


def get(session: Session, project: str, job_id: str, lock: bool = False) -> FineTuningJob:
    row = session.get(FineTuningJob, job_id, with_for_update=lock)
    if row is None or row.project != project:
        raise NotFound(f"no fine-tuning job with id {job_id!r}")
    return row


def page(session: Session, project: str, limit: int, after: str | None) -> list[FineTuningJob]:
    """Newest first, starting past the job ``after``."""
    query = select(FineTuningJob).where(FineTuningJob.project == project)
    if after:
        mark = get(session, project, after)
        query = query.where(or_(FineTuningJob.created_ms < mark.created_ms, and_(
            FineTuningJob.created_ms == mark.created_ms, FineTuningJob.id < mark.id)))
    return list(session.scalars(query.order_by(FineTuningJob.created_ms.desc(),
                                               FineTuningJob.id.desc()).limit(limit)))


def known_sources(session: Session, job_id: str) -> set[str]:
    return set(session.scalars(select(FineTuningEvent.source_id).where(
        FineTuningEvent.job_id == job_id)))


def add_events(session: Session, rows: list[FineTuningEvent]) -> None:
    session.add_all(rows)
    session.flush()


def events(session: Session, job_id: str, limit: int, after: int | None
           ) -> list[FineTuningEvent]:
    """Newest first, as OpenAI lists them; ``after``: an event id, older ones follow."""
    query = select(FineTuningEvent).where(FineTuningEvent.job_id == job_id)
    if after is not None:
        query = query.where(FineTuningEvent.id < after)
    return list(session.scalars(query.order_by(FineTuningEvent.id.desc()).limit(limit)))
