"""Eval datasets and their cases, eval runs and their per-case results, online evaluators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.core.ids import now_ms
from triops.store.schema_prompts import (
    EvalCase,
    EvalDataset,
    EvalDatasetVersion,
    EvalResult,
    EvalRun,
    OnlineEvaluator,
)


@dataclass(frozen=True)
class CaseData:
    inputs: dict[str, Any]
    expected: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "manual"


def get_dataset(session: Session, project: str, name: str) -> EvalDataset:
    row = session.get(EvalDataset, (project, name))
    if row is None:
        raise NotFound(f"eval dataset '{name}' does not exist in project '{project}'")
    return row


def find_dataset(session: Session, project: str, name: str) -> EvalDataset | None:
    return session.get(EvalDataset, (project, name))


def create_dataset(session: Session, project: str, name: str, description: str,
                   actor: str) -> EvalDataset:
    if session.get(EvalDataset, (project, name)) is not None:
        raise AlreadyExists(f"eval dataset '{name}' exists already")
    row = EvalDataset(project=project, name=name, description=description, case_count=0,
                      version=0, created_by=actor, created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def list_datasets(session: Session, project: str) -> list[EvalDataset]:
    return list(session.scalars(select(EvalDataset).where(EvalDataset.project == project)
                                .order_by(EvalDataset.name)))


def _new_version(session: Session, dataset: EvalDataset, message: str, actor: str,
                 delta: int) -> int:
    """Open the dataset's next version; the caller holds the dataset row's lock."""
    dataset.version += 1
    dataset.case_count += delta
    session.add(EvalDatasetVersion(project=dataset.project, dataset=dataset.name,
                                   version=dataset.version, case_count=dataset.case_count,
                                   message=message[:10_000], created_by=actor,
                                   created_ms=now_ms()))
    return dataset.version


def _trace_of(source: str) -> str | None:
    return source[6:38] if source.startswith("trace:") else None


def add_cases(session: Session, dataset: EvalDataset, cases: list[CaseData],
              message: str = "", actor: str = "") -> int:
    """Append cases as the dataset's next version (nothing changes for no cases)."""
    if not cases:
        return 0
    # Locking the dataset row serialises writers, so versions and positions stay unique.
    session.refresh(dataset, with_for_update=True)
    last = session.scalar(select(func.max(EvalCase.position)).where(
        EvalCase.project == dataset.project, EvalCase.dataset == dataset.name))
    start = 0 if last is None else last + 1
    version = _new_version(session, dataset, message or f"added {len(cases)} case(s)",
                           actor, len(cases))
    session.add_all(EvalCase(project=dataset.project, dataset=dataset.name, position=start + i,
                             inputs=c.inputs, expected=c.expected, meta=c.metadata,
                             source=c.source[:256], trace_id=_trace_of(c.source),
                             added_version=version) for i, c in enumerate(cases))
    session.flush()
    return len(cases)


def _live_case(session: Session, dataset: EvalDataset, position: int) -> EvalCase:
    row = session.scalar(select(EvalCase).where(
        EvalCase.project == dataset.project, EvalCase.dataset == dataset.name,
        EvalCase.position == position, EvalCase.removed_version.is_(None)))
    if row is None:
        raise NotFound(f"eval dataset '{dataset.name}' has no case {position}")
    return row


def edit_case(session: Session, dataset: EvalDataset, position: int, case: CaseData,
              message: str = "", actor: str = "") -> EvalCase:
    """Replace a case's content in a new version; the case keeps its position and its
    provenance (the trace or file it came from)."""
    session.refresh(dataset, with_for_update=True)
    old = _live_case(session, dataset, position)
    version = _new_version(session, dataset, message or f"edited case {position}", actor, 0)
    old.removed_version = version
    session.flush()  # the old row leaves the live index before the new one enters it
    row = EvalCase(project=dataset.project, dataset=dataset.name, position=position,
                   inputs=case.inputs, expected=case.expected, meta=case.metadata,
                   source=old.source, trace_id=old.trace_id, added_version=version)
    session.add(row)
    session.flush()
    return row


def remove_case(session: Session, dataset: EvalDataset, position: int, message: str = "",
                actor: str = "") -> int:
    """Close a case in a new version (older versions keep it); the new version number."""
    session.refresh(dataset, with_for_update=True)
    old = _live_case(session, dataset, position)
    version = _new_version(session, dataset, message or f"deleted case {position}", actor, -1)
    old.removed_version = version
    session.flush()
    return version


