"""The topology drawn as server-side SVG: layers left to right along the edges.

Each node's layer is the length of the longest directed path reaching it (edges that
close a cycle are left out of the layering, not of the drawing), so callers sit left of
the services they call and a series left of the service it measures. Within a layer,
nodes are ordered by the mean row of their neighbours in the previous layer, which keeps
most edges short. Every node links to its own neighbourhood page.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from markupsafe import Markup, escape

from triops.ops.topology import Graph

_COL_W, _NODE_W, _NODE_H, _ROW_H, _PAD = 230, 180, 30, 44, 16

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
    """The graph as one SVG: typed, linked node boxes, arrows along the edges, the
    ``highlight`` node outlined, and a red count of each node's open incidents."""
    open_incidents = open_incidents or {}
    if not graph.nodes:
        return Markup(
            f'<svg class="topology" role="img" aria-label="{escape(title)}" width="480" '
            'height="60" viewBox="0 0 480 60"><text x="16" y="34" fill="#667085">'
            'no nodes</text></svg>')
    columns = layers(graph)
    place: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(columns):
        for r, key in enumerate(column):
            place[key] = (_PAD + c * _COL_W, _PAD + r * _ROW_H)
    width = _PAD * 2 + (len(columns) - 1) * _COL_W + _NODE_W
    height = _PAD * 2 + (max(len(c) for c in columns) - 1) * _ROW_H + _NODE_H
    parts = [(
        f'<svg class="topology" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#98a2b3"/></marker></defs>'
    )]
    for src, dst, kind in sorted(graph.edges):
        if src not in place or dst not in place:  # an edge to a node the graph lacks
            continue
        (x1, y1), (x2, y2) = place[src], place[dst]
        if x2 > x1:
            ax, bx = x1 + _NODE_W, x2
        else:  # same column or backwards: leave and enter on the right-hand side
            ax, bx = x1 + _NODE_W, x2 + _NODE_W
        ay, by = y1 + _NODE_H / 2, y2 + _NODE_H / 2
        bend = max(abs(bx - ax) / 2, 40.0)
        c2 = bx - bend if x2 > x1 else bx + bend
        parts.append(
            f'<path class="edge" d="M{ax:.0f},{ay:.0f} C{ax + bend:.0f},{ay:.0f} '
            f'{c2:.0f},{by:.0f} {bx:.0f},{by:.0f}" fill="none" stroke="#98a2b3" '
            f'stroke-width="1.2" marker-end="url(#arrow)"><title>{escape(src)} {escape(kind)} '
            f'{escape(dst)}</title></path>')
    for key, (x, y) in place.items():
        node = graph.nodes[key]
        count = open_incidents.get(key, 0)
        label = key if len(key) <= 26 else key[:25] + "…"
        stroke = ('stroke="#b42318" stroke-width="2.5"' if key == highlight
                  else 'stroke="#98a2b3" stroke-width="1"')
        badge = (f'<circle cx="{x + _NODE_W - 2}" cy="{y + 2}" r="9" fill="#b42318"/>'
                 f'<text class="open" x="{x + _NODE_W - 2}" y="{y + 6}" text-anchor="middle" '
                 f'font-size="11" font-weight="700" fill="#fff">{count}</text>') if count else ""
        tip = f"{key} ({node.type})" + (f" · {count} open incident(s)" if count else "")
        parts.append(
            f'<a class="node" href="{escape(node_href(key))}" data-key="{escape(key)}">'
            f'<title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="6" '
            f'fill="{TYPE_COLOURS.get(node.type, "#f2f4f7")}" {stroke}/>'
            f'<text x="{x + 8}" y="{y + 19}" font-size="11.5" fill="#1d2330">'
            f'{escape(label)}</text>{badge}</a>')
    parts.append("</svg>")
    return Markup("".join(parts))
