"""Prompts, their immutable versions, movable labels and the history of label moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, Conflict, NotFound
from triops.core.ids import now_ms
from triops.store.repos import changes
from triops.store.schema_prompts import Prompt, PromptLabel, PromptLabelMove, PromptVersion


@dataclass(frozen=True)
class NewVersion:
    template: dict[str, Any]
    variables: list[str]
    model: str | None
    params: dict[str, Any]
    message: str


def get_prompt(session: Session, project: str, name: str) -> Prompt:
    row = session.get(Prompt, (project, name))
    if row is None:
        raise NotFound(f"prompt '{name}' does not exist in project '{project}'")
    return row


def find_prompt(session: Session, project: str, name: str, lock: bool = False) -> Prompt | None:
    """``lock``: hold the row until commit, so that two writers adding versions queue up
    instead of racing for the same number."""
    return session.get(Prompt, (project, name), with_for_update=lock)


def create_prompt(session: Session, project: str, name: str, kind: str, description: str,
                  actor: str) -> Prompt:
    if session.get(Prompt, (project, name)) is not None:
        raise AlreadyExists(f"prompt '{name}' exists already; add a version to it instead")
    row = Prompt(project=project, name=name, kind=kind, description=description,
                 latest_version=0, created_by=actor, created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def list_prompts(session: Session, project: str) -> list[Prompt]:
    return list(session.scalars(select(Prompt).where(Prompt.project == project)
                                .order_by(Prompt.name)))


def add_version(session: Session, prompt: Prompt, new: NewVersion, actor: str) -> PromptVersion:
    # The prompt row is the version counter: bumping it in the same transaction makes two
    # concurrent writers collide on the unique index rather than share a number.
    prompt.latest_version += 1
    row = PromptVersion(project=prompt.project, name=prompt.name, version=prompt.latest_version,
                        template=new.template, variables={"names": list(new.variables)},
                        model=new.model, params=dict(new.params), message=new.message,
                        created_by=actor, created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def get_version(session: Session, project: str, name: str, version: int) -> PromptVersion:
    row = session.scalar(select(PromptVersion).where(
        PromptVersion.project == project, PromptVersion.name == name,
        PromptVersion.version == version))
    if row is None:
        raise NotFound(f"prompt '{name}' has no version {version}")
    return row


def list_versions(session: Session, project: str, name: str) -> list[PromptVersion]:
    return list(session.scalars(select(PromptVersion).where(
        PromptVersion.project == project, PromptVersion.name == name)
        .order_by(PromptVersion.version.desc())))


def labels_of(session: Session, project: str, name: str) -> list[PromptLabel]:
    return list(session.scalars(select(PromptLabel).where(
        PromptLabel.project == project, PromptLabel.name == name).order_by(PromptLabel.label)))


def get_label(session: Session, project: str, name: str, label: str) -> PromptLabel:
    row = session.get(PromptLabel, (project, name, label))
    if row is None:
        raise NotFound(f"prompt '{name}' has no label '{label}'")
    return row


def _move(session: Session, project: str, name: str, label: str, to: int | None, kind: str,
          actor: str) -> PromptLabelMove:
    row = session.get(PromptLabel, (project, name, label), with_for_update=True)
    before = row.version if row is not None else None
    now = now_ms()
    if to is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(PromptLabel(project=project, name=name, label=label, version=to,
                                updated_by=actor, updated_ms=now))
    else:
        row.version, row.updated_by, row.updated_ms = to, actor, now
    move = PromptLabelMove(project=project, name=name, label=label, from_version=before,
                           to_version=to, kind=kind, undone=False, actor=actor, time_ms=now)
    session.add(move)
    session.flush()
    where = f"moved to version {to}" if to is not None else "deleted"
    changes.add(session, project, changes.NewChange(
        entity=f"prompt:{name}@{label}", kind=f"prompt.label.{kind}",
        version="" if to is None else str(to), actor=actor, time_ms=now,
        summary=f"label {label} of prompt {name} {where}"
                + (f" (was version {before})" if before is not None else ""),
        attributes={"from": before, "to": to}))
    return move


def set_label(session: Session, project: str, name: str, label: str, version: int,
              actor: str) -> PromptLabelMove:
    get_version(session, project, name, version)
    return _move(session, project, name, label, version, "set", actor)


def delete_label(session: Session, project: str, name: str, label: str,
                 actor: str) -> PromptLabelMove:
    get_label(session, project, name, label)
    return _move(session, project, name, label, None, "delete", actor)


def undo_label(session: Session, project: str, name: str, label: str,
               actor: str) -> PromptLabelMove:
    """Move ``label`` back to where it was before its latest move that is not yet undone.

    Undo after undo keeps walking back through the history, like an editor's undo.
    """
    last = session.scalar(select(PromptLabelMove).where(
        PromptLabelMove.project == project, PromptLabelMove.name == name,
        PromptLabelMove.label == label, PromptLabelMove.kind != "undo",
        PromptLabelMove.undone.is_(False)).order_by(PromptLabelMove.id.desc()).limit(1))
    if last is None:
        raise Conflict(f"label '{label}' of prompt '{name}' has no move left to undo")
    last.undone = True
    return _move(session, project, name, label, last.from_version, "undo", actor)


def label_history(session: Session, project: str, name: str,
                  label: str | None = None) -> list[PromptLabelMove]:
    query = select(PromptLabelMove).where(PromptLabelMove.project == project,
                                          PromptLabelMove.name == name)
    if label is not None:
        query = query.where(PromptLabelMove.label == label)
    return list(session.scalars(query.order_by(PromptLabelMove.id.desc()).limit(500)))


def version_count(session: Session, project: str) -> dict[str, int]:
    rows = session.execute(select(PromptVersion.name, func.count()).where(
        PromptVersion.project == project).group_by(PromptVersion.name))
    return {name: count for name, count in rows}
