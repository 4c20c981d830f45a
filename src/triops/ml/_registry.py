"""Registry writes that need more than one table: a version's source is resolved to
the place its files live, and the run that produced it is kept for lineage."""

from __future__ import annotations

from triops.core.errors import InvalidInput
from triops.ml._validation import check_tags
from triops.store.engine import Database
from triops.store.repos import logged_models, registry, runs
from triops.store.schema_ml import ModelVersion, RegisteredModel


def create_version(db: Database, project: str, name: str, *, source: str,
                   run_id: str | None = None, run_link: str = "", description: str = "",
                   tags: dict[str, str] | None = None, model_id: str | None = None,
                   ) -> tuple[RegisteredModel, ModelVersion, list[tuple[str, int]]]:
    """Register a new version of ``name``.

    ``models:/<model_id>`` sources point at a logged model and ``runs:/<run_id>/<path>``
    at a run's artifacts; both are resolved to the artifact location the client will
    download from. Anything else is taken as the location itself.
    """
    if not source:
        raise InvalidInput("Missing value for required parameter 'source'.")
    check_tags(dict(tags or {}))
    with db.write() as session:
        storage = source
        if source.startswith("models:/"):
            ref = source[len("models:/"):].strip("/")
            if ref.startswith("m-") and "/" not in ref:
                logged = logged_models.get(session, project, ref)
                storage, model_id = logged.artifact_uri, model_id or logged.model_id
                run_id = run_id or logged.source_run_id
        elif source.startswith("runs:/"):
            ref_run, _, path = source[len("runs:/"):].partition("/")
            run = runs.get(session, project, ref_run)
            storage = f"{run.artifact_uri}/{path}".rstrip("/")
            run_id = run_id or run.run_id
        if model_id and not source.startswith("models:/"):
            logged_models.get(session, project, model_id)
        if run_id:
            runs.get(session, project, run_id)
        version = registry.create_version(
            session, project, name, source=source, run_id=run_id, run_link=run_link,
            description=description, tags=tags, model_id=model_id, storage_location=storage)
        model = registry.get_model(session, project, name)
        return model, version, registry.aliases_of(session, [model.id])[model.id]


def download_uri(db: Database, project: str, name: str, version: str) -> str:
    with db.read() as session:
        _model, row = registry.get_version(session, project, name, version)
        return row.storage_location
