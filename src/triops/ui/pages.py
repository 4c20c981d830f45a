"""Shell pages: login, overview, the incident list, keys, and each pillar's landing page."""

from __future__ import annotations

from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.ops import incident_store as incident_repo
from triops.ops import list_series
from triops.ops import prom_source_store as prom_sources
from triops.server import audit_log as audit
from triops.server import key_store as keys
from triops.server import sessions
from triops.server.auth import AsAdmin, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui", include_in_schema=False)


def _after_login(target: str) -> str:
    """Where to go once logged in: the page that sent the person here, when it is a page
    of this UI (never another site, whatever ``next`` says)."""
    if target.startswith("/ui") and not target.startswith("/ui/login") and "\\" not in target:
        return target
    return "/ui"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str = "",
               next: str = Query("", max_length=2000)) -> HTMLResponse:
    return render(request, "login.html", error=error, next=_after_login(next))


@router.post("/login")
def login(request: Request, api_key: str = Form(..., max_length=512),
          next: str = Form("", max_length=2000)) -> Response:
    token = sessions.log_in(runtime_of(request).db, api_key)
    if token is None:
        return render(request, "login.html", error="That key is unknown or revoked.",
                      next=_after_login(next))
    response = RedirectResponse(_after_login(next), status_code=303)
    sessions.set_cookie(request, response, token)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    sessions.log_out(runtime_of(request).db, request, response)
    return response


@router.get("", response_class=HTMLResponse)
def overview(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        open_incidents = incident_repo.list_incidents(session, caller.project, "open", 10)
        recent = audit.recent(session, caller.project, 10)
    return render(request, "overview.html", incidents=open_incidents, audit=recent)


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request, status: str | None = None, caller: Caller = AsViewer
) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        rows = incident_repo.list_incidents(session, caller.project, status or None, 200)
    return render(request, "incidents.html", incidents=rows, status=status or "")


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, caller: Caller = AsAdmin) -> HTMLResponse:
    scope = None if caller.principal.is_global else caller.project
    with runtime_of(request).db.read() as session:
        rows = keys.list_keys(session, scope)
    return render(request, "keys.html", keys=rows)


@router.get("/ops", response_class=HTMLResponse)
def ops_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        series = list_series(session, caller.project)
        active = incident_repo.list_incidents(session, caller.project, "open", 20)
        sources = prom_sources.list_all(session, caller.project)
    return render(request, "ops.html", series=series, incidents=active, sources=sources)
