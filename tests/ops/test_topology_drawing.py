"""The topology drawing's layout and the incident timeline's relative times."""

from __future__ import annotations

from triops.ops.topology import Edge, Graph, Node
from triops.ui.incident_view import relative
from triops.ui.topology_svg import draw, layers, node_href


def _graph(nodes: list[tuple[str, str]], edges: list[tuple[str, str, str]]) -> Graph:
    return Graph((Node(k, t) for k, t in nodes), (Edge(s, d, t) for s, d, t in edges))


def test_layers_follow_the_edges_and_survive_a_cycle():
    graph = _graph(
        [("series:lat", "series"), ("service:web", "service"), ("service:api", "service"),
         ("service:db", "service"), ("host:h1", "host")],
        [("series:lat", "service:api", "measures"), ("service:web", "service:api", "calls"),
         ("service:api", "service:db", "calls"), ("service:db", "service:api", "calls"),
         ("service:api", "host:h1", "runs_on")])
    columns = layers(graph)
    column_of = {k: i for i, c in enumerate(columns) for k in c}
    assert column_of["service:web"] < column_of["service:api"] < column_of["host:h1"]
    assert column_of["series:lat"] < column_of["service:api"]
    assert sorted(k for c in columns for k in c) == sorted(graph.nodes)


def test_drawing_links_every_node_marks_the_subject_and_counts_open_incidents():
    graph = _graph([("service:a", "service"), ('series:x{q="1/2"}', "series")],
                   [('series:x{q="1/2"}', "service:a", "measures")])
    svg = str(draw(graph, highlight="service:a", open_incidents={"service:a": 3}))
    assert svg.count('<a class="node"') == 2
    assert 'href="/ui/topology/series%3Ax%7Bq%3D%221%2F2%22%7D"' in svg
    assert 'stroke="#b42318" stroke-width="2.5"' in svg  # the highlighted subject
    assert '>3</text>' in svg
    assert node_href("service:a") == "/ui/topology/service%3Aa"
    assert "no nodes" in str(draw(Graph()))
    dangling = Graph([Node("service:a", "service")], [Edge("service:a", "service:gone", "calls")])
    assert str(draw(dangling)).count('<a class="node"') == 1


def test_relative_times():
    assert relative(61_000, 0) == "+1m 1s"
    assert relative(0, 3_600_000) == "−1h"
    assert relative(500, 0) == relative(-500, 0) == "±0s"
