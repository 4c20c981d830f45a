"""Fine-tuning jobs: each one an ML run, trained by a provider, ending in a registered
model version whose lineage reads dataset version → job (run) → model.

A job follows its provider when it is read (``sync``): new events are stored once each,
metrics events become the run's metrics, and the first time the provider reports
success the fine-tuned model is registered. Nothing runs in the background, so a job
nobody reads waits at the provider, and its record catches up on the next read.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import select

from triops.core.errors import Conflict, InvalidInput
from triops.core.ids import new_id, now_ms
from triops.ml import _registry, _tracking, datasets
from triops.ml.fine_tuning._providers import FineTuningProvider
from triops.store import Database
from triops.store.artifacts import ArtifactStore
from triops.store.repos import datasets as dataset_repo
from triops.store.repos import experiments, llm_files, registry
from triops.store.repos import fine_tuning as repo
from triops.store.repos.runs import MetricPoint
from triops.store.schema_fine_tuning import FineTuningEvent, FineTuningJob
from triops.store.schema_ml import RegisteredModel

EXPERIMENT = "fine-tuning"
TERMINAL = ("succeeded", "failed", "cancelled")
STATUSES = ("validating_files", "queued", "running", *TERMINAL)
_RUN_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def job_dict(job: FineTuningJob) -> dict[str, Any]:
    """The job as OpenAI's API returns it, plus what triops adds under ``triops``."""
    return {
        "id": job.id, "object": "fine_tuning.job", "created_at": job.created_ms // 1000,
        "finished_at": job.finished_ms // 1000 if job.finished_ms else None,
        "model": job.model, "fine_tuned_model": job.fine_tuned_model,
        "organization_id": job.project, "result_files": [], "status": job.status,
        "validation_file": job.validation_file, "training_file": job.training_file,
        "hyperparameters": job.hyperparameters, "trained_tokens": job.trained_tokens,
        "error": job.error, "seed": job.seed, "estimated_finish": None,
        "integrations": [], "metadata": job.meta or None, "user_provided_suffix": job.suffix,
        "method": {"type": "supervised",
                   "supervised": {"hyperparameters": job.hyperparameters}},
        "triops": {"upstream": job.upstream, "upstream_model": job.upstream_model,
                   "run_id": job.run_id, "registered_model": job.registered_model,
                   "registered_version": job.registered_version},
    }


def event_dict(row: FineTuningEvent) -> dict[str, Any]:
    return {"id": f"ftevent-{row.id}", "object": "fine_tuning.job.event",
            "created_at": row.created_ms // 1000, "level": row.level, "message": row.message,
            "type": row.kind, "data": row.data}


def _experiment_id(db: Database, project: str) -> str:
    with db.write() as session:
        try:
            return experiments.get_by_name(session, project, EXPERIMENT).experiment_id
        except Exception:  # noqa: BLE001 - NotFound: the first job of the project makes it
            return experiments.create(session, project, EXPERIMENT).experiment_id


def _training_input(db: Database, project: str, run_id: str, data: bytes, filename: str,
                    file_id: str, actor: str) -> None:
    """Record the training data as the run's input dataset: the version an export
    registered for this very content, or else the file as a dataset of its own."""
    digest = hashlib.sha256(data).hexdigest()
    with db.read() as session:
        known = dataset_repo.with_digest(session, project, digest)
    name = known.name if known else f"files/{filename}"
    description = datasets.DatasetDescription(
        digest=digest, source_type=known.source_type if known else "file",
        source=known.source if known else file_id,
        row_count=known.row_count if known else data.count(b"\n"))
    datasets.register(db, project, name, description, created_by=actor, run_id=run_id)


def create(db: Database, artifacts: ArtifactStore, project: str, provider: FineTuningProvider,
           *, model: str, upstream: str, upstream_model: str, training_file: str,
           validation_file: str | None, hyperparameters: dict[str, Any], suffix: str | None,
           seed: int | None, metadata: dict[str, str], actor: str) -> FineTuningJob:
    if suffix is not None and not _SUFFIX.match(suffix):
        raise InvalidInput("suffix is 1 to 64 letters, digits, '_' or '-'")
    with db.read() as session:
        stored = llm_files.get(session, project, training_file)
        if validation_file:
            llm_files.get(session, project, validation_file)
    if stored.purpose != "fine-tune":
        raise InvalidInput(f"file {training_file} was uploaded for {stored.purpose!r}; "
                           "upload the training file with purpose 'fine-tune'")
    data = artifacts.read_bytes(stored.path)
    job_id = f"ftjob-{new_id()[:24]}"
    run, _ = _tracking.create_run(db, project, _experiment_id(db, project), user_id=actor,
                                  run_name=job_id, tags=[("triops.fine_tuning_job", job_id)])
    params = [("model", model), ("upstream", upstream), ("base_model", upstream_model),
              ("training_file", training_file), ("suffix", suffix or "")]
    params += [(f"hp.{k}", str(v)) for k, v in sorted(hyperparameters.items())]
    _tracking.log_batch(db, project, run.run_id, params=params)
    _training_input(db, project, run.run_id, data, stored.filename, training_file, actor)
    try:
        started = provider.submit(data, stored.filename, hyperparameters=hyperparameters,
                                  suffix=suffix, seed=seed)
    except Exception:
        _tracking.update_run(db, project, run.run_id, status="FAILED", end_time=now_ms())
        raise
    job = FineTuningJob(
        id=job_id, project=project, status=started.get("status", "validating_files"),
        model=model, upstream=upstream, upstream_model=upstream_model,
        upstream_job_id=started["id"], training_file=training_file,
        validation_file=validation_file,
        hyperparameters=started.get("hyperparameters") or hyperparameters, suffix=suffix,
        seed=seed, meta=dict(metadata), run_id=run.run_id, created_by=actor,
        created_ms=now_ms())
    with db.write() as session:
        return repo.add(session, job)


