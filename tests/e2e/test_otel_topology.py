"""Two services traced with the stock OpenTelemetry SDK, each exporting its own spans
over OTLP/HTTP, appear as a call between them in the topology of a running server."""

from __future__ import annotations

import pytest
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.e2e


def _provider(server, **resource: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces",
        headers={"Authorization": f"Bearer {server.admin_key}"})))
    return provider


def test_client_and_server_spans_of_two_services_make_a_calls_edge(server):
    web = _provider(server, **{"service.name": "web", "host.name": "web-host-1"})
    api = _provider(server, **{"service.name": "orders", "service.version": "3.1.0",
                               "host.name": "api-host-2"})
    carrier: dict[str, str] = {}
    with web.get_tracer("web").start_as_current_span("GET /orders", kind=SpanKind.CLIENT):
        propagate.inject(carrier)  # what an instrumented HTTP client sends along
    context = propagate.extract(carrier)
    with api.get_tracer("orders").start_as_current_span("GET /orders", context=context,
                                                       kind=SpanKind.SERVER):
        pass
    web.shutdown()
    api.shutdown()

    http = server.http()
    graph = http.get("/api/v1/topology").json()
    nodes = {n["key"]: n for n in graph["nodes"]}
    edges = {(e["src"], e["dst"], e["type"]) for e in graph["edges"]}
    assert ("service:web", "service:orders", "calls") in edges
    assert ("service:orders", "host:api-host-2", "runs_on") in edges
    assert nodes["host:web-host-1"]["type"] == "host"
    assert nodes["service:orders"]["attributes"]["version"] == "3.1.0"
    near = http.get("/api/v1/topology/service:web/neighbourhood", params={"hops": 2}).json()
    assert {"service:orders", "host:api-host-2"} <= {n["key"] for n in near["nodes"]}
    changes = http.get("/api/v1/changes", params={"entity": "service:orders"}).json()
    assert [(c["kind"], c["version"]) for c in changes] == [("service.version", "3.1.0")]


def test_cli_adds_and_lists_deploy_markers(server):
    from typer.testing import CliRunner

    from triops.cli import main

    env = {"TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key, "COLUMNS": "240"}
    runner = CliRunner()
    added = runner.invoke(main.app, ["changes", "add", "billing", "--version", "7.0.2",
                                     "--commit", "abc123", "--who", "ci",
                                     "--when", "2025-04-01T08:00:00Z"], env=env)
    assert added.exit_code == 0, added.output
    assert "service:billing" in added.stdout and "2025-04-01 08:00:00" in added.stdout
    listed = runner.invoke(main.app, ["changes", "list", "--entity", "service:billing"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "7.0.2" in listed.stdout and "external" in listed.stdout
