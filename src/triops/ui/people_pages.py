"""Traces by person and by conversation: the sessions and users lists, one session read
as a conversation, one user's traces, cost and scores."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.llm import conversation, list_groups, user_view
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm", include_in_schema=False)

PAGE_SIZE = 50


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "")
    return min(int(raw), 10**9) if raw.isdigit() else 0


def _group_page(request: Request, caller: Caller, by: str) -> HTMLResponse:
    offset = _offset(request)
    with runtime_of(request).db.read() as session:
        rows, total = list_groups(session, caller.project, by, PAGE_SIZE, offset)
    return render(request, "llm_groups.html", by=by, rows=rows, total=total, offset=offset,
                  page_size=PAGE_SIZE)


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    return _group_page(request, caller, "session")


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    return _group_page(request, caller, "user")


@router.get("/sessions/{session_id:path}", response_class=HTMLResponse)
def session_page(session_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        c = conversation(session, caller.project, session_id)
    return render(request, "llm_session.html", c=c)


@router.get("/users/{user_id:path}", response_class=HTMLResponse)
def user_page(user_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        u = user_view(session, caller.project, user_id)
    return render(request, "llm_user.html", u=u, traces=u.recent)