def get(db: Database, project: str, job_id: str) -> FineTuningJob:
    with db.read() as session:
        return repo.get(session, project, job_id)


def listing(db: Database, project: str, limit: int, after: str | None
            ) -> tuple[list[FineTuningJob], bool]:
    with db.read() as session:
        rows = repo.page(session, project, limit + 1, after)
    return rows[:limit], len(rows) > limit


def events(db: Database, project: str, job_id: str, limit: int, after: str | None
           ) -> tuple[list[FineTuningEvent], bool]:
    mark = None
    if after:
        if not after.startswith("ftevent-") or not after[8:].isdigit():
            raise InvalidInput(f"after must be an event id such as 'ftevent-12', not {after!r}")
        mark = int(after[8:])
    with db.read() as session:
        repo.get(session, project, job_id)
        rows = repo.events(session, job_id, limit + 1, mark)
    return rows[:limit], len(rows) > limit


def _metrics(event: dict[str, Any], at: int) -> list[MetricPoint]:
    data = event.get("data") or {}
    step = data.get("step")
    if event.get("type") != "metrics" or not isinstance(step, int):
        return []
    return [MetricPoint(key, float(value), at, step) for key, value in data.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)]


def sync(db: Database, project: str, job_id: str, provider: FineTuningProvider
         ) -> FineTuningJob:
    """Bring the job up to date with its provider (a finished job stays as it is)."""
    job = get(db, project, job_id)
    if job.status == "succeeded" and job.registered_model is None:
        _finish(db, project, job, provider)  # a registration that failed before is tried again
        return get(db, project, job_id)
    if job.status in TERMINAL or job.upstream_job_id is None:
        return job
    state = provider.status(job.upstream_job_id)
    found = provider.events(job.upstream_job_id)
    metrics: list[MetricPoint] = []
    with db.write() as session:
        job = repo.get(session, project, job_id, lock=True)
        if job.status in TERMINAL:
            return job
        known = repo.known_sources(session, job_id)
        fresh = sorted((e for e in found if str(e.get("id")) not in known),
                       key=lambda e: (e.get("created_at") or 0, str(e.get("id"))))
        rows = []
        for e in fresh:
            at = int(e.get("created_at") or 0) * 1000 or now_ms()
            rows.append(FineTuningEvent(
                job_id=job_id, source_id=str(e["id"])[:128], created_ms=at,
                level=str(e.get("level", "info"))[:16], kind=str(e.get("type", "message"))[:16],
                message=str(e.get("message", "")), data=e.get("data") or {}))
            metrics.extend(_metrics(e, at))
        repo.add_events(session, rows)
        status = state.get("status")
        job.status = status if status in STATUSES else job.status
        job.fine_tuned_model = state.get("fine_tuned_model") or job.fine_tuned_model
        job.trained_tokens = state.get("trained_tokens") or job.trained_tokens
        job.error = state.get("error") or None
        if job.status in TERMINAL:
            job.finished_ms = now_ms()
    if metrics:
        _tracking.log_batch(db, project, job.run_id, metrics=metrics)
    if job.status in TERMINAL:
        _finish(db, project, job, provider)
    return get(db, project, job_id)


def _finish(db: Database, project: str, job: FineTuningJob, provider: FineTuningProvider
            ) -> None:
    if job.status == "succeeded" and job.fine_tuned_model:
        name = job.suffix or f"{job.model}-ft"
        with db.write() as session:
            if session.scalar(select(RegisteredModel.id).where(
                    RegisteredModel.project == project, RegisteredModel.name == name)) is None:
                registry.create_model(session, project, name,
                                      description="fine-tuned models (triops fine-tuning jobs)")
        _model, version, _links = _registry.create_version(
            db, project, name, source=provider.model_source(job.fine_tuned_model, job.run_id),
            run_id=job.run_id, description=f"fine-tuned from {job.upstream_model} by {job.id}",
            tags={"triops.upstream": job.upstream, "triops.upstream_model": job.fine_tuned_model,
                  "triops.fine_tuning_job": job.id})
        with db.write() as session:
            row = repo.get(session, project, job.id)
            row.registered_model, row.registered_version = name, version.version
    _tracking.update_run(db, project, job.run_id, status=_RUN_STATUS[job.status],
                         end_time=job.finished_ms or now_ms())


def cancel(db: Database, project: str, job_id: str, provider: FineTuningProvider
           ) -> FineTuningJob:
    job = get(db, project, job_id)
    if job.status in TERMINAL:
        raise Conflict(f"job {job_id} is {job.status} already")
    provider.cancel(job.upstream_job_id or "")
    return sync(db, project, job_id, provider)
