"""The model registry: registered models, their versions, tags and aliases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.store.repos import changes
from triops.store.repos.ml_search import (
    ATTRIBUTE,
    TAG,
    Clause,
    SortKey,
    compare,
    compare_optional,
    decode_page_token,
    encode_page_token,
)
from triops.store.schema_ml import ModelAlias, ModelVersion, RegisteredModel

STAGES = ("None", "Staging", "Production", "Archived")


# -- registered models ---------------------------------------------------------------

def create_model(session: Session, project: str, name: str, description: str = "",
                 tags: dict[str, str] | None = None) -> RegisteredModel:
    if not name:
        raise InvalidInput("Registered model name cannot be empty.")
    if session.scalar(select(RegisteredModel.id).where(
            RegisteredModel.project == project, RegisteredModel.name == name)) is not None:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.")
    now = now_ms()
    row = RegisteredModel(project=project, name=name, description=description or "",
                          creation_timestamp=now, last_updated_timestamp=now, last_version=0,
                          tags=dict(tags or {}))
    session.add(row)
    session.flush()
    return row


def get_model(session: Session, project: str, name: str, *, for_update: bool = False
              ) -> RegisteredModel:
    query = select(RegisteredModel).where(
        RegisteredModel.project == project, RegisteredModel.name == name)
    if for_update:
        # Two versions registered at once must not both take the same number.
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"Registered Model with name={name} not found")
    return row


def rename_model(session: Session, project: str, name: str, new_name: str) -> RegisteredModel:
    row = get_model(session, project, name)
    if not new_name:
        raise InvalidInput("Registered model name cannot be empty.")
    if new_name != name and session.scalar(select(RegisteredModel.id).where(
            RegisteredModel.project == project, RegisteredModel.name == new_name)) is not None:
        raise AlreadyExists(f"Registered Model (name={new_name}) already exists.")
    row.name = new_name
    row.last_updated_timestamp = now_ms()
    return row


def delete_model(session: Session, project: str, name: str) -> None:
    row = get_model(session, project, name)
    # Children first: SQLite only cascades with foreign keys on, and being explicit
    # keeps both backends identical.
    session.execute(delete(ModelAlias).where(ModelAlias.registered_model_id == row.id))
    session.execute(delete(ModelVersion).where(ModelVersion.registered_model_id == row.id))
    session.delete(row)


def set_model_tag(session: Session, project: str, name: str, key: str, value: str) -> None:
    row = get_model(session, project, name)
    row.tags = {**row.tags, key: value}
    row.last_updated_timestamp = now_ms()


def delete_model_tag(session: Session, project: str, name: str, key: str) -> None:
    row = get_model(session, project, name)
    if key not in row.tags:
        raise NotFound(f"No tag with key '{key}' on registered model {name}")
    row.tags = {k: v for k, v in row.tags.items() if k != key}


_MODEL_ATTRS = {"name": RegisteredModel.name,
                "creation_timestamp": RegisteredModel.creation_timestamp,
                "last_updated_timestamp": RegisteredModel.last_updated_timestamp,
                "timestamp": RegisteredModel.last_updated_timestamp}


def search_models(session: Session, project: str, *, clauses: Sequence[Clause] = (),
                  order_by: Sequence[SortKey] = (), max_results: int = 100,
                  page_token: str | None = None, sqlite: bool = False,
                  ) -> tuple[list[RegisteredModel], str | None]:
    query = select(RegisteredModel).where(RegisteredModel.project == project)
    for c in clauses:
        if c.entity == ATTRIBUTE and c.key == "name":
            query = query.where(compare(RegisteredModel.name, c.op, c.value, sqlite=sqlite))
        elif c.entity == TAG:
            column = RegisteredModel.tags[c.key].as_string()
            query = query.where(compare_optional(column, c.op, c.value, sqlite=sqlite))
        else:
            raise InvalidInput(f"Invalid filter key '{c.key}' for registered models; "
                               "use name or tags.<key>")
    ordering = []
    for key in order_by:
        column = _MODEL_ATTRS.get(key.key) if key.entity == ATTRIBUTE else None
        if column is None:
            raise InvalidInput(f"Invalid order_by key '{key.key}' for registered models")
        ordering.append(column.asc() if key.ascending else column.desc())
    ordering.append(RegisteredModel.name.asc())
    offset = decode_page_token(page_token)
    rows = list(session.scalars(query.order_by(*ordering).offset(offset).limit(max_results + 1)))
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token


# -- versions ---------------------------------------------------------------------------

def create_version(session: Session, project: str, name: str, *, source: str,
                   run_id: str | None, run_link: str = "", description: str = "",
                   tags: dict[str, str] | None = None, model_id: str | None = None,
                   storage_location: str | None = None, user_id: str = "") -> ModelVersion:
    model = get_model(session, project, name, for_update=True)
    model.last_version += 1
    now = now_ms()
    model.last_updated_timestamp = now
    row = ModelVersion(
        registered_model_id=model.id, version=model.last_version, source=source,
        run_id=run_id or None, run_link=run_link or "", model_id=model_id or None,
        description=description or "", user_id=user_id, current_stage="None", status="READY",
        status_message="", storage_location=storage_location or source,
        creation_timestamp=now, last_updated_timestamp=now, tags=dict(tags or {}),
    )
    session.add(row)
    session.flush()
    changes.add(session, project, changes.NewChange(
        entity=f"model:{name}", kind="model.version.registered", version=str(row.version),
        summary=f"model {name} version {row.version} registered", actor=user_id,
        time_ms=now, attributes={"run_id": row.run_id, "source": source}))
    return row


def _version_number(version: str | int) -> int:
    try:
        return int(version)
    except (TypeError, ValueError):
        raise InvalidInput(f"Model version must be an integer, got {version!r}") from None


def get_version(session: Session, project: str, name: str, version: str | int
                ) -> tuple[RegisteredModel, ModelVersion]:
    number = _version_number(version)
    model = get_model(session, project, name)
    row = session.scalar(select(ModelVersion).where(
        ModelVersion.registered_model_id == model.id, ModelVersion.version == number))
    if row is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    return model, row


def delete_version(session: Session, project: str, name: str, version: str | int) -> None:
    model, row = get_version(session, project, name, version)
    session.execute(delete(ModelAlias).where(ModelAlias.registered_model_id == model.id,
                                             ModelAlias.version == row.version))
    session.delete(row)


def transition_stage(session: Session, project: str, name: str, version: str | int,
                     stage: str, archive_existing: bool) -> tuple[RegisteredModel, ModelVersion]:
    canonical = {s.lower(): s for s in STAGES}.get((stage or "").lower())
    if canonical is None:
        raise InvalidInput(f"Invalid Model Version stage: {stage}. Use one of {list(STAGES)}")
    model, row = get_version(session, project, name, version)
    now = now_ms()
    if archive_existing and canonical in ("Staging", "Production"):
        for other in session.scalars(select(ModelVersion).where(
                ModelVersion.registered_model_id == model.id,
                ModelVersion.current_stage == canonical, ModelVersion.id != row.id)):
            other.current_stage = "Archived"
            other.last_updated_timestamp = now
    row.current_stage = canonical
    row.last_updated_timestamp = now
    return model, row


def latest_versions(session: Session, model: RegisteredModel, stages: Sequence[str] = ()
                    ) -> list[ModelVersion]:
    """The newest version in each stage (all stages when none are named)."""
    wanted = {s.lower() for s in stages}
    best: dict[str, ModelVersion] = {}
    for row in session.scalars(select(ModelVersion).where(
            ModelVersion.registered_model_id == model.id).order_by(ModelVersion.version)):
        if not wanted or row.current_stage.lower() in wanted:
            best[row.current_stage] = row
    return sorted(best.values(), key=lambda r: r.version)


_VERSION_ATTRS = {"name": RegisteredModel.name, "run_id": ModelVersion.run_id,
                  "source_path": ModelVersion.source, "source": ModelVersion.source,
                  "version_number": ModelVersion.version, "model_id": ModelVersion.model_id,
                  "creation_timestamp": ModelVersion.creation_timestamp,
                  "last_updated_timestamp": ModelVersion.last_updated_timestamp}


def search_versions(session: Session, project: str, *, clauses: Sequence[Clause] = (),
                    order_by: Sequence[SortKey] = (), max_results: int = 10_000,
                    page_token: str | None = None, sqlite: bool = False,
                    ) -> tuple[list[tuple[RegisteredModel, ModelVersion]], str | None]:
    query = (select(RegisteredModel, ModelVersion)
             .join(ModelVersion, ModelVersion.registered_model_id == RegisteredModel.id)
             .where(RegisteredModel.project == project))
    for c in clauses:
        if c.entity == ATTRIBUTE and c.key in _VERSION_ATTRS:
            value = c.value
            if c.key == "version_number":
                value = tuple(map(_version_number, value)) if isinstance(value, tuple) \
                    else _version_number(value)
            query = query.where(compare(_VERSION_ATTRS[c.key], c.op, value, sqlite=sqlite))
        elif c.entity == TAG:
            column = ModelVersion.tags[c.key].as_string()
            query = query.where(compare_optional(column, c.op, c.value, sqlite=sqlite))
        else:
            raise InvalidInput(f"Invalid filter key '{c.key}' for model versions")
    ordering = []
    for key in order_by:
        column = _VERSION_ATTRS.get(key.key) if key.entity == ATTRIBUTE else None
        if column is None:
            raise InvalidInput(f"Invalid order_by key '{key.key}' for model versions")
        ordering.append(column.asc() if key.ascending else column.desc())
    ordering += [RegisteredModel.name.asc(), ModelVersion.version.desc()]
    offset = decode_page_token(page_token)
    rows = [tuple(r) for r in session.execute(
        query.order_by(*ordering).offset(offset).limit(max_results + 1))]
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token  # type: ignore[return-value]


def versions_of_run(session: Session, project: str, run_id: str
                    ) -> list[tuple[RegisteredModel, ModelVersion]]:
    """Which registered model versions a run produced: what lineage follows."""
    query = (select(RegisteredModel, ModelVersion)
             .join(ModelVersion, ModelVersion.registered_model_id == RegisteredModel.id)
             .where(RegisteredModel.project == project, ModelVersion.run_id == run_id))
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


# -- aliases ----------------------------------------------------------------------------

def set_alias(session: Session, project: str, name: str, alias: str, version: str | int,
              actor: str = "") -> None:
    if not alias or alias.lower() == "latest" or alias.lower().startswith("v") and \
            alias[1:].isdigit():
        raise InvalidInput(f"'{alias}' is reserved and cannot be used as an alias")
    model, row = get_version(session, project, name, version)
    existing = session.get(ModelAlias, (model.id, alias))
    before = existing.version if existing is not None else None
    if existing is None:
        session.add(ModelAlias(registered_model_id=model.id, alias=alias, version=row.version))
    else:
        existing.version = row.version
    model.last_updated_timestamp = now_ms()
    if before != row.version:
        changes.add(session, project, changes.NewChange(
            entity=f"model:{name}@{alias}", kind="model.alias.moved", version=str(row.version),
            summary=f"alias {alias} of model {name} moved to version {row.version}"
                    + (f" from {before}" if before is not None else ""),
            actor=actor, attributes={"from": before, "to": row.version}))


def delete_alias(session: Session, project: str, name: str, alias: str,
                 actor: str = "") -> None:
    model = get_model(session, project, name)
    gone = session.execute(delete(ModelAlias).where(ModelAlias.registered_model_id == model.id,
                                                    ModelAlias.alias == alias))
    if gone.rowcount:
        changes.add(session, project, changes.NewChange(
            entity=f"model:{name}@{alias}", kind="model.alias.deleted",
            summary=f"alias {alias} of model {name} deleted", actor=actor))


def get_by_alias(session: Session, project: str, name: str, alias: str
                 ) -> tuple[RegisteredModel, ModelVersion]:
    model = get_model(session, project, name)
    hit = session.get(ModelAlias, (model.id, alias))
    if hit is None:
        raise NotFound(f"Registered model alias {alias} not found.")
    return get_version(session, project, name, hit.version)


def aliases_of(session: Session, model_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    out: dict[int, list[tuple[str, int]]] = {m: [] for m in model_ids}
    if model_ids:
        for row in session.scalars(select(ModelAlias).where(
                ModelAlias.registered_model_id.in_(list(model_ids))).order_by(ModelAlias.alias)):
            out[row.registered_model_id].append((row.alias, row.version))
    return out


def has_versions(session: Session, model_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        ModelVersion.registered_model_id == model_id))))


def count_models(session: Session, project: str) -> int:
    return session.scalar(select(func.count()).where(RegisteredModel.project == project)) or 0
