"""The topology drawn as a layered graph: callers left of the services they call.

``draw`` writes an ECharts graph option; the browser lays it out with the vendored dagre
(``static/triops-charts.js``) and every node links to its own neighbourhood page.
``layers`` is the same layering done on the server — each node's layer is the length of
the longest directed path reaching it (edges that close a cycle are left out), and
within a layer nodes are ordered by the mean row of their neighbours — used to size the
drawing before the browser has laid it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from markupsafe import Markup, escape

from triops.ops.topology import Graph
from triops.ui.charts import render

_NODE_W, _NODE_H, _ROW_H, _PAD = 180, 30, 44, 16

#: Fill per node type; types not listed are grey.
TYPE_COLOURS = {
    "service": "#d1e9ff", "host": "#eaecf0", "container": "#f2f4f7", "pod": "#f2f4f7",
    "series": "#e6f4f1", "dataset": "#fef0c7", "run": "#fdead7", "model": "#ebe9fe",
    "model_version": "#ebe9fe", "model_alias": "#ebe9fe", "endpoint": "#d1fadf",
    "prompt": "#fce7f6", "prompt_label": "#fce7f6", "route": "#e0eaff",
    "upstream": "#e0eaff", "monitor": "#fef3f2",
}


def node_href(key: str) -> str:
    return "/ui/topology/" + quote(key, safe="")


def layers(graph: Graph) -> list[list[str]]:
    """Nodes grouped into columns by longest incoming path, each column ordered."""
    outgoing: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for src, dst, _ in sorted(graph.edges):
        if src in outgoing and dst in outgoing:
            outgoing[src].append(dst)
    order = _acyclic_order(outgoing)
    position = {k: i for i, k in enumerate(order)}
    depth = dict.fromkeys(order, 0)
    for key in order:
        for nxt in outgoing[key]:
            if position[nxt] > position[key]:
                depth[nxt] = max(depth[nxt], depth[key] + 1)
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for key in sorted(depth):
        columns[depth[key]].append(key)
    neighbours = {k: graph.neighbours(k) for k in graph.nodes}
    row: dict[str, float] = {}
    for column in columns:
        def barycentre(key: str) -> tuple[float, str]:
            placed = [row[n] for n in neighbours[key] if n in row]
            return (sum(placed) / len(placed) if placed else float("inf"), key)
        column.sort(key=barycentre)
        row.update({k: float(i) for i, k in enumerate(column)})
    return columns


def _acyclic_order(outgoing: Mapping[str, list[str]]) -> list[str]:
    """A depth-first finishing order, reversed: a topological order once the edges that
    point backwards in it (those closing a cycle) are ignored."""
    seen: set[str] = set()
    finished: list[str] = []
    for root in sorted(outgoing):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(outgoing[root]))]
        while stack:
            key, children = stack[-1]
            child = next(children, None)
            if child is None:
                finished.append(key)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(outgoing[child])))
    return finished[::-1]


def draw(graph: Graph, *, highlight: str = "", open_incidents: Mapping[str, int] | None = None,
         title: str = "topology") -> Markup:
    """The graph as an explorable drawing: typed node boxes linking to their pages,
    arrows along the edges, the ``highlight`` node outlined in red, and a red count of
    each node's open incidents. The browser places the nodes with the vendored dagre
    (layered, left to right) and draws them with ECharts: drag to pan, scroll to zoom,
    hover for a node's type and incidents or an edge's kind."""
    open_incidents = open_incidents or {}
    if not graph.nodes:
        return Markup(f'<p class="chart-empty empty" aria-label="{escape(title)}">no nodes</p>')
    nodes = []
    for key in sorted(graph.nodes):
        node = graph.nodes[key]
        count = open_incidents.get(key, 0)
        label = key if len(key) <= 26 else key[:25] + "…"
        tip = f"{key} ({node.type})" + (f" · {count} open incident(s)" if count else "")
        nodes.append({
            "name": key, "type": node.type, "href": node_href(key), "open": count, "tip": tip,
            "label": ({"formatter": f"{label} · {count} open", "color": "#b42318",
                       "fontWeight": 700} if count else {"formatter": label}),
            "itemStyle": {"color": TYPE_COLOURS.get(node.type, "#f2f4f7"),
                          **({"borderColor": "#b42318", "borderWidth": 2.5} if key == highlight
                             else {"borderColor": "#98a2b3", "borderWidth": 1})},
        })
    links = [{"source": src, "target": dst, "tip": f"{src} {kind} {dst}"}
             for src, dst, kind in sorted(graph.edges)
             if src in graph.nodes and dst in graph.nodes]  # not to a node the graph lacks
    option = {
        "aria": {"enabled": True, "label": {"description": title}},
        "animation": False,
        "tooltip": {"trigger": "item", "confine": True},
        "series": [{
            "type": "graph", "name": title, "layout": "none", "triopsLayout": "dagre",
            "roam": True, "symbol": "rect", "symbolSize": [_NODE_W, _NODE_H],
            "nodeScaleRatio": 1, "edgeSymbol": ["none", "arrow"], "edgeSymbolSize": 7,
            "label": {"show": True, "position": "inside", "fontSize": 11.5, "color": "#1d2330",
                      "width": _NODE_W - 12, "overflow": "truncate"},
            "lineStyle": {"color": "#98a2b3", "width": 1.2, "curveness": 0.08},
            "emphasis": {"focus": "adjacency", "itemStyle": {"borderColor": "#0f6b5c"}},
            "data": nodes, "links": links,
        }],
    }
    columns = layers(graph)
    # The browser sizes the drawing to the laid-out graph; this is its first guess.
    height = min(max(len(c) for c in columns) * _ROW_H + 2 * _PAD, 640)
    return render(option, height=height, title=title)
