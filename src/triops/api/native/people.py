"""``/api/v1/sessions`` and ``/api/v1/users``: LLM traces grouped by session (read as a
conversation) and by end user (the ``user.id`` an application puts on its spans, not a
triops key)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.api.native.traces import TraceOut, trace_out
from triops.llm import conversation, list_groups, user_view
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["traces"])


class GroupOut(BaseModel):
    id: str = Field(description="the session id or the end user's id")
    traces: int
    errors: int = Field(description="traces with at least one failed span")
    first_ms: int
    last_ms: int
    input_tokens: int
    output_tokens: int
    cost: float


class GroupPage(BaseModel):
    items: list[GroupOut]
    total: int
    limit: int
    offset: int


class ScoreMeanOut(BaseModel):
    name: str
    count: int
    mean: float


class MessageOut(BaseModel):
    role: str
    content: str


class TurnOut(BaseModel):
    trace: TraceOut
    asked: list[MessageOut] = Field(description="the turn's own input messages")
    answered: list[MessageOut]


class ConversationOut(BaseModel):
    session: GroupOut
    turns: list[TurnOut] = Field(description="oldest first")
    scores: list[ScoreMeanOut]
    truncated: bool = Field(description="the session has more traces than turns holds")


class UserOut(BaseModel):
    user: GroupOut
    sessions: list[GroupOut] = Field(description="the 50 most recently active")
    session_count: int
    recent: list[TraceOut] = Field(description="the 50 latest traces")
    scores: list[ScoreMeanOut]


def _group(g) -> GroupOut:  # type: ignore[no-untyped-def]
    return GroupOut(id=g.value, traces=g.traces, errors=g.errors,
                    first_ms=g.first_ns // 1_000_000, last_ms=g.last_ns // 1_000_000,
                    input_tokens=g.input_tokens, output_tokens=g.output_tokens, cost=g.cost)


def _page(request: Request, caller: Caller, by: str, limit: int, offset: int) -> GroupPage:
    with runtime_of(request).db.read() as session:
        rows, total = list_groups(session, caller.project, by, limit, offset)
    return GroupPage(items=[_group(g) for g in rows], total=total, limit=limit, offset=offset)


@router.get("/sessions", response_model=GroupPage,
            summary="Sessions of LLM traces, most recently active first")
def list_sessions(request: Request, limit: int = Query(50, ge=1, le=500),
                  offset: int = Query(0, ge=0, le=10_000_000),
                  caller: Caller = AsViewer) -> GroupPage:
    return _page(request, caller, "session", limit, offset)


@router.get("/sessions/{session_id:path}", response_model=ConversationOut,
            summary="One session as a conversation")
def get_session(session_id: str, request: Request, caller: Caller = AsViewer
                ) -> ConversationOut:
    with runtime_of(request).db.read() as session:
        c = conversation(session, caller.project, session_id[:256])
    return ConversationOut(
        session=_group(c.totals), truncated=c.truncated,
        scores=[ScoreMeanOut(name=s.name, count=s.count, mean=s.mean) for s in c.scores],
        turns=[TurnOut(trace=TraceOut(**trace_out(t.trace)),
                       asked=[MessageOut(role=m.role, content=m.content) for m in t.asked],
                       answered=[MessageOut(role=m.role, content=m.content)
                                 for m in t.answered]) for t in c.turns])


@router.get("/users", response_model=GroupPage,
            summary="End users of LLM traces, most recently active first")
def list_users(request: Request, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=10_000_000),
               caller: Caller = AsViewer) -> GroupPage:
    return _page(request, caller, "user", limit, offset)


@router.get("/users/{user_id:path}", response_model=UserOut,
            summary="One end user: totals, sessions, latest traces, score means")
def get_user(user_id: str, request: Request, caller: Caller = AsViewer) -> UserOut:
    with runtime_of(request).db.read() as session:
        u = user_view(session, caller.project, user_id[:256])
    return UserOut(user=_group(u.totals), sessions=[_group(g) for g in u.sessions],
                   session_count=u.session_count,
                   recent=[TraceOut(**trace_out(t)) for t in u.recent],
                   scores=[ScoreMeanOut(name=s.name, count=s.count, mean=s.mean)
                           for s in u.scores])
