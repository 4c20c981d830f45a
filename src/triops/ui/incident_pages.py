"""The incident page: what happened, what changed around it, probable causes, the
topology around its subject, runbook runs (decided here by editors) and notifications;
editors also merge the incident into another or split members off it here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.ops import incident_store
from triops.ops import merge as merge_incident
from triops.ops import resolve as resolve_incident
from triops.ops import split as split_incident
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.errors import status_for
from triops.server.runtime import runtime_of
from triops.ui import incident_view, topology_svg
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/incidents", include_in_schema=False)

#: Annotations shown as links when their value is an http(s) URL.
LINK_ANNOTATIONS = ("runbook_url", "generatorURL", "dashboard_url")


def _back(incident_id: str) -> Response:
    return RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)


def _page(request: Request, caller: Caller, incident_id: str, error: str = "") -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        page = incident_view.load(session, caller.project, incident_id)
        causes = runtime.causes.causes(session, caller.project, incident_id)
    incident = page.incident
    links = {k: v for k, v in (incident.annotations or {}).items()
             if isinstance(v, str) and v.startswith(("http://", "https://"))}
    texts = {k: v for k, v in (incident.annotations or {}).items() if k not in links}
    topology = topology_svg.draw(page.neighbourhood, highlight=incident.subject,
                                 open_incidents=page.open_incidents,
                                 title=f"topology around {incident.subject}")
    return render(request, "incident.html", incident=incident, page=page, causes=causes,
                  topology=topology, links=links, texts=texts, error=error,
                  relative=incident_view.relative, node_href=topology_svg.node_href)


def _refused(request: Request, caller: Caller, incident_id: str,
             exc: InvalidInput | Conflict | NotFound) -> HTMLResponse:
    """The page again with the engine's reason on it: a form mistake is not a 500."""
    response = _page(request, caller, incident_id, error=exc.message)
    response.status_code = status_for(exc)
    return response


@router.get("/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    return _page(request, caller, incident_id)


@router.post("/{incident_id}/ack")
def acknowledge(incident_id: str, request: Request, caller: Caller = AsEditor) -> Response:
    with runtime_of(request).db.write() as session:
        incident_store.acknowledge(session, caller.project, incident_id, caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="incident.ack", target=incident_id)
    return _back(incident_id)


@router.post("/{incident_id}/resolve")
def resolve(incident_id: str, request: Request, caller: Caller = AsEditor) -> Response:
    with runtime_of(request).db.write() as session:
        resolve_incident(session, caller.project, incident_id)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="incident.resolve", target=incident_id)
    return _back(incident_id)


@router.post("/{incident_id}/runs/{run_id}/{decision}")
def decide_run(incident_id: str, run_id: str, decision: str, request: Request,
               note: str = Form("", max_length=2000), caller: Caller = AsEditor) -> Response:
    """Approve or reject a runbook run waiting for approval; the engine records who."""
    if decision in ("approve", "reject"):
        runtime_of(request).runbooks.decide(caller.project, run_id, caller.actor,
                                            decision == "approve", note)
    return _back(incident_id)


@router.post("/{incident_id}/merge")
def merge(incident_id: str, request: Request, into: str = Form("", max_length=64),
          target: str = Form("", max_length=64), caller: Caller = AsEditor) -> Response:
    """Fold this incident into another: a typed id wins over the one picked in the list."""
    chosen = into.strip() or target
    try:
        if not chosen:
            raise InvalidInput("pick or type the id of the incident to merge into")
        with runtime_of(request).db.write() as session:
            kept = merge_incident(session, caller.project, incident_id, chosen,
                                  caller.actor).id
    except (InvalidInput, Conflict, NotFound) as exc:
        return _refused(request, caller, incident_id, exc)
    return _back(kept)


@router.post("/{incident_id}/split")
def split(incident_id: str, request: Request,
          fingerprint: Annotated[list[str] | None, Form()] = None,
          caller: Caller = AsEditor) -> Response:
    """Move the ticked member fingerprints to a new incident and show that one."""
    try:
        with runtime_of(request).db.write() as session:
            new = split_incident(session, caller.project, incident_id, fingerprint or [],
                                 caller.actor).id
    except (InvalidInput, Conflict, NotFound) as exc:
        return _refused(request, caller, incident_id, exc)
    return _back(new)
