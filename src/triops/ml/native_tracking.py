"""The native tracking protocol behind triops' SDK: runs the client names itself, and
large batches applied exactly once.

MLflow's REST protocol cannot be retried safely (a re-sent ``log-batch`` writes its
points twice, a re-sent ``runs/create`` makes a second run). Here the client chooses
the run id and every batch id, so a client that lost a reply, or spooled a batch to
disk while the server was down, can send it again and the store changes once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from triops.core.errors import InvalidInput, NotFound
from triops.ml._validation import check_key, check_params, check_tags
from triops.store.engine import Database
from triops.store.repos import experiments, native_runs, runs
from triops.store.repos.runs import MetricPoint
from triops.store.schema_ml import Run

#: Points one native batch may carry; the SDK sends 10,000 by default.
MAX_BATCH_POINTS = 100_000
MAX_BATCH_ENTRIES = 10_000
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_BATCH_ID = re.compile(r"^[0-9A-Za-z_.:-]{8,64}$")
FINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True)
class Batch:
    batch_id: str
    metrics: Sequence[MetricPoint] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def check_run_id(run_id: str) -> None:
    if not _HEX_ID.match(run_id or ""):
        raise InvalidInput(f"run id {run_id!r} must be 32 lowercase hex characters")


def open_run(db: Database, project: str, *, run_id: str, experiment: str, run_name: str = "",
             user_id: str = "", start_time: int | None = None,
             tags: dict[str, str] | None = None) -> tuple[Run, bool]:
    """Create the run, or return it when it already exists: ``(run, created)``.

    ``experiment`` is a name; the experiment is created on first use.
    """
    check_run_id(run_id)
    tags = dict(tags or {})
    check_tags(tags)
    if not experiment or not experiment.strip():
        raise InvalidInput("experiment name must be a non-empty string")
    with db.write() as session:
        existing = session.get(Run, run_id)
        if existing is not None:
            if existing.project != project:
                raise InvalidInput(f"run id {run_id} is already used in another project")
            return existing, False
        try:
            exp = experiments.get_by_name(session, project, experiment)
        except NotFound:
            exp = experiments.create(session, project, experiment)
        run = runs.create(session, project, exp.experiment_id, run_name=run_name or None,
                          user_id=user_id, start_time=start_time, tags=tags, run_id=run_id)
        return run, True


def apply_batch(db: Database, project: str, run_id: str, batch: Batch) -> bool:
    """Write the batch unless its id was applied before; True when written now.

    Validation comes first and the claim of the batch id shares the transaction with
    the data, so a refused or failed batch leaves neither behind.
    """
    if not _BATCH_ID.match(batch.batch_id or ""):
        raise InvalidInput("batch_id must be 8-64 characters of letters, digits, '_.:-'")
    if len(batch.metrics) > MAX_BATCH_POINTS:
        raise InvalidInput(f"a batch may carry at most {MAX_BATCH_POINTS} metric points, "
                           f"got {len(batch.metrics)}; split it")
    if len(batch.params) + len(batch.tags) > MAX_BATCH_ENTRIES:
        raise InvalidInput(f"a batch may carry at most {MAX_BATCH_ENTRIES} params and tags")
    check_params(batch.params)
    check_tags(batch.tags)
    # Thousands of points share a handful of keys: check each key once.
    for key in {p.key for p in batch.metrics}:
        check_key("metric", key)
    with db.write() as session:
        run = runs.get_active(session, project, run_id)
        if not native_runs.claim_batch(session, run_id, batch.batch_id,
                                       len(batch.metrics)):
            return False
        runs.log_params(session, run, batch.params)
        runs.log_metrics(session, run, batch.metrics)
        if batch.tags:
            runs.set_tags(session, run, batch.tags)
        return True


def close_run(db: Database, project: str, run_id: str, status: str, end_time: int) -> Run:
    """Set the final status; repeating it is harmless."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(FINAL_STATUSES)}")
    with db.write() as session:
        run = runs.get_active(session, project, run_id)
        return runs.update(session, run, status=status, end_time=end_time, run_name=None)
