"""Eval runs as plain data: one run, its results, and the comparison of two runs.

Served by the evals API and the eval pages alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from triops.llm.evals.compare import compare
from triops.store.repos import evals as repo
from triops.store.schema_prompts import EvalResult, EvalRun


def run_dict(row: EvalRun) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prompt_name": row.prompt_name,
            "prompt_version": row.prompt_version, "prompt_label": row.prompt_label,
            "model": row.model, "dataset": row.dataset, "status": row.status,
            "case_count": row.case_count, "summary": row.summary, "config": row.config,
            "created_by": row.created_by, "created_ms": row.created_ms,
            "finished_ms": row.finished_ms}


def result_dict(row: EvalResult) -> dict[str, Any]:
    return {"case_index": row.case_index, "inputs": row.inputs, "expected": row.expected,
            "output": row.output, "error": row.error, "latency_ms": row.latency_ms,
            "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
            "cost": row.cost, "trace_id": row.trace_id, "scores": row.scores}


def scorer_names(run: EvalRun) -> list[str]:
    return [str(n) for n in run.config.get("scorer_names", [])]


def run_results(session: Session, project: str, run_id: str
                ) -> tuple[EvalRun, list[dict[str, Any]]]:
    """One run and its results (``NotFound`` if the project has no such run)."""
    run = repo.get_run(session, project, run_id)
    return run, [result_dict(r) for r in repo.results_of(session, run.id)]


def comparison(session: Session, project: str, a_id: str, b_id: str) -> dict[str, Any]:
    """Two runs side by side: per-scorer deltas over the scorers both ran, and per case."""
    a, b = repo.get_run(session, project, a_id), repo.get_run(session, project, b_id)
    names = [n for n in scorer_names(a) if n in scorer_names(b)]
    deltas, rows = compare([result_dict(r) for r in repo.results_of(session, a.id)],
                           [result_dict(r) for r in repo.results_of(session, b.id)], names)
    return {"a": run_dict(a), "b": run_dict(b),
            "deltas": [d.__dict__ for d in deltas], "cases": rows}
