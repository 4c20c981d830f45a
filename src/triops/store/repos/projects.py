"""Projects (workspaces): every object in triops belongs to one."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.store.schema import Project

DEFAULT_PROJECT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"project name {name!r} is not valid: use 1-128 lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


def create(session: Session, name: str, description: str = "") -> Project:
    validate_name(name)
    if session.get(Project, name) is not None:
        raise AlreadyExists(f"project {name!r} exists already")
    project = Project(name=name, description=description, created_ms=now_ms())
    session.add(project)
    session.flush()
    return project


def ensure(session: Session, name: str) -> Project:
    return session.get(Project, name) or create(session, name)


def get(session: Session, name: str) -> Project:
    project = session.get(Project, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist")
    return project


def list_all(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))
