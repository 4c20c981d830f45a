"""The SDK tracer against a real server: nesting, capture, errors, async, batching."""

from __future__ import annotations

import asyncio

import pytest

import triops
import triops.client as tc


@pytest.fixture
def configured(server):
    tc.configure(server.url, server.admin_key, service="sdk-test", batch_size=4,
                 flush_interval_s=0.2)
    yield server
    tc.flush()


@triops.trace(kind="retriever")
def retrieve(query: str, k: int = 2) -> list[str]:
    return [f"doc-{i} about {query}" for i in range(k)]


@triops.trace(kind="tool", name="weather-tool")
def weather(city: str) -> str:
    if city == "Atlantis":
        raise LookupError("no such city")
    return "sunny"


@triops.trace(kind="agent")
async def agent(question: str) -> str:
    docs = retrieve(question)
    with triops.span("compose", kind="chain", inputs={"docs": docs}) as s:
        s.set_attribute("user.id", "dana")
        s.set_output("final answer")
    return "final answer"


@pytest.mark.e2e
def test_nested_spans_reach_the_server_with_inputs_outputs_and_kinds(configured):
    assert asyncio.run(agent("what is triops")) == "final answer"
    assert tc.flush(10)
    http = configured.http()
    page = http.get("/api/v1/traces", params={"service": "sdk-test", "name": "agent"}).json()
    assert page["total"] == 1
    t = page["traces"][0]
    assert t["user_id"] == "dana" and t["span_count"] == 3 and t["status"] == "OK"
    detail = http.get(f"/api/v1/traces/{t['trace_id']}").json()
    names = [(s["name"], s["kind"], s["depth"]) for s in detail["spans"]]
    assert names == [("agent", "AGENT", 0), ("retrieve", "RETRIEVER", 1),
                     ("compose", "CHAIN", 1)]
    root, retr, compose = detail["spans"]
    assert root["attributes"]["input.value"] == '{"question": "what is triops"}'
    assert root["attributes"]["output.value"] == "final answer"
    assert retr["parent_span_id"] == root["span_id"]
    assert retr["attributes"]["output.value"].startswith('["doc-0 about what is triops"')
    assert compose["attributes"]["input.mime_type"] == "application/json"


@pytest.mark.e2e
def test_an_exception_marks_the_span_and_still_propagates(configured):
    with pytest.raises(LookupError):
        weather("Atlantis")
    assert weather("Paris") == "sunny"
    assert tc.flush(10)
    http = configured.http()
    failed = http.get("/api/v1/traces", params={"name": "weather-tool", "status": "error"}).json()
    assert failed["total"] == 1
    span = http.get(f"/api/v1/traces/{failed['traces'][0]['trace_id']}").json()["spans"][0]
    assert span["status"] == "ERROR" and "no such city" in span["status_message"]
    assert span["events"][0]["attributes"]["exception.type"] == "LookupError"
    ok = http.get("/api/v1/traces", params={"name": "weather-tool", "status": "ok"}).json()
    assert ok["total"] == 1


@pytest.mark.e2e
def test_many_spans_are_batched_and_none_lost(configured):
    for i in range(37):
        with triops.span(f"bulk-{i}", kind="tool"):
            pass
    assert tc.flush(10)
    page = configured.http().get("/api/v1/traces", params={"name": "bulk-", "limit": 100}).json()
    assert page["total"] == 37


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="span kind"), triops.span("x", kind="banana"):
        pass
