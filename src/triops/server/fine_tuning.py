"""Which provider trains a fine-tuning job: shared by the OpenAI-compatible API and the
job pages.

A job's ``model`` is a gateway alias, whose first deployment names the upstream that
trains, or ``pipeline:<name>``, a registered pipeline run on the server's pipeline
pool. Finding the provider needs both the gateway (``llm``) and the pipelines (``ml``),
so it lives here, above both pillars, rather than in either.
"""

from __future__ import annotations

from typing import Any

from triops.core.errors import InvalidInput
from triops.ml import EXECUTORS, fine_tuning, registered_modules
from triops.server.runtime import Runtime


def _upstream_provider(target: Any, model: str) -> fine_tuning.FineTuningProvider:
    config = target.upstream
    spec = fine_tuning.UpstreamSpec(
        name=config.name, base_url=config.base_url, model=model,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        headers=dict(config.headers))
    return fine_tuning.provider_for(spec, config.provider)


def _pipeline_provider(rt: Runtime, project: str, pipeline: str,
                       metadata: dict[str, str] | None) -> fine_tuning.FineTuningProvider:
    executor = (metadata or {}).get("triops.executor", "local")
    if executor not in EXECUTORS:
        raise InvalidInput(f"metadata 'triops.executor' must be one of {', '.join(EXECUTORS)}")
    return fine_tuning.PipelineFineTuning(
        rt.db, rt.artifacts, project, pipeline,
        modules=registered_modules(rt.settings.pipeline_modules),
        submit=rt.monitoring.submit, executor=executor)


def provider_for_model(rt: Runtime, project: str, model: str,
                       metadata: dict[str, str] | None
                       ) -> tuple[fine_tuning.FineTuningProvider, str, str]:
    """The provider a new job on ``model`` trains with, its upstream and base model."""
    if model.startswith(fine_tuning.PIPELINE_PREFIX):
        pipeline = model[len(fine_tuning.PIPELINE_PREFIX):]
        return (_pipeline_provider(rt, project, pipeline, metadata),
                fine_tuning.PIPELINE_UPSTREAM, pipeline)
    target = rt.gateway.snapshot.table.candidates(model)[0]
    return _upstream_provider(target, target.model), target.upstream.name, target.model


def provider_of_job(rt: Runtime, job: Any) -> fine_tuning.FineTuningProvider:
    """The provider a stored job trains with, found again from its upstream's name."""
    if job.upstream == fine_tuning.PIPELINE_UPSTREAM and job.model.startswith(
            fine_tuning.PIPELINE_PREFIX):
        return _pipeline_provider(rt, job.project, job.upstream_model, job.meta)
    target = rt.gateway.snapshot.table.candidates(f"{job.upstream}/{job.upstream_model}")[0]
    return _upstream_provider(target, job.upstream_model)


def synced(rt: Runtime, project: str, job_id: str) -> Any:
    """The job brought up to date with its provider (blocking: call off the event loop)."""
    job = fine_tuning.get(rt.db, project, job_id)
    if job.status in fine_tuning.TERMINAL:
        return job
    return fine_tuning.sync(rt.db, project, job_id, provider_of_job(rt, job))
