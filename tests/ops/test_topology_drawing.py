"""The topology drawing's layout and the incident timeline's relative times."""

from __future__ import annotations

from tests.ui.test_charts import option_of

from triops.ops.topology import Edge, Graph, Node
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
    [series] = option_of(draw(graph, highlight="service:a",
                              open_incidents={"service:a": 3}))["series"]
    assert series["type"] == "graph" and series["triopsLayout"] == "dagre"
    nodes = {n["name"]: n for n in series["data"]}
    assert nodes['series:x{q="1/2"}']["href"] == "/ui/topology/series%3Ax%7Bq%3D%221%2F2%22%7D"
    subject = nodes["service:a"]
    assert subject["itemStyle"]["borderColor"] == "#b42318"  # the highlighted subject
    assert subject["open"] == 3 and subject["label"]["formatter"] == "service:a · 3 open"
    assert nodes['series:x{q="1/2"}']["itemStyle"]["borderColor"] != "#b42318"
    assert series["links"] == [{"source": 'series:x{q="1/2"}', "target": "service:a",
                                "tip": 'series:x{q="1/2"} measures service:a'}]
    assert node_href("service:a") == "/ui/topology/service%3Aa"
    assert "no nodes" in str(draw(Graph()))
    dangling = Graph([Node("service:a", "service")], [Edge("service:a", "service:gone", "calls")])
    [series] = option_of(draw(dangling))["series"]
    assert len(series["data"]) == 1 and series["links"] == []
