"""Serving endpoint pages: the project's endpoints, and one endpoint's deployment, its
recent traffic and what each served version relies on (from logged attributions)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.errors import NotFound
from triops.ml import deployment_store as deployments
from triops.ml import predictions_window, traffic
from triops.ml.serving.explanations import logged_importance
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import Runtime, runtime_of
from triops.store.schema_deployments import ServingEndpoint
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/ml", include_in_schema=False)

#: How many of the newest logged predictions the traffic counts and attributions cover.
RECENT = 1000


@dataclass
class Served:
    """One role of an endpoint's traffic policy and the version it names right now."""

    role: str
    ref: str
    share: str
    version: int | None


def _roles(runtime: Runtime, project: str, row: ServingEndpoint) -> tuple[str, list[Served]]:
    spec = deployments.spec_of(row)
    policy = traffic.parse_policy(spec.policy)
    primary = f"{100 - policy.canary_percent:g}%" if policy.canary_ref else "100%"
    roles = [("primary", spec.model_ref, primary)]
    if policy.canary_ref is not None:
        roles.append(("canary", policy.canary_ref, f"{policy.canary_percent:g}%"))
    if policy.shadow_ref is not None:
        roles.append(("shadow", policy.shadow_ref, "mirrors every request"))
    served = []
    for role, ref, share in roles:
        try:
            version = runtime.serving.resolve_now(project, spec.model_name, ref)
        except NotFound:
            # An alias deleted after deploying: the page still shows the endpoint.
            version = None
        served.append(Served(role, ref, share, version))
    return spec.model_name, served


@router.get("/endpoints", response_class=HTMLResponse)
def endpoints_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        rows = deployments.list_all(session, caller.project)
    listed = [(row, _roles(runtime, caller.project, row)[1]) for row in rows]
    return render(request, "ml_endpoints.html", endpoints=listed)


@router.get("/endpoints/{name}", response_class=HTMLResponse)
def endpoint_page(request: Request, name: str, caller: Caller = AsViewer) -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        row = deployments.get(session, caller.project, name)
        recent = predictions_window(session, caller.project, name, limit=RECENT)
    model, served = _roles(runtime, caller.project, row)
    counts: dict[tuple[int, str], list[int]] = {}
    for p in recent:
        hit = counts.setdefault((p.version, p.served_by), [0, 0])
        hit[0] += 1
        hit[1] += len(p.outputs)
        if p.shadow is not None:
            shadow = counts.setdefault((p.shadow.version, "shadow"), [0, 0])
            shadow[0] += 1
            shadow[1] += len(p.outputs)
    versions = list(dict.fromkeys(s.version for s in served if s.version is not None))
    reliance = [(v, logged_importance(runtime.db, caller.project, name, v, limit=RECENT))
                for v in versions]
    # A shadow's outputs are logged, its attributions never: say so rather than "none yet".
    shadow_only = {v for v in versions if all(s.role == "shadow" for s in served
                                                if s.version == v)}
    return render(request, "ml_endpoint.html", endpoint=row, model=model, served=served,
                  counts=sorted(counts.items()), recent=len(recent), window=RECENT,
                  reliance=reliance, shadow_only=shadow_only)
