"""The incident page: what happened, what changed around it, probable causes, the
topology around its subject, runbook runs (decided here by editors) and notifications."""

from __future__ import annotations

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.ops import incident_store
from triops.ops import resolve as resolve_incident
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui import incident_view, topology_svg
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/incidents", include_in_schema=False)

#: Annotations shown as links when their value is an http(s) URL.
LINK_ANNOTATIONS = ("runbook_url", "generatorURL", "dashboard_url")


def _back(incident_id: str) -> Response:
    return RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)


@router.get("/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
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
                  topology=topology, links=links, texts=texts,
                  relative=incident_view.relative, node_href=topology_svg.node_href)


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