def cases_of(session: Session, project: str, name: str, version: int | None = None
             ) -> list[EvalCase]:
    """The cases of a version (the newest when None), in position order."""
    query = select(EvalCase).where(EvalCase.project == project, EvalCase.dataset == name)
    if version is None:
        query = query.where(EvalCase.removed_version.is_(None))
    else:
        query = query.where(EvalCase.added_version <= version, or_(
            EvalCase.removed_version.is_(None), EvalCase.removed_version > version))
    return list(session.scalars(query.order_by(EvalCase.position)))


def versions_of(session: Session, project: str, name: str) -> list[EvalDatasetVersion]:
    return list(session.scalars(select(EvalDatasetVersion).where(
        EvalDatasetVersion.project == project, EvalDatasetVersion.dataset == name)
        .order_by(EvalDatasetVersion.version.desc())))


def get_version(session: Session, project: str, name: str, version: int) -> EvalDatasetVersion:
    row = session.get(EvalDatasetVersion, (project, name, version))
    if row is None:
        raise NotFound(f"eval dataset '{name}' has no version {version}")
    return row


def cases_from_trace(session: Session, project: str, trace_id: str) -> list[EvalCase]:
    """Every case, of any dataset and version, that was taken from this trace."""
    return list(session.scalars(select(EvalCase).where(
        EvalCase.project == project, EvalCase.trace_id == trace_id)
        .order_by(EvalCase.dataset, EvalCase.added_version)))


def delete_dataset(session: Session, project: str, name: str) -> None:
    row = get_dataset(session, project, name)
    session.execute(delete(EvalCase).where(EvalCase.project == project,
                                           EvalCase.dataset == name))
    session.execute(delete(EvalDatasetVersion).where(EvalDatasetVersion.project == project,
                                                     EvalDatasetVersion.dataset == name))
    session.delete(row)


def create_run(session: Session, run: EvalRun) -> EvalRun:
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, project: str, run_id: str) -> EvalRun:
    row = session.get(EvalRun, run_id)
    if row is None or row.project != project:
        raise NotFound(f"eval run '{run_id}' does not exist in project '{project}'")
    return row


def list_runs(session: Session, project: str, limit: int = 100) -> list[EvalRun]:
    return list(session.scalars(select(EvalRun).where(EvalRun.project == project)
                                .order_by(EvalRun.created_ms.desc()).limit(limit)))


def put_results(session: Session, run: EvalRun, results: list[dict[str, Any]]) -> int:
    """Store results; a case index already stored is replaced (a client re-sends a batch
    it is not sure arrived, and the run keeps one result per case)."""
    indexes = [r["case_index"] for r in results]
    session.execute(delete(EvalResult).where(EvalResult.run_id == run.id,
                                             EvalResult.case_index.in_(indexes)))
    session.add_all(EvalResult(run_id=run.id, **r) for r in results)
    session.flush()
    return len(results)


def results_of(session: Session, run_id: str) -> list[EvalResult]:
    return list(session.scalars(select(EvalResult).where(EvalResult.run_id == run_id)
                                .order_by(EvalResult.case_index)))


def result_count(session: Session, run_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(EvalResult)
                              .where(EvalResult.run_id == run_id)) or 0)


def get_online(session: Session, project: str, name: str, *, for_update: bool = False
               ) -> OnlineEvaluator:
    """``for_update`` locks the row for the transaction and reads it anew, so a replica
    that waited for the lock sees the cursor another one moved."""
    row = session.get(OnlineEvaluator, (project, name), with_for_update=for_update,
                      populate_existing=for_update)
    if row is None:
        raise NotFound(f"online evaluator '{name}' does not exist in project '{project}'")
    return row


def put_online(session: Session, project: str, name: str, config: dict[str, Any],
               enabled: bool) -> OnlineEvaluator:
    row = session.get(OnlineEvaluator, (project, name))
    if row is None:
        row = OnlineEvaluator(project=project, name=name, cursor_ms=now_ms(), state={},
                              created_ms=now_ms())
        session.add(row)
    elif row.config != config:
        row.state = {}  # new scorers or thresholds: the old window and baseline do not apply
    row.config, row.enabled = config, enabled
    session.flush()
    return row


def enabled_online(session: Session) -> list[OnlineEvaluator]:
    return list(session.scalars(select(OnlineEvaluator).where(OnlineEvaluator.enabled.is_(True))))


def list_online(session: Session, project: str) -> list[OnlineEvaluator]:
    return list(session.scalars(select(OnlineEvaluator).where(
        OnlineEvaluator.project == project).order_by(OnlineEvaluator.name)))
