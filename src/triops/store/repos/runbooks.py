"""Runbooks, their versions and runs, and the queue of incidents waiting to be matched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.core.ids import new_id
from triops.store.schema_runbooks import Runbook, RunbookQueue, RunbookRun, RunbookVersion

#: Statuses of a run that still has work ahead of it.
ACTIVE = ("pending_approval", "approved", "running", "verifying")
#: Statuses of a run that acted (or is acting) on something.
ACTED = ("running", "verifying", "succeeded", "failed", "escalated", "undone")


def put(session: Session, project: str, name: str, source: str, spec: dict[str, Any],
        actor: str, now: int) -> RunbookVersion:
    head = session.get(Runbook, (project, name), with_for_update=True)
    newest = session.scalar(select(func.max(RunbookVersion.version)).where(
        RunbookVersion.project == project, RunbookVersion.name == name)) or 0
    row = RunbookVersion(project=project, name=name, version=newest + 1, source=source,
                         spec=spec, created_by=actor, created_ms=now)
    session.add(row)
    if head is None:
        session.add(Runbook(project=project, name=name, version=row.version, updated_ms=now))
    else:
        head.version, head.deleted_ms, head.updated_ms = row.version, None, now
    session.flush()
    return row


def get(session: Session, project: str, name: str, version: int | None = None
        ) -> RunbookVersion:
    head = session.get(Runbook, (project, name))
    if head is None or (head.deleted_ms is not None and version is None):
        raise NotFound(f"runbook {name!r} does not exist in project {project!r}")
    row = session.get(RunbookVersion, (project, name, version or head.version))
    if row is None:
        raise NotFound(f"runbook {name!r} has no version {version}")
    return row


def list_current(session: Session, project: str) -> list[RunbookVersion]:
    query = (select(RunbookVersion).join(Runbook, (Runbook.project == RunbookVersion.project)
                                         & (Runbook.name == RunbookVersion.name)
                                         & (Runbook.version == RunbookVersion.version))
             .where(Runbook.project == project, Runbook.deleted_ms.is_(None))
             .order_by(Runbook.name))
    return list(session.scalars(query))


def list_versions(session: Session, project: str, name: str) -> list[RunbookVersion]:
    """Every stored version of a runbook, newest first."""
    return list(session.scalars(select(RunbookVersion).where(
        RunbookVersion.project == project, RunbookVersion.name == name)
        .order_by(RunbookVersion.version.desc())))


def delete_runbook(session: Session, project: str, name: str, now: int) -> None:
    head = session.get(Runbook, (project, name))
    if head is None or head.deleted_ms is not None:
        raise NotFound(f"runbook {name!r} does not exist in project {project!r}")
    head.deleted_ms = head.updated_ms = now


# -- runs ---------------------------------------------------------------------------------

def add_run(session: Session, **values: Any) -> RunbookRun:
    row = RunbookRun(id=new_id(), lease_until_ms=0, steps={"done": []}, **values)
    session.add(row)
    session.flush()
    return row


def get_run(session: Session, project: str, run_id: str) -> RunbookRun:
    row = session.get(RunbookRun, run_id)
    if row is None or row.project != project:
        raise NotFound(f"runbook run {run_id!r} does not exist")
    return row


def list_runs(session: Session, project: str, *, incident_id: str | None = None,
              status: str | None = None, runbook: str | None = None, limit: int = 100
              ) -> list[RunbookRun]:
    query = select(RunbookRun).where(RunbookRun.project == project)
    if runbook is not None:
        query = query.where(RunbookRun.runbook == runbook)
    if incident_id is not None:
        query = query.where(RunbookRun.incident_id == incident_id)
    if status is not None:
        query = query.where(RunbookRun.status == status)
    return list(session.scalars(query.order_by(RunbookRun.created_ms.desc()).limit(limit)))


def has_run(session: Session, project: str, runbook: str, incident_id: str) -> bool:
    return session.scalar(select(RunbookRun.id).where(
        RunbookRun.project == project, RunbookRun.runbook == runbook,
        RunbookRun.incident_id == incident_id).limit(1)) is not None


def count_since(session: Session, project: str, runbook: str, since_ms: int,
                statuses: tuple[str, ...]) -> int:
    return session.scalar(select(func.count()).where(
        RunbookRun.project == project, RunbookRun.runbook == runbook,
        RunbookRun.created_ms >= since_ms, RunbookRun.status.in_(statuses))) or 0


def count_active(session: Session, project: str, runbook: str) -> int:
    return session.scalar(select(func.count()).where(
        RunbookRun.project == project, RunbookRun.runbook == runbook,
        RunbookRun.status.in_(("running", "verifying")))) or 0


def last_acted_ms(session: Session, project: str, runbook: str) -> int | None:
    return session.scalar(select(func.max(RunbookRun.acted_ms)).where(
        RunbookRun.project == project, RunbookRun.runbook == runbook))


def due_runs(session: Session, now: int, limit: int = 20) -> list[str]:
    """Runs a worker should take now: approved ones, running ones whose engine let go of
    them without finishing (it died: no live lease), and verifications that fell due."""
    query = select(RunbookRun.id).where(
        or_(RunbookRun.status.in_(("approved", "running")),
            (RunbookRun.status == "verifying") & (RunbookRun.verify_due_ms <= now)),
        RunbookRun.lease_until_ms < now).order_by(RunbookRun.created_ms).limit(limit)
    return list(session.scalars(query))


def take_run(session: Session, run_id: str, owner: str, now: int, until: int) -> bool:
    """Lease a run to ``owner``; exactly one of several racing replicas gets True."""
    return _lease(session, RunbookRun, run_id, owner, now, until)


def _lease(session: Session, table: type[RunbookRun | RunbookQueue], row_id: str | int,
           owner: str, now: int, until: int) -> bool:
    """Lease the row to ``owner`` unless a lease on it is still running at ``now``."""
    result = session.execute(update(table).where(
        table.id == row_id, table.lease_until_ms < now,
    ).values(lease_owner=owner, lease_until_ms=until).execution_options(
        synchronize_session=False))
    return result.rowcount == 1


def release_others(session: Session, owner: str) -> int:
    """Free the runs and queued incidents leased to engines other than ``owner``. Called
    by the engine whose worker has just taken the runbooks lease: every other engine has
    lost it, so their leases belong to a dead holder and would only delay the work."""
    freed = 0
    for table in (RunbookRun, RunbookQueue):
        freed += session.execute(update(table).where(
            table.lease_until_ms > 0, table.lease_owner != owner,
        ).values(lease_until_ms=0).execution_options(synchronize_session=False)).rowcount
    return freed


# -- the queue ----------------------------------------------------------------------------

def enqueue(session: Session, project: str, incident_id: str, reason: str, now: int) -> None:
    session.add(RunbookQueue(project=project, incident_id=incident_id, reason=reason,
                             enqueued_ms=now, lease_until_ms=0))


def queued(session: Session, now: int, limit: int = 50) -> list[RunbookQueue]:
    query = select(RunbookQueue).where(RunbookQueue.lease_until_ms < now)
    return list(session.scalars(query.order_by(RunbookQueue.id).limit(limit)))


def take_queued(session: Session, item_id: int, owner: str, now: int, until: int) -> bool:
    return _lease(session, RunbookQueue, item_id, owner, now, until)


def done_queued(session: Session, item_id: int) -> None:
    session.execute(delete(RunbookQueue).where(RunbookQueue.id == item_id))
