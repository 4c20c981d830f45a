"""The graph in memory: nodes, edges, neighbourhoods and undirected distances."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Node:
    key: str
    type: str
    attributes: dict[str, Any] = field(default_factory=dict)
    #: ``observed`` (telemetry) or ``configured`` (registry, prompts, gateway).
    layer: str = "observed"
    first_ms: int | None = None
    last_ms: int | None = None


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    type: str
    layer: str = "observed"


class Graph:
    def __init__(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self._adjacent: dict[str, set[str]] = {}
        for node in nodes:
            self.add_node(node)
        for edge in edges:
            self.add_edge(edge)

    def add_node(self, node: Node) -> None:
        """The first sighting of a key decides its type and layer; attributes merge."""
        known = self.nodes.get(node.key)
        if known is None:
            self.nodes[node.key] = node
            self._adjacent.setdefault(node.key, set())
        elif node.attributes:
            self.nodes[node.key] = replace(known, attributes={**node.attributes,
                                                              **known.attributes})

    def add_edge(self, edge: Edge) -> None:
        if edge.src == edge.dst:
            return
        self.edges.setdefault((edge.src, edge.dst, edge.type), edge)
        self._adjacent.setdefault(edge.src, set()).add(edge.dst)
        self._adjacent.setdefault(edge.dst, set()).add(edge.src)

    def neighbours(self, key: str) -> set[str]:
        return self._adjacent.get(key, set())

    def path(self, a: str, b: str, max_hops: int) -> list[str] | None:
        """A shortest undirected path from ``a`` to ``b`` of at most ``max_hops`` edges."""
        if a not in self._adjacent or b not in self._adjacent:
            return None
        if a == b:
            return [a]
        parent: dict[str, str | None] = {a: None}
        frontier: deque[tuple[str, int]] = deque([(a, 0)])
        while frontier:
            here, hops = frontier.popleft()
            if hops == max_hops:
                continue
            for there in sorted(self._adjacent[here]):
                if there in parent:
                    continue
                parent[there] = here
                if there == b:
                    out = [b]
                    while (step := parent[out[-1]]) is not None:
                        out.append(step)
                    return out[::-1]
                frontier.append((there, hops + 1))
        return None

    def within(self, key: str, hops: int) -> dict[str, int]:
        """Every node at most ``hops`` undirected edges from ``key``, with its distance."""
        if key not in self._adjacent:
            return {}
        seen = {key: 0}
        frontier = deque([key])
        while frontier:
            here = frontier.popleft()
            if seen[here] == hops:
                continue
            for there in self._adjacent[here]:
                if there not in seen:
                    seen[there] = seen[here] + 1
                    frontier.append(there)
        return seen

    def subgraph(self, keys: Iterable[str]) -> Graph:
        wanted = set(keys)
        return Graph(
            (n for k, n in self.nodes.items() if k in wanted),
            (e for e in self.edges.values() if e.src in wanted and e.dst in wanted),
        )


class TopologyView:
    """Read-only distances over one project's graph, for the correlation engine.

    >>> g = Graph([Node("service:a", "service"), Node("service:b", "service")],
    ...           [Edge("service:a", "service:b", "calls")])
    >>> view = TopologyView(g)
    >>> view.distance("service:b", "service:a"), view.path("service:a", "service:b")
    (1, ['service:a', 'service:b'])
    >>> view.distance("service:a", "service:zzz") is None
    True
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def distance(self, a: str, b: str, max_hops: int = 2) -> int | None:
        found = self.graph.path(a, b, max_hops)
        return None if found is None else len(found) - 1

    def path(self, a: str, b: str, max_hops: int = 2) -> list[str] | None:
        return self.graph.path(a, b, max_hops)
