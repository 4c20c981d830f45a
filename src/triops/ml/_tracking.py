"""Tracking writes: each call validates everything first, then writes in one
transaction, so a refused request leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from triops.core.errors import InvalidInput
from triops.ml._validation import (
    check_batch,
    check_metrics,
    check_params,
    check_tags,
    pairs_to_dict,
)
from triops.store.engine import Database
from triops.store.repos import experiments, runs
from triops.store.repos.runs import DatasetUse, MetricColumns, MetricPoint, RunDetails
from triops.store.schema_ml import Experiment, Run


def ensure_default_experiment(db: Database, project: str) -> None:
    """The ``Default`` experiment (id ``0``) exists in every project that looks for it."""
    with db.read() as session:
        if session.get(Experiment, (project, experiments.DEFAULT_ID)) is not None:
            return
    with db.write() as session:
        experiments.ensure_default(session, project)


def create_run(db: Database, project: str, experiment_id: str, *, user_id: str = "",
               run_name: str | None = None, start_time: int | None = None,
               tags: Sequence[tuple[str, str]] = ()) -> tuple[Run, RunDetails]:
    tag_map = pairs_to_dict("tag", tags)
    check_tags(tag_map)
    if str(experiment_id) == experiments.DEFAULT_ID:
        ensure_default_experiment(db, project)
    with db.write() as session:
        run = runs.create(session, project, experiment_id or experiments.DEFAULT_ID,
                          run_name=run_name, user_id=user_id, start_time=start_time,
                          tags=tag_map)
        return run, runs.details(session, [run.run_id])[run.run_id]


def log_batch(db: Database, project: str, run_id: str, *,
              metrics: Sequence[MetricPoint] | MetricColumns = (),
              params: Sequence[tuple[str, str]] = (),
              tags: Sequence[tuple[str, str]] = ()) -> None:
    """Metrics, params and tags of one run in one transaction.

    A param logged again with the same value is accepted; with another value the
    whole batch is refused and nothing of it is written.
    """
    db.write_core(batch_writer(project, run_id, metrics, params, tags))


async def log_batch_now(db: Database, project: str, run_id: str, *,
                        metrics: Sequence[MetricPoint] | MetricColumns = (),
                        params: Sequence[tuple[str, str]] = (),
                        tags: Sequence[tuple[str, str]] = ()) -> None:
    """``log_batch`` from async code; returns once the batch is committed."""
    await db.write_now(batch_writer(project, run_id, metrics, params, tags))


def batch_writer(project: str, run_id: str, metrics: Sequence[MetricPoint] | MetricColumns,
                 params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]]
                 ) -> Callable[[Connection], None]:
    """Validate a batch now; what is returned writes it into a transaction."""
    metrics = MetricColumns.of(metrics)
    check_batch(len(metrics.keys), len(params), len(tags))
    param_map = pairs_to_dict("param", params)
    tag_map = pairs_to_dict("tag", tags)
    check_params(param_map)
    check_tags(tag_map)
    check_metrics(metrics.keys)

    def write(conn: Connection) -> None:
        run = runs.active_ref(conn, project, run_id)
        runs.log_params(conn, run, param_map)
        runs.log_metrics(conn, run, metrics)
        if tag_map:
            runs.set_tags(conn, run, tag_map)

    return write


def update_run(db: Database, project: str, run_id: str, *, status: str | None = None,
               end_time: int | None = None, run_name: str | None = None) -> Run:
    with db.write() as session:
        run = runs.get_active(session, project, run_id)
        return runs.update(session, run, status=status, end_time=end_time, run_name=run_name)


def set_run_stage(db: Database, project: str, run_id: str, deleted: bool) -> None:
    with db.write() as session:
        runs.set_stage(session, project, run_id,
                       experiments.DELETED if deleted else experiments.ACTIVE)


def delete_run_tag(db: Database, project: str, run_id: str, key: str) -> None:
    with db.write() as session:
        runs.delete_tag(session, runs.get_active(session, project, run_id), key)


def log_inputs(db: Database, project: str, run_id: str, datasets: Sequence[DatasetUse],
               model_ids: Sequence[str] = ()) -> None:
    """Record which datasets (name + digest) and logged models a run consumed."""
    for d in datasets:
        if not d.name or not d.digest:
            raise InvalidInput("a dataset input needs a name and a digest")
        check_tags(d.tags)
    with db.write() as session:
        runs.log_inputs(session, runs.get_active(session, project, run_id), datasets, model_ids)


def log_outputs(db: Database, project: str, run_id: str,
                models: Sequence[tuple[str, int]]) -> None:
    with db.write() as session:
        runs.link_models(session, runs.get_active(session, project, run_id), models, "output")


def get_run(db: Database, project: str, run_id: str) -> tuple[Run, RunDetails]:
    with db.read() as session:
        run = runs.get(session, project, run_id)
        return run, runs.details(session, [run_id])[run_id]

