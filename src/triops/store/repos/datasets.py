"""Dataset versions: registered once per distinct content, numbered per name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.store.schema_ml_datasets import DatasetVersion


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    versions: int
    latest_version: int
    latest_rows: int
    updated_ms: int


def register(session: Session, project: str, name: str, *, digest: str, source_type: str,
             source: str, row_count: int, columns: list[dict[str, Any]],
             profile: dict[str, Any], description: str = "", created_by: str = ""
             ) -> tuple[DatasetVersion, bool]:
    """The version holding this content; ``(row, True)`` when it was created now.

    The same content registered again returns its existing version, so scripts that
    log their training data on every run do not pile up identical versions.
    """
    existing = session.scalar(select(DatasetVersion).where(
        DatasetVersion.project == project, DatasetVersion.name == name,
        DatasetVersion.digest == digest).order_by(DatasetVersion.version).limit(1))
    if existing is not None:
        return existing, False
    last = session.scalar(select(func.max(DatasetVersion.version)).where(
        DatasetVersion.project == project, DatasetVersion.name == name)) or 0
    row = DatasetVersion(
        project=project, name=name, version=last + 1, digest=digest, source_type=source_type,
        source=source, row_count=row_count, columns=columns, profile=profile,
        description=description, created_ms=now_ms(), created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, True


def with_digest(session: Session, project: str, digest: str) -> DatasetVersion | None:
    """The oldest version of any name that holds this content."""
    return session.scalar(select(DatasetVersion).where(
        DatasetVersion.project == project, DatasetVersion.digest == digest)
        .order_by(DatasetVersion.created_ms, DatasetVersion.id).limit(1))


def get_version(session: Session, project: str, name: str, version: int | str
                ) -> DatasetVersion:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(f"dataset version must be an integer, not {version!r}") from None
    row = session.scalar(select(DatasetVersion).where(
        DatasetVersion.project == project, DatasetVersion.name == name,
        DatasetVersion.version == number))
    if row is None:
        raise NotFound(f"dataset {name!r} has no version {number}")
    return row


def versions(session: Session, project: str, name: str) -> list[DatasetVersion]:
    rows = list(session.scalars(select(DatasetVersion).where(
        DatasetVersion.project == project, DatasetVersion.name == name)
        .order_by(DatasetVersion.version.desc())))
    if not rows:
        raise NotFound(f"no dataset named {name!r}")
    return rows


def summaries(session: Session, project: str, limit: int = 1000) -> list[DatasetSummary]:
    newest = (select(DatasetVersion.name, func.count().label("n"),
                     func.max(DatasetVersion.version).label("latest"))
              .where(DatasetVersion.project == project)
              .group_by(DatasetVersion.name).subquery())
    query = (select(newest.c.name, newest.c.n, newest.c.latest, DatasetVersion.row_count,
                    DatasetVersion.created_ms)
             .join(DatasetVersion, (DatasetVersion.project == project)
                   & (DatasetVersion.name == newest.c.name)
                   & (DatasetVersion.version == newest.c.latest))
             .order_by(newest.c.name).limit(limit))
    return [DatasetSummary(r.name, r.n, r.latest, r.row_count, r.created_ms)
            for r in session.execute(query)]


def by_digest(session: Session, project: str, pairs: Iterable[tuple[str, str]]
              ) -> dict[tuple[str, str], DatasetVersion]:
    """Registered versions matching ``(name, digest)`` pairs, e.g. a run's inputs."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    rows = session.scalars(select(DatasetVersion).where(
        DatasetVersion.project == project,
        tuple_(DatasetVersion.name, DatasetVersion.digest).in_(wanted)))
    out: dict[tuple[str, str], DatasetVersion] = {}
    for row in rows:
        key = (row.name, row.digest)
        if key not in out or row.version < out[key].version:
            out[key] = row
    return out
