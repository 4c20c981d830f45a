"""The incident page and the topology pages in headless Chromium.

A running server gets traces (web calls checkout), a checkout latency series, a deploy
marker, a runbook that needs approval and a webhook route; one signal on checkout then
opens an incident whose page shows every section, an editor approves the run there, and
a viewer sees no button and is refused if it posts anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.e2e.browser import browser_page, charts, click_node, graph_nodes, login, shot
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SERIES = 'checkout_latency_ms{service_name="checkout"}'
BOOK = """
description: page the checkout on-call
trigger: {kind: latency, entity: "service:checkout"}
approval: required
steps: [{action: notify, params: {channel: oncall, message: checkout is slow}}]
"""


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()


def _trace_web_calling_checkout(server) -> None:
    providers = []
    for name, host in (("web", "web-1"), ("checkout", "checkout-1")):
        provider = TracerProvider(resource=Resource.create(
            {"service.name": name, "host.name": host}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
            endpoint=f"{server.url}/v1/traces",
            headers={"Authorization": f"Bearer {server.admin_key}"})))
        providers.append(provider)
    web, checkout = providers
    carrier: dict[str, str] = {}
    with web.get_tracer("web").start_as_current_span("POST /buy", kind=SpanKind.CLIENT):
        propagate.inject(carrier)
    with checkout.get_tracer("checkout").start_as_current_span(
            "POST /buy", context=propagate.extract(carrier), kind=SpanKind.SERVER):
        pass
    for provider in providers:
        provider.shutdown()


def _key(http: httpx.Client, role: str) -> str:
    made = http.post("/api/v1/keys", json={"role": role, "project": "default", "name": role})
    assert made.status_code == 201, made.text
    return made.json()["secret"]


def _build_incident(server, webhook: str) -> tuple[str, str]:
    """The incident's id and its pending runbook run's id."""
    _trace_web_calling_checkout(server)
    now = int(time.time() * 1000)
    http = server.http()
    points = [{"timeUnixNano": str((now - (60 - i) * 60_000) * 1_000_000),
               "asDouble": 120.0 + i % 5 + (300 if i > 50 else 0)} for i in range(60)]
    metrics = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "checkout"}}]},
        "scopeMetrics": [{"metrics": [{"name": "checkout_latency_ms",
                                       "gauge": {"dataPoints": points}}]}]}]}
    sent_metrics = http.post("/v1/metrics", json=metrics)
    assert sent_metrics.status_code == 200, sent_metrics.text
    deploy = http.post("/api/v1/changes", json={
        "service": "checkout", "version": "2.4.0", "commit": "9f1c2ab", "who": "ci",
        "when": now - 12 * 60_000, "description": "checkout 2.4.0 rolled out"})
    assert deploy.status_code == 201, deploy.text
    assert http.put("/api/v1/notifications/channels/oncall", json={
        "kind": "webhook", "config": {"url": webhook}}).status_code == 200
    assert http.put("/api/v1/notifications/routes/everything", json={
        "channel": "oncall", "group_wait_s": 0}).status_code == 200
    assert http.put("/api/v1/runbooks/page-checkout", content=BOOK).status_code == 201
    folded = http.post("/api/v1/signals", json={
        "source": "ops", "kind": "latency", "subject": "service:checkout",
        "severity": "error", "value": 420.0, "time_ms": now - 9 * 60_000,
        "summary": "p95 latency 420 ms over 250 ms", "labels": {"service": "checkout"},
        "annotations": {"runbook_url": "https://runbooks.example/checkout-latency",
                        "description": "Checkout p95 latency is above its SLO."}})
    assert folded.status_code in (200, 201), folded.text
    incident_id = folded.json()["incident_id"]

    def pending_run() -> str | None:
        runs = http.get("/api/v1/runbook-runs", params={"incident_id": incident_id}).json()
        return runs[0]["id"] if runs and runs[0]["status"] == "pending_approval" else None

    def sent() -> bool:
        found = http.get("/api/v1/notifications/deliveries", params={"incident_id": incident_id}).json()
        return bool(found) and found[0]["status"] == "sent"

    run_id = wait_until(pending_run, timeout=30)
    wait_until(sent, timeout=30)
    return incident_id, run_id


def test_incident_page_topology_and_change_markers(server, webhook):
    incident_id, run_id = _build_incident(server, webhook)
    http = server.http()
    editor, viewer = _key(http, "editor"), _key(http, "viewer")

    with browser_page(server.url) as page:
        login(page, viewer)
        page.goto(f"/ui/incidents/{incident_id}")
        summary = page.inner_text("#summary")
        assert "Checkout p95 latency is above its SLO." in summary
        assert page.get_attribute("a.annotation", "href") == (
            "https://runbooks.example/checkout-latency")
        assert "service:checkout" in page.inner_text("#grouping")
        timeline = page.inner_text("#timeline")
        assert "checkout 2.4.0 rolled out" in timeline and "p95 latency 420 ms" in timeline
        assert "−3m" in timeline  # the deploy, three minutes before the signal
        first_cause = page.inner_text("#causes li >> nth=0")
        assert "service:checkout" in first_cause and "deploy" in first_cause
        assert page.locator("#causes .scorebar span").count() >= 1
        nodes = graph_nodes(page, "#neighbourhood div.chart")
        assert {"service:checkout", "service:web", "host:checkout-1",
                f"series:{SERIES}"} <= set(nodes)
        # Laid out left to right along the calls: web calls checkout.
        assert nodes["service:web"]["x"] < nodes["service:checkout"]["x"]
        assert "pending approval" in page.inner_text("#runbook-runs")
        assert page.locator("button.approve").count() == 0
        assert "sent" in page.inner_text("#notifications")
        shot(page, "incident-viewer")
        refused = page.request.post(f"/ui/incidents/{incident_id}/runs/{run_id}/approve")
        assert refused.status == 403

    with browser_page(server.url) as page:
        login(page, editor)
        page.goto(f"/ui/incidents/{incident_id}")
        shot(page, "incident-editor")
        page.click(f"tr[data-run='{run_id}'] button.approve")
        page.wait_for_url(f"**/ui/incidents/{incident_id}")
        runs = page.inner_text("#runbook-runs")
        assert "pending approval" not in runs and "key:editor" in runs
        run = http.get(f"/api/v1/runbook-runs/{run_id}").json()
        assert run["decided_by"] == "key:editor"
        wait_until(lambda: http.get(f"/api/v1/runbook-runs/{run_id}").json()["status"]
                   == "succeeded", timeout=30)
        page.reload()
        assert "notify ok" in page.inner_text(f"tr[data-run='{run_id}']")
        shot(page, "incident-approved")

        page.locator("#neighbourhood").scroll_into_view_if_needed()
        click_node(page, "service:web", "#neighbourhood div.chart")
        page.wait_for_url("**/ui/topology/service%3Aweb")
        assert len(graph_nodes(page)) >= 2
        shot(page, "topology-node")

        page.goto(f"/ui/topology/{quote('service:checkout', safe='')}")
        assert incident_id in page.inner_html("#open-incidents")
        assert "2.4.0" in page.inner_text("#changes")

        page.click("nav.sections >> text=Topology")
        page.wait_for_url("**/ui/topology")
        assert graph_nodes(page)["service:checkout"]["open"] == 1
        shot(page, "topology")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert len(graph_nodes(page)) == 5  # the drawing scrolls in its box, not the page
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "topology-phone")
        page.set_viewport_size({"width": 1360, "height": 860})
        page.check("input[value=host]")
        page.click("form.typefilter button")
        page.wait_for_url("**/ui/topology?type=host")
        assert set(graph_nodes(page)) == {"host:web-1", "host:checkout-1"}

        page.goto(f"/ui/ops/series?key={quote(SERIES)}")
        [chart] = charts(page)
        [change] = chart["series"][0]["markLine"]
        assert "version 2.4.0" in change["name"] and change["href"].startswith("/ui/topology/")
        shot(page, "ops-series-changes")
