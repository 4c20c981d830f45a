"""Rows of uploaded files: add, find, page through, remove."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.schema_llm_files import StoredFile


def add(session: Session, row: StoredFile) -> StoredFile:
    session.add(row)
    session.flush()
    return row


def get(session: Session, project: str, file_id: str) -> StoredFile:
    row = session.get(StoredFile, file_id)
    # Another project's file answers exactly like one that does not exist.
    if row is None or row.project != project:
        raise NotFound(f"no file with id {file_id!r}")
    return row


def page(session: Session, project: str, *, purpose: str | None, limit: int,
         newest_first: bool, after: str | None) -> list[StoredFile]:
    """Up to ``limit`` files in (created, id) order, starting past the file ``after``."""
    query = select(StoredFile).where(StoredFile.project == project)
    if purpose:
        query = query.where(StoredFile.purpose == purpose)
    if after:
        mark = get(session, project, after)
        if newest_first:
            query = query.where(or_(StoredFile.created_ms < mark.created_ms, and_(
                StoredFile.created_ms == mark.created_ms, StoredFile.id < mark.id)))
        else:
            query = query.where(or_(StoredFile.created_ms > mark.created_ms, and_(
                StoredFile.created_ms == mark.created_ms, StoredFile.id > mark.id)))
    if newest_first:
        query = query.order_by(StoredFile.created_ms.desc(), StoredFile.id.desc())
    else:
        query = query.order_by(StoredFile.created_ms, StoredFile.id)
    return list(session.scalars(query.limit(limit)))


def remove(session: Session, project: str, file_id: str) -> StoredFile:
    row = get(session, project, file_id)
    session.delete(row)
    session.flush()
    return row
