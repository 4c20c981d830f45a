"""Annotation queues and their items: create, fill, claim, answer, count."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.store.schema_annotations import AnnotationItem, AnnotationQueue


def create_queue(session: Session, row: AnnotationQueue) -> AnnotationQueue:
    if session.get(AnnotationQueue, (row.project, row.name)) is not None:
        raise AlreadyExists(f"annotation queue {row.name!r} exists already")
    session.add(row)
    session.flush()
    return row


def get_queue(session: Session, project: str, name: str) -> AnnotationQueue:
    row = session.get(AnnotationQueue, (project, name))
    if row is None:
        raise NotFound(f"no annotation queue named {name!r}")
    return row


def list_queues(session: Session, project: str) -> list[AnnotationQueue]:
    return list(session.scalars(select(AnnotationQueue).where(
        AnnotationQueue.project == project).order_by(AnnotationQueue.name)))


def known_traces(session: Session, project: str, queue: str) -> set[str]:
    return set(session.scalars(select(AnnotationItem.trace_id).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue)))


def add_items(session: Session, items: list[AnnotationItem]) -> int:
    session.add_all(items)
    session.flush()
    return len(items)


def get_item(session: Session, project: str, queue: str, item_id: int) -> AnnotationItem:
    row = session.get(AnnotationItem, item_id)
    if row is None or row.project != project or row.queue != queue:
        raise NotFound(f"annotation queue {queue!r} has no item {item_id}")
    return row


def unassigned(session: Session, project: str, queue: str) -> list[AnnotationItem]:
    return list(session.scalars(select(AnnotationItem).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue,
        AnnotationItem.status == "pending", AnnotationItem.assignee.is_(None))
        .order_by(AnnotationItem.id)))


def next_for(session: Session, project: str, queue: str, reviewer: str
             ) -> AnnotationItem | None:
    """The reviewer's oldest pending item, or else claim the oldest unassigned one."""
    mine = session.scalar(select(AnnotationItem).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue,
        AnnotationItem.status == "pending", AnnotationItem.assignee == reviewer)
        .order_by(AnnotationItem.id).limit(1))
    if mine is not None:
        return mine
    for candidate in unassigned(session, project, queue)[:20]:
        # A conditional update is the claim: of two reviewers racing for one item, the
        # second updates no row and moves on to the next candidate.
        claimed = session.execute(update(AnnotationItem).where(
            AnnotationItem.id == candidate.id, AnnotationItem.assignee.is_(None))
            .values(assignee=reviewer).execution_options(synchronize_session=False)).rowcount
        if claimed:
            session.refresh(candidate)
            return candidate
    return None


def progress(session: Session, project: str, queue: str) -> dict[str, dict[str, int]]:
    """Item counts by status, overall (``"*"``) and per reviewer or assignee."""
    who = func.coalesce(AnnotationItem.reviewer, AnnotationItem.assignee, "")
    rows = session.execute(select(who, AnnotationItem.status, func.count()).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue)
        .group_by(who, AnnotationItem.status))
    out: dict[str, dict[str, int]] = {"*": {"pending": 0, "done": 0, "skipped": 0}}
    for person, status, count in rows:
        out["*"][status] = out["*"].get(status, 0) + count
        if person:
            out.setdefault(person, {"pending": 0, "done": 0, "skipped": 0})[status] = count
    return out


def corrected_unexported(session: Session, project: str, queue: str) -> list[AnnotationItem]:
    return list(session.scalars(select(AnnotationItem).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue,
        AnnotationItem.status == "done", AnnotationItem.correction.is_not(None),
        AnnotationItem.exported.is_(False)).order_by(AnnotationItem.id)))


def items(session: Session, project: str, queue: str, limit: int = 500
          ) -> list[AnnotationItem]:
    return list(session.scalars(select(AnnotationItem).where(
        AnnotationItem.project == project, AnnotationItem.queue == queue)
        .order_by(AnnotationItem.id).limit(limit)))
