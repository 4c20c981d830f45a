"""Topology pages: the whole graph (optionally of some node types) and one node's
neighbourhood with its open incidents and recent changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.errors import NotFound
from triops.ops import changes as ops_changes
from triops.ops import incident_store
from triops.ops.topology import NODE_TYPES, load_graph
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render
from triops.ui.topology_svg import draw, node_href

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/topology", include_in_schema=False)

#: Nodes drawn at most on the whole-graph page; the type filter narrows larger graphs.
MAX_DRAWN = 400
RECENT_CHANGES = 50


@router.get("", response_class=HTMLResponse)
def topology_page(request: Request,
                  types: Annotated[list[str] | None, Query(alias="type")] = None,
                  caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        graph = load_graph(session, caller.project)
        counts = incident_store.active_counts(session, caller.project)
    present = sorted({n.type for n in graph.nodes.values()}, key=NODE_TYPES.index)
    chosen = [t for t in types or () if t in present]
    keys = sorted(k for k, n in graph.nodes.items() if not chosen or n.type in chosen)
    shown = graph.subgraph(keys[:MAX_DRAWN])
    return render(request, "topology.html", svg=draw(shown, open_incidents=counts),
                  types=present, chosen=chosen, total=len(keys), drawn=len(shown.nodes),
                  edges=len(shown.edges), open_nodes=sorted(k for k in counts if k in graph.nodes),
                  counts=counts, node_href=node_href)


@router.get("/{key:path}", response_class=HTMLResponse)
def node_page(key: str, request: Request, hops: int = Query(1, ge=1, le=3),
              caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        graph = load_graph(session, caller.project)
        if key not in graph.nodes:
            raise NotFound(f"topology node {key!r} does not exist")
        near = graph.within(key, hops)
        counts = incident_store.active_counts(session, caller.project)
        incidents = [i for status in ("open", "acknowledged")
                     for i in incident_store.list_incidents(session, caller.project, status, 200)
                     if i.subject == key]
        recent = ops_changes.search(session, caller.project, entities=[key],
                                    limit=RECENT_CHANGES)
    node = graph.nodes[key]
    neighbours = sorted((near[k], k, graph.nodes[k].type) for k in near if k != key)
    return render(request, "topology_node.html", node=node, hops=hops, incidents=incidents,
                  changes=recent, neighbours=neighbours, node_href=node_href,
                  svg=draw(graph.subgraph(near), highlight=key, open_incidents=counts,
                           title=f"neighbourhood of {key}"))
