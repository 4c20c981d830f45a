"""API keys: stored as SHA-256 hashes, the secret shown once at creation.

Keys are long random tokens, so a fast unsalted hash is enough: there is nothing to
brute-force, and lookup by hash stays a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.core.principals import ALL_PROJECTS, Principal, Role
from triops.store.repos import projects, ui_sessions
from triops.store.schema import ApiKey

KEY_PREFIX = "tri_"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    secret: str
    principal: Principal


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_role(text: str) -> Role:
    try:
        return Role[text.lower()]
    except KeyError:
        raise InvalidInput(
            f"role {text!r} is not one of: {', '.join(r.name for r in Role)}"
        ) from None


def create(
    session: Session, *, project: str, role: Role, name: str = "", secret: str | None = None
) -> CreatedKey:
    if project != ALL_PROJECTS:
        projects.ensure(session, project)
    secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    if len(secret) < 16:
        raise InvalidInput("an API key must be at least 16 characters long")
    row = ApiKey(
        id=new_id(),
        name=name or f"{role.name}@{project}",
        project=project,
        role=role.name,
        secret_hash=hash_secret(secret),
        prefix=secret[:8],
        created_ms=now_ms(),
    )
    session.add(row)
    session.flush()
    return CreatedKey(id=row.id, secret=secret, principal=_principal(row))


def authenticate(session: Session, secret: str) -> Principal | None:
    row = find(session, secret)
    if row is None or row.revoked_ms is not None:
        return None
    return _principal(row)


def find(session: Session, secret: str) -> ApiKey | None:
    """The key with this secret, revoked or not."""
    return session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))


def list_keys(session: Session, project: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_ms)
    if project is not None:
        query = query.where(ApiKey.project == project)
    return list(session.scalars(query))


def names_of(session: Session, key_ids: Iterable[str]) -> dict[str, str]:
    """Key id → the name it was given, for pages that show who did something."""
    wanted = [k for k in set(key_ids) if k]
    if not wanted:
        return {}
    query = select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(wanted))
    return {key_id: name for key_id, name in session.execute(query)}


def revoke(session: Session, key_id: str, project: str | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or (project is not None and row.project != project):
        raise NotFound(f"API key {key_id!r} does not exist")
    if row.revoked_ms is None:
        row.revoked_ms = now_ms()
    ui_sessions.end_for_key(session, key_id)
    return row


def active(session: Session, key_id: str) -> Principal | None:
    """The principal of the key with this id, unless it is revoked or unknown."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_ms is not None:
        return None
    return _principal(row)


def any_admin(session: Session) -> bool:
    query = select(ApiKey.id).where(
        ApiKey.project == ALL_PROJECTS, ApiKey.role == Role.admin.name, ApiKey.revoked_ms.is_(None)
    )
    return session.scalar(query.limit(1)) is not None


def _principal(row: ApiKey) -> Principal:
    return Principal(key_id=row.id, name=row.name, project=row.project, role=Role[row.role])
