"""The configured part of the graph, read from the tables that define it.

Lineage (dataset → run → model version → alias → endpoint), prompts and their labels,
gateway routes and upstreams, and monitors are read when the graph is loaded rather
than copied into the topology tables, so they are never out of date with what the
registry, the prompt store or the gateway hold.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from triops.ml import lineage
from triops.ops.topology import _keys as k
from triops.ops.topology._graph import Edge, Graph, Node
from triops.store.repos import deployments, llm_gateway, monitoring, prompts, registry

CONFIGURED = "configured"


def _node(graph: Graph, key: str, node_type: str, **attributes: object) -> str:
    graph.add_node(Node(key, node_type, {a: v for a, v in attributes.items()
                                         if v not in (None, "")}, layer=CONFIGURED))
    return key


def _edge(graph: Graph, src: str, dst: str, edge_type: str) -> None:
    graph.add_edge(Edge(src, dst, edge_type, layer=CONFIGURED))


def add_configured(session: Session, project: str, graph: Graph) -> None:
    _add_lineage(session, project, graph)
    _add_gateway(session, graph)
    _add_prompts(session, project, graph)
    for monitor in monitoring.list_monitors(session, project):
        watcher = _node(graph, k.key(k.MONITOR, monitor.name), k.MONITOR)
        _edge(graph, watcher, _node(graph, k.key(k.ENDPOINT, monitor.endpoint), k.ENDPOINT),
              k.WATCHES)


def _add_lineage(session: Session, project: str, graph: Graph) -> None:
    versions, _ = registry.search_versions(session, project)
    models = {model.id: model for model, _ in versions}
    aliases = registry.aliases_of(session, list(models))
    for model, row in versions:
        model_key = _node(graph, k.key(k.MODEL, model.name), k.MODEL)
        version_key = _node(graph, k.model_version(model.name, row.version), k.MODEL_VERSION,
                            status=row.status, created_ms=row.creation_timestamp)
        _edge(graph, version_key, model_key, k.VERSION_OF)
        if row.run_id:
            run, datasets = lineage.run_side(session, project, row.run_id)
            if run is not None:
                run_key = _node(graph, k.key(k.RUN, run.run_id), k.RUN, name=run.run_name,
                                experiment=run.experiment_name)
                _edge(graph, run_key, version_key, k.PRODUCED)
                for data in datasets:
                    data_key = _node(graph, k.key(k.DATASET, f"{data.name}@{data.digest}"),
                                     k.DATASET, name=data.name, version=data.version)
                    _edge(graph, run_key, data_key, k.TRAINED_ON)
        for use in lineage.deployments_of(session, project, model.name, row.version):
            endpoint = _node(graph, k.key(k.ENDPOINT, use["endpoint"]), k.ENDPOINT)
            _edge(graph, endpoint, version_key, k.SERVES)
    for model_id, pairs in aliases.items():
        name = models[model_id].name
        for alias_name, version in pairs:
            alias_key = _node(graph, k.alias(name, alias_name), k.MODEL_ALIAS)
            _edge(graph, alias_key, k.model_version(name, version), k.LABELS)
    for endpoint in deployments.list_all(session, project):
        endpoint_key = _node(graph, k.key(k.ENDPOINT, endpoint.name), k.ENDPOINT,
                             model=endpoint.model_name, ref=endpoint.model_ref)
        if endpoint.model_ref.startswith("@"):  # it follows the alias as it moves
            alias_key = k.alias(endpoint.model_name, endpoint.model_ref[1:])
            if alias_key in graph.nodes:
                _edge(graph, endpoint_key, alias_key, k.SERVES)


def _add_prompts(session: Session, project: str, graph: Graph) -> None:
    for prompt in prompts.list_prompts(session, project):
        prompt_key = _node(graph, k.key(k.PROMPT, prompt.name), k.PROMPT)
        labels = prompts.labels_of(session, project, prompt.name)
        if not labels:
            continue
        models = {v.version: v.model for v in prompts.list_versions(session, project,
                                                                    prompt.name)}
        for label in labels:
            label_key = _node(graph, k.prompt_label(prompt.name, label.label), k.PROMPT_LABEL,
                              version=label.version)
            _edge(graph, label_key, prompt_key, k.VERSION_OF)
            route_key = k.key(k.ROUTE, models.get(label.version) or "")
            if route_key in graph.nodes:  # a model that is no gateway route links nowhere
                _edge(graph, label_key, route_key, k.USES)


def _add_gateway(session: Session, graph: Graph) -> None:
    routes = {r.alias: r for r in llm_gateway.list_routes(session)}
    for upstream in llm_gateway.list_upstreams(session):
        _node(graph, k.key(k.UPSTREAM, upstream.name), k.UPSTREAM, provider=upstream.provider)
    for alias, route in routes.items():
        route_key = _node(graph, k.key(k.ROUTE, alias), k.ROUTE)
        for target in (route.spec or {}).get("deployments", []):
            upstream_key = _node(graph, k.key(k.UPSTREAM, target["upstream"]), k.UPSTREAM)
            _edge(graph, route_key, upstream_key, k.ROUTES_TO)
