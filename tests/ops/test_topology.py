"""Topology and change events over the real app and store: what intake and writes
record, the graph and neighbourhood queries, and project isolation."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from triops.core.principals import Role
from triops.ops import topology
from triops.store.repos import keys

PB = {"Content-Type": "application/x-protobuf"}
MLFLOW = "/api/2.0/mlflow"
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export(client, resource: dict[str, str], *spans: Span, headers: dict | None = None):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv(k, v) for k, v in resource.items()])
    rs.scope_spans.add().spans.extend(spans)
    response = client.post("/v1/traces", content=req.SerializeToString(),
                           headers={**PB, **(headers or {})})
    assert response.status_code == 200, response.text
    return response


def span(span_id: str, kind: int, parent: str = "", **attrs: str) -> Span:
    s = Span(trace_id=TRACE, span_id=bytes.fromhex(span_id), name=f"op-{span_id}", kind=kind,
             start_time_unix_nano=1_700_000_000_000_000_000,
             end_time_unix_nano=1_700_000_000_100_000_000)
    if parent:
        s.parent_span_id = bytes.fromhex(parent)
    s.attributes.extend([kv(k, v) for k, v in attrs.items()])
    return s


def graph(client, **params) -> tuple[dict[str, dict], set[tuple[str, str, str]]]:
    body = client.get("/api/v1/topology", params=params)
    assert body.status_code == 200, body.text
    data = body.json()
    return ({n["key"]: n for n in data["nodes"]},
            {(e["src"], e["dst"], e["type"]) for e in data["edges"]})


def alert(**labels: str) -> dict:
    return {"version": "4", "status": "firing", "receiver": "ops", "alerts": [{
        "status": "firing", "labels": {"alertname": "HighLatency", **labels},
        "annotations": {"summary": "p99 too high"}, "startsAt": "2025-01-01T00:00:00Z"}]}


def project_key(runtime, project: str, role: Role = Role.editor) -> dict[str, str]:
    with runtime.db.write() as session:
        made = keys.create(session, project=project, role=role)
    return {"Authorization": f"Bearer {made.secret}"}


def test_server_span_under_a_client_span_of_another_service_is_a_call_in_either_order(client):
    # The callee exports first: its parent client span is not stored yet.
    export(client, {"service.name": "checkout"}, span("00000000000000b1", 2, "00000000000000a1"))
    nodes, edges = graph(client)
    assert ("service:frontend", "service:checkout", "calls") not in edges
    export(client, {"service.name": "frontend"}, span("00000000000000a1", 3))
    # A consumer span under a producer span, both in one request, with payments named by
    # peer.service on another client span.
    export(client, {"service.name": "frontend"}, span("00000000000000a2", 3, "",
                                                      **{"peer.service": "payments"}))
    nodes, edges = graph(client)
    assert ("service:frontend", "service:checkout", "calls") in edges
    assert ("service:frontend", "service:payments", "calls") in edges
    assert nodes["service:frontend"]["type"] == "service"


def test_resource_attributes_give_hosts_containers_and_pods_and_versions_change_once(client):
    resource = {"service.name": "cart", "service.version": "1.4.0", "host.name": "node-7",
                "container.id": "c0ffee", "k8s.pod.name": "cart-5d9f", "k8s.namespace.name": "shop"}
    for _ in range(2):
        export(client, resource, span("00000000000000c1", 2))
    nodes, edges = graph(client)
    assert nodes["host:node-7"]["type"] == "host"
    assert nodes["pod:cart-5d9f"]["attributes"] == {"namespace": "shop"}
    assert {("service:cart", "container:c0ffee", "runs_on"),
            ("container:c0ffee", "pod:cart-5d9f", "runs_on"),
            ("pod:cart-5d9f", "host:node-7", "runs_on")} <= edges
    export(client, {**resource, "service.version": "1.5.0"}, span("00000000000000c2", 2))
    found = client.get("/api/v1/changes", params={"entity": "service:cart"}).json()
    assert [(c["kind"], c["version"], c["source"]) for c in found] == [
        ("service.version", "1.5.0", "external"), ("service.version", "1.4.0", "external")]
    only_hosts, _ = graph(client, type="host")
    assert set(only_hosts) == {"host:node-7"}
    assert client.get("/api/v1/topology", params={"type": "planet"}).status_code == 400


def test_an_alertmanager_alert_places_its_incident_on_its_service_pod_and_host(client):
    r = client.post("/api/v1/alerts/alertmanager",
                    json=alert(service="checkout", pod="checkout-7c", instance="10.0.0.5:9100"))
    assert r.status_code == 200, r.text
    nodes, edges = graph(client)
    assert nodes["service:checkout"]["open_incidents"] == 1
    assert {("service:checkout", "pod:checkout-7c", "runs_on"),
            ("pod:checkout-7c", "host:10.0.0.5", "runs_on")} <= edges


def test_metric_series_attach_to_their_service(client):
    body = {"samples": [{"name": "checkout_latency_ms", "ts_ms": 1_700_000_000_000,
                         "value": 12.5, "labels": {"service": "checkout"}}]}
    from triops.ops.telemetry import MetricSample
    with client.app.state.runtime.db.write() as session:
        topology.observe_samples(session, "default", [MetricSample(**body["samples"][0])])
    _, edges = graph(client)
    assert ('series:checkout_latency_ms{service="checkout"}', "service:checkout",
            "measures") in edges


def test_neighbourhood_hops_and_topology_view(client, runtime):
    export(client, {"service.name": "a"}, span("00000000000000d1", 3))
    export(client, {"service.name": "b"}, span("00000000000000d2", 2, "00000000000000d1"),
           span("00000000000000d3", 3, "00000000000000d2"))
    export(client, {"service.name": "c"}, span("00000000000000d4", 2, "00000000000000d3"))
    one = client.get("/api/v1/topology/service:a/neighbourhood", params={"hops": 1}).json()
    assert {n["key"]: n["hops"] for n in one["nodes"]} == {"service:a": 0, "service:b": 1}
    two = client.get("/api/v1/topology/service:a/neighbourhood", params={"hops": 2}).json()
    assert {n["key"] for n in two["nodes"]} == {"service:a", "service:b", "service:c"}
    assert {(e["src"], e["dst"]) for e in two["edges"]} == {
        ("service:a", "service:b"), ("service:b", "service:c")}
    assert client.get("/api/v1/topology/service:nope/neighbourhood").status_code == 404
    with runtime.db.read() as session:
        view = topology.load_view(session, "default")
    assert view.distance("service:c", "service:a") == 2
    assert view.distance("service:c", "service:a", max_hops=1) is None
    assert view.path("service:a", "service:c") == ["service:a", "service:b", "service:c"]
    assert view.distance("service:a", "service:unknown") is None


def test_registry_and_prompt_writes_record_changes_and_lineage(client):
    assert client.post(f"{MLFLOW}/registered-models/create", json={"name": "churn"}).is_success
    made = client.post(f"{MLFLOW}/model-versions/create",
                       json={"name": "churn", "source": "file:///models/churn"})
    assert made.status_code == 200, made.text
    client.post(f"{MLFLOW}/model-versions/create",
                json={"name": "churn", "source": "file:///models/churn2"})
    for version in ("1", "2", "2"):  # setting the alias where it is changes nothing
        client.post(f"{MLFLOW}/registered-models/alias",
                    json={"name": "churn", "alias": "champion", "version": version})
    assert client.post("/api/v1/prompts/support/versions",
                       json={"messages": [{"role": "user", "content": "Hi {{ q }}"}],
                             "model": "gpt-4o"}).status_code == 201
    assert client.put("/api/v1/prompts/support/labels/production",
                      json={"version": 1}).status_code == 200

    found = client.get("/api/v1/changes").json()
    kinds = [(c["entity"], c["kind"], c["version"], c["source"]) for c in found]
    assert ("model:churn", "model.version.registered", "1", "triops") in kinds
    assert ("model:churn", "model.version.registered", "2", "triops") in kinds
    assert [k for k in kinds if k[1] == "model.alias.moved"] == [
        ("model:churn@champion", "model.alias.moved", "2", "triops"),
        ("model:churn@champion", "model.alias.moved", "1", "triops")]
    assert ("prompt:support@production", "prompt.label.set", "1", "triops") in kinds
    moved = next(c for c in found if c["entity"] == "model:churn@champion")
    assert moved["attributes"] == {"from": 1, "to": 2} and moved["actor"]

    nodes, edges = graph(client)
    assert nodes["model:churn/2"]["layer"] == "configured"
    assert {("model:churn@champion", "model:churn/2", "labels"),
            ("model:churn/1", "model:churn", "version_of"),
            ("prompt:support@production", "prompt:support", "version_of")} <= edges


def test_posted_changes_are_validated_filtered_and_kept_per_project(client, runtime):
    ok = client.post("/api/v1/changes", json={
        "service": "checkout", "version": "2.3.1", "commit": "9f3c2a1", "who": "ci",
        "when": "2025-03-01T10:00:00Z", "description": "deploy 2.3.1"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["entity"] == "service:checkout" and ok.json()["source"] == "external"
    assert ok.json()["time_ms"] == 1_740_823_200_000
    for bad in ({"service": "x", "when": "yesterday-ish"}, {"service": "x", "when": 5},
                {"service": ""}, {"service": "x", "description": "d" * 5000},
                {"service": "x", "attributes": {str(i): "v" for i in range(40)}}):
        response = client.post("/api/v1/changes", json=bad)
        assert 400 <= response.status_code < 500, (bad, response.status_code)
    assert client.get("/api/v1/changes", params={"since": "not-a-time"}).status_code == 400

    found = client.get("/api/v1/changes", params={
        "entity": "service:checkout", "since": "2025-03-01T09:00:00Z",
        "until": "1740826800000"}).json()
    assert [c["version"] for c in found] == ["2.3.1"]
    assert client.get("/api/v1/changes", params={
        "entity": "service:checkout", "since": "2025-03-02T00:00:00Z"}).json() == []

    export(client, {"service.name": "secret-svc", "host.name": "h1"}, span("00000000000000e1", 2))
    other = project_key(runtime, "other")
    with runtime.db.write() as session:
        from triops.store.repos import projects
        projects.ensure(session, "other")
    assert client.get("/api/v1/changes", headers=other).json() == []
    nodes = client.get("/api/v1/topology", headers=other).json()["nodes"]
    assert nodes == []
    assert client.get("/api/v1/topology/service:secret-svc/neighbourhood",
                      headers=other).status_code == 404
    viewer = project_key(runtime, "default", Role.viewer)
    assert client.post("/api/v1/changes", json={"service": "x"}, headers=viewer).status_code == 403
    assert client.get("/api/v1/changes", headers=viewer).status_code == 200


def test_nodes_and_edges_are_touched_once_per_interval_and_changed_attributes_kept(db):
    from triops.store.repos import topology as repo

    nodes = [repo.NodeRow("series:a", "series"), repo.NodeRow("series:b", "series"),
             repo.NodeRow("service:s", "service", {"service.version": "1"})]
    edges = [repo.EdgeRow("series:a", "service:s", "measures"),
             repo.EdgeRow("series:b", "service:s", "measures")]
    t0 = 1_700_000_000_000
    with db.write() as session:
        assert repo.upsert(session, "default", nodes, edges, t0).written == 5
    with db.write() as session:  # within the interval: nothing written
        assert repo.upsert(session, "default", nodes, edges, t0 + 1_000).written == 0
    later = t0 + repo.TOUCH_MS
    newer = [*nodes[:2], repo.NodeRow("service:s", "service", {"service.version": "2"})]
    with db.write() as session:
        done = repo.upsert(session, "default", newer, edges, later)
    assert done.written == 5
    assert done.changed == {"service:s": ({"service.version": "1"}, {"service.version": "2"})}
    with db.read() as session:
        assert {n.key: (n.last_ms, n.first_ms, n.attributes) for n in repo.nodes(session, "default")} == {
            "series:a": (later, t0, {}), "series:b": (later, t0, {}),
            "service:s": (later, t0, {"service.version": "2"})}
        assert {(e.src, e.last_ms) for e in repo.edges(session, "default")} == {
            ("series:a", later), ("series:b", later)}


def test_rows_found_in_a_rolled_back_transaction_are_looked_up_again(db):
    from triops.store.repos import topology as repo

    t0 = 1_700_000_000_000
    old = [repo.NodeRow("service:s", "service", {"service.version": "1"})]
    new = [repo.NodeRow("service:s", "service", {"service.version": "2"})]
    with db.write() as session:
        repo.upsert(session, "default", old, [], t0)
    with db.write() as session:  # found in the store, not written: known from now on
        assert repo.upsert(session, "default", old, [], t0 + 1).written == 0
    with pytest.raises(RuntimeError), db.write() as session:
        repo.upsert(session, "default", new, [], t0 + 2)
        raise RuntimeError("the request fails after the upsert")
    with db.write() as session:  # the change was undone: it is made again
        done = repo.upsert(session, "default", new, [], t0 + 3)
    assert done.changed == {"service:s": ({"service.version": "1"}, {"service.version": "2"})}
    with db.write() as session:
        assert repo.upsert(session, "default", new, [], t0 + 4).written == 0
