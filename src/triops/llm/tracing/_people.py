"""Traces seen by who and in which conversation: sessions read as a conversation, users
with what their traces cost and how they were scored."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.llm.tracing._messages import Message, exchange
from triops.llm.tracing._query import Trace, _trace
from triops.llm.tracing._store import SPAN, span_from_data
from triops.store import records
from triops.store.repos import llm_traces as repo
from triops.store.repos.llm_traces import GroupTotal, TraceFilter

#: A conversation shows at most this many turns (its first ones); the page says so.
MAX_TURNS = 500


@dataclass(frozen=True)
class Turn:
    trace: Trace
    asked: list[Message]
    answered: list[Message]


@dataclass(frozen=True)
class ScoreMean:
    name: str
    count: int
    mean: float


@dataclass(frozen=True)
class Conversation:
    session_id: str
    totals: GroupTotal
    turns: list[Turn]
    scores: list[ScoreMean]
    #: Whether the session has more traces than ``turns`` holds.
    truncated: bool


@dataclass(frozen=True)
class UserView:
    user_id: str
    totals: GroupTotal
    recent: list[Trace]
    sessions: list[GroupTotal]
    session_count: int
    scores: list[ScoreMean]


def _means(rows: list[tuple[str, int, float]]) -> list[ScoreMean]:
    return [ScoreMean(name, n, mean) for name, n, mean in rows]


def list_groups(session: Session, project: str, by: str, limit: int = 50, offset: int = 0
                ) -> tuple[list[GroupTotal], int]:
    """Users (``by="user"``) or sessions (``by="session"``), most recently active first."""
    if by not in ("user", "session"):
        raise InvalidInput(f"group by user or session, not {by!r}")
    return repo.group_totals(session, project, by, limit=limit, offset=offset)


def conversation(session: Session, project: str, session_id: str,
                 limit: int = MAX_TURNS) -> Conversation:
    """Every trace of one session, oldest first, each with what was asked and answered."""
    totals, _ = repo.group_totals(session, project, "session", value=session_id, limit=1)
    if not totals:
        raise NotFound(f"session {session_id!r} has no traces in project {project!r}")
    rows, total = repo.search(session, project, TraceFilter(session=session_id, limit=limit,
                                                            oldest_first=True))
    spans: dict[str, list] = {r.trace_id: [] for r in rows}  # type: ignore[type-arg]
    for rec in records.scan(session, project, SPAN, streams=list(spans)):
        spans[rec.stream].append(span_from_data(rec.data))
    turns = [Turn(_trace(r), *exchange(spans[r.trace_id])) for r in rows]
    return Conversation(session_id=session_id, totals=totals[0], turns=turns,
                        scores=_means(repo.score_means(session, project,
                                                       trace_session=session_id)),
                        truncated=total > len(rows))


def user_view(session: Session, project: str, user_id: str, recent: int = 50) -> UserView:
    """One end user: totals, latest traces, sessions, and the means of their scores."""
    totals, _ = repo.group_totals(session, project, "user", value=user_id, limit=1)
    if not totals:
        raise NotFound(f"user {user_id!r} has no traces in project {project!r}")
    rows, _ = repo.search(session, project, TraceFilter(user=user_id, limit=recent))
    sessions, count = repo.group_totals(session, project, "session", user=user_id, limit=50)
    return UserView(user_id=user_id, totals=totals[0], recent=[_trace(r) for r in rows],
                    sessions=sessions, session_count=count,
                    scores=_means(repo.score_means(session, project, user=user_id)))
