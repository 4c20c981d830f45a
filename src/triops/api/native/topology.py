"""The topology of a project: the whole graph, or the neighbourhood of one node."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput, NotFound
from triops.ops import incident_store as incidents
from triops.ops import topology
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["topology"])


class NodeOut(BaseModel):
    key: str = Field(..., description="the entity's signal subject, e.g. service:checkout")
    type: str
    layer: str = Field(..., description="observed (telemetry) or configured (registry...)")
    attributes: dict[str, object]
    first_ms: int | None
    last_ms: int | None
    open_incidents: int
    hops: int | None = Field(None, description="distance from the neighbourhood's centre")


class EdgeOut(BaseModel):
    src: str
    dst: str
    type: str
    layer: str


class GraphOut(BaseModel):
    nodes: list[NodeOut]
    edges: list[EdgeOut]


def _out(graph: topology.Graph, counts: dict[str, int],
         hops: dict[str, int] | None = None) -> GraphOut:
    return GraphOut(
        nodes=[NodeOut(key=n.key, type=n.type, layer=n.layer, attributes=n.attributes,
                       first_ms=n.first_ms, last_ms=n.last_ms,
                       open_incidents=counts.get(n.key, 0),
                       hops=None if hops is None else hops.get(n.key))
               for n in sorted(graph.nodes.values(), key=lambda n: n.key)],
        edges=[EdgeOut(src=e.src, dst=e.dst, type=e.type, layer=e.layer)
               for e in sorted(graph.edges.values(), key=lambda e: (e.src, e.dst, e.type))],
    )


@router.get("/topology", response_model=GraphOut)
def get_topology(
    request: Request,
    type: Annotated[list[str] | None, Query(description="keep only nodes of these types")] = None,
    caller: Caller = AsViewer,
) -> GraphOut:
    unknown = set(type or ()) - set(topology.NODE_TYPES)
    if unknown:
        raise InvalidInput(f"unknown node type(s) {', '.join(sorted(unknown))}; known: "
                           f"{', '.join(topology.NODE_TYPES)}")
    with runtime_of(request).db.read() as session:
        graph = topology.load_graph(session, caller.project)
        counts = incidents.active_counts(session, caller.project)
    if type:
        graph = graph.subgraph(k for k, n in graph.nodes.items() if n.type in type)
    return _out(graph, counts)


@router.get("/topology/{key:path}/neighbourhood", response_model=GraphOut)
def get_neighbourhood(
    key: str, request: Request, hops: int = Query(1, ge=1, le=5), caller: Caller = AsViewer,
) -> GraphOut:
    with runtime_of(request).db.read() as session:
        graph = topology.load_graph(session, caller.project)
        counts = incidents.active_counts(session, caller.project)
    if key not in graph.nodes:
        raise NotFound(f"no topology node {key!r} in project {caller.project!r}")
    near = graph.within(key, hops)
    return _out(graph.subgraph(near), counts, near)
