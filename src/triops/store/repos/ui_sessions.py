"""Web UI sessions: a login trades an API key for a random session token.

The browser's cookie holds only the token; the store holds its SHA-256 hash and the
key it stands for. A session ends at logout, when its key is revoked, or when it
expires, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.store.schema import UiSession

#: How long a login lasts, whatever the activity: a stolen cookie is worth a day at most.
SESSION_SECONDS = 12 * 3600


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StartedSession:
    token: str
    expires_ms: int


def start(session: Session, key_id: str) -> StartedSession:
    now = now_ms()
    # Logins are rare: clearing out expired rows here keeps the table small without a job.
    session.execute(delete(UiSession).where(UiSession.expires_ms <= now))
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_SECONDS * 1000
    session.add(UiSession(token_hash=_hash(token), key_id=key_id, created_ms=now,
                          expires_ms=expires))
    session.flush()
    return StartedSession(token=token, expires_ms=expires)


def key_of(session: Session, token: str) -> str | None:
    """The id of the key a live session stands for; None when it ended or expired."""
    query = select(UiSession.key_id).where(UiSession.token_hash == _hash(token),
                                           UiSession.expires_ms > now_ms())
    return session.scalar(query)


def end(session: Session, token: str) -> None:
    session.execute(delete(UiSession).where(UiSession.token_hash == _hash(token)))


def end_for_key(session: Session, key_id: str) -> None:
    session.execute(delete(UiSession).where(UiSession.key_id == key_id))
