"""Eval datasets and their cases, eval runs and their per-case results, online evaluators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.core.ids import now_ms
from triops.store.schema_prompts import (
    EvalCase,
    EvalDataset,
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


def create_dataset(session: Session, project: str, name: str, description: str,
                   actor: str) -> EvalDataset:
    if session.get(EvalDataset, (project, name)) is not None:
        raise AlreadyExists(f"eval dataset '{name}' exists already")
    row = EvalDataset(project=project, name=name, description=description, case_count=0,
                      created_by=actor, created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def list_datasets(session: Session, project: str) -> list[EvalDataset]:
    return list(session.scalars(select(EvalDataset).where(EvalDataset.project == project)
                                .order_by(EvalDataset.name)))


def add_cases(session: Session, dataset: EvalDataset, cases: list[CaseData]) -> int:
    # Locking the dataset row serialises writers, so positions stay unique and dense.
    session.refresh(dataset, with_for_update=True)
    start = dataset.case_count
    session.add_all(EvalCase(project=dataset.project, dataset=dataset.name, position=start + i,
                             inputs=c.inputs, expected=c.expected, meta=c.metadata,
                             source=c.source[:256]) for i, c in enumerate(cases))
    dataset.case_count = start + len(cases)
    session.flush()
    return len(cases)


def cases_of(session: Session, project: str, name: str) -> list[EvalCase]:
    return list(session.scalars(select(EvalCase).where(
        EvalCase.project == project, EvalCase.dataset == name).order_by(EvalCase.position)))


def delete_dataset(session: Session, project: str, name: str) -> None:
    row = get_dataset(session, project, name)
    session.execute(delete(EvalCase).where(EvalCase.project == project,
                                           EvalCase.dataset == name))
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
