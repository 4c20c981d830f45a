"""The stock OpenTelemetry SDK exports an LLM app's spans to a running triops."""

from __future__ import annotations

import base64
import os
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

pytestmark = pytest.mark.e2e


def test_stock_sdk_spans_come_back_with_links_kinds_and_attributes(server):
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-rag-app"}))
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces",
                                headers={"Authorization": f"Bearer {server.admin_key}"})
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("rag-app")

    with tracer.start_as_current_span("rag-query") as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("input.value", "Where do triops live?")
        root.set_attribute("session.id", "sess-42")
        root.set_attribute("user.id", "ursula")
        with tracer.start_as_current_span("vector-search") as retr:
            retr.set_attribute("openinference.span.kind", "RETRIEVER")
            retr.set_attribute("retrieval.documents.0.document.id", "d1")
            retr.set_attribute("retrieval.documents.0.document.score", 0.87)
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.system", "openai")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.usage.input_tokens", 321)
            llm.set_attribute("gen_ai.usage.output_tokens", 45)
            llm.set_attribute("gen_ai.request.stop_sequences", ["\n\n", "END"])
            with tracer.start_as_current_span("execute_tool get_weather") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_status(Status(StatusCode.ERROR, "tool timed out"))
        trace_id = format(root.get_span_context().trace_id, "032x")
        root_id = format(root.get_span_context().span_id, "016x")
    assert provider.force_flush(10_000)
    provider.shutdown()

    http = server.http()
    page = http.get("/api/v1/traces", params={"service": "otel-rag-app"}).json()
    assert page["total"] == 1
    t = page["traces"][0]
    assert (t["trace_id"], t["name"], t["model"]) == (trace_id, "rag-query", "gpt-4o")
    assert (t["input_tokens"], t["output_tokens"], t["status"]) == (321, 45, "ERROR")
    assert (t["user_id"], t["session_id"]) == ("ursula", "sess-42")

    detail = http.get(f"/api/v1/traces/{trace_id}").json()
    spans = {s["name"]: s for s in detail["spans"]}
    assert [s["name"] for s in detail["spans"]] == [
        "rag-query", "vector-search", "chat gpt-4o", "execute_tool get_weather"]
    assert spans["rag-query"]["span_id"] == root_id and spans["rag-query"]["parent_span_id"] is None
    assert spans["vector-search"]["parent_span_id"] == root_id
    assert spans["chat gpt-4o"]["parent_span_id"] == root_id
    assert spans["execute_tool get_weather"]["parent_span_id"] == spans["chat gpt-4o"]["span_id"]
    assert [spans[n]["kind"] for n in spans] == ["CHAIN", "RETRIEVER", "LLM", "TOOL"]
    assert spans["chat gpt-4o"]["attributes"]["gen_ai.request.stop_sequences"] == ["\n\n", "END"]
    assert spans["vector-search"]["attributes"]["retrieval.documents.0.document.score"] == 0.87
    assert spans["execute_tool get_weather"]["status"] == "ERROR"
    assert spans["execute_tool get_weather"]["status_message"] == "tool timed out"
    assert spans["rag-query"]["resource"]["service.name"] == "otel-rag-app"


def _otlp_json(trace_id: str, spans: list[dict]) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "json-app"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}],
    }]}


def test_otlp_json_with_hex_ids_over_http(server):
    trace_id, root, child = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    now = time.time_ns()
    spans = [
        {"traceId": trace_id, "spanId": root, "name": "embed-docs", "kind": 1,
         "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 9_000_000),
         "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}}]},
        {"traceId": trace_id, "spanId": child, "parentSpanId": root, "name": "embeddings",
         "startTimeUnixNano": str(now + 1_000_000), "endTimeUnixNano": str(now + 8_000_000),
         "status": {"code": 1},
         "attributes": [
             {"key": "gen_ai.operation.name", "value": {"stringValue": "embeddings"}},
             {"key": "gen_ai.request.model", "value": {"stringValue": "text-embedding-3-small"}},
             {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "512"}}]},
    ]
    http = server.http()
    r = http.post("/v1/traces", json=_otlp_json(trace_id, spans))
    assert r.status_code == 200, r.text
    detail = http.get(f"/api/v1/traces/{trace_id}").json()
    assert [(s["name"], s["kind"]) for s in detail["spans"]] == [
        ("embed-docs", "CHAIN"), ("embeddings", "EMBEDDING")]
    assert detail["spans"][1]["parent_span_id"] == root
    assert detail["model"] == "text-embedding-3-small" and detail["input_tokens"] == 512

    # protobuf-JSON's own base64 ids are read too, as the same ids.
    trace2 = os.urandom(16)
    b64 = [{"traceId": base64.b64encode(trace2).decode(), "spanId": base64.b64encode(
        os.urandom(8)).decode(), "name": "b64", "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1)}]
    assert http.post("/v1/traces", json=_otlp_json(trace2.hex(), b64)).status_code == 200
    assert http.get(f"/api/v1/traces/{trace2.hex()}").json()["name"] == "b64"

    bad = http.post("/v1/traces", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "OTLP JSON" in bad.json()["message"]
    unauth = http.post("/v1/traces", json=_otlp_json(trace_id, spans),
                       headers={"Authorization": "Bearer nope"})
    assert unauth.status_code == 401
