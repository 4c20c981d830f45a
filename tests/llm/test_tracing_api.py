"""OTLP intake and the native trace API over the real app and both store backends."""

from __future__ import annotations

import gzip
import json
import os
import time

from google.protobuf.json_format import MessageToDict
from otlp_payloads import pb_span, rag_trace, request_of

from triops.core.principals import Role
from triops.store import records
from triops.store.repos import keys

PB = {"Content-Type": "application/x-protobuf"}
NOW = time.time_ns()


def post_pb(client, req, **headers):
    return client.post("/v1/traces", content=req.SerializeToString(), headers={**PB, **headers})


def test_otlp_protobuf_round_trip_keeps_tree_kinds_and_attributes(client):
    trace_id, spans = rag_trace(NOW)
    r = post_pb(client, request_of(spans))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"

    page = client.get("/api/v1/traces").json()
    assert page["total"] == 1
    t = page["traces"][0]
    assert t["trace_id"] == trace_id and t["name"] == "answer-question"
    assert t["model"] == "gpt-4o-mini" and t["input_tokens"] == 100 and t["output_tokens"] == 20
    assert t["total_tokens"] == 120 and abs(t["cost"] - 0.002) < 1e-12
    assert t["user_id"] == "alice" and t["session_id"] == "s-1" and t["service"] == "demo-app"
    assert t["status"] == "OK" and t["span_count"] == 3 and abs(t["duration_ms"] - 120) < 1e-6
    # The key the spans came in with, by id as gateway traces name it (names need not be
    # unique).
    [admin] = [k for k in client.get("/api/v1/keys").json() if k["name"] == "admin"]
    assert t["api_key"] == admin["id"]

    detail = client.get(f"/api/v1/traces/{trace_id}").json()
    by_name = {s["name"]: s for s in detail["spans"]}
    root, retr, llm = by_name["answer-question"], by_name["retrieve"], by_name["chat gpt-4o-mini"]
    assert detail["spans"][0]["name"] == "answer-question"
    assert root["parent_span_id"] is None and root["depth"] == 0
    assert retr["parent_span_id"] == root["span_id"] and llm["parent_span_id"] == root["span_id"]
    assert root["children"] == [retr["span_id"], llm["span_id"]]
    assert (root["kind"], retr["kind"], llm["kind"]) == ("AGENT", "RETRIEVER", "LLM")
    assert retr["attributes"]["retrieval.documents.0.document.score"] == 0.93
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 100
    assert llm["attributes"]["gen_ai.system"] == "openai"
    assert root["resource"]["service.name"] == "demo-app"


def test_otlp_json_with_hex_ids_and_gzip(client):
    trace_id, spans = rag_trace(NOW, model="claude-3-haiku")
    doc = MessageToDict(request_of(spans))
    # OTLP/JSON carries ids as hex, not protobuf-JSON's base64.
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                import base64
                span[key] = base64.b64decode(span[key]).hex()
    assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == trace_id
    body = gzip.compress(json.dumps(doc).encode())
    r = client.post("/v1/traces", content=body,
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    detail = client.get(f"/api/v1/traces/{trace_id}").json()
    assert detail["model"] == "claude-3-haiku" and len(detail["spans"]) == 3
    assert {s["kind"] for s in detail["spans"]} == {"AGENT", "RETRIEVER", "LLM"}


def test_invalid_payloads_are_400_and_write_nothing(client, runtime):
    bad = client.post("/v1/traces", content=b"\xff\xff\xff garbage", headers=PB)
    assert bad.status_code == 400 and "protobuf" in bad.json()["message"]
    bad_json = client.post("/v1/traces", content=b"[1, 2]",
                           headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    wrong_type = client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 400
    # One bad span (7-byte span id) in an otherwise good batch rejects the whole batch.
    _, spans = rag_trace(NOW)
    spans[2].span_id = b"\x01" * 7
    r = post_pb(client, request_of(spans))
    assert r.status_code == 400 and "span_id" in r.json()["message"]
    _, spans = rag_trace(NOW)
    spans[1].end_time_unix_nano = spans[1].start_time_unix_nano - 1
    assert post_pb(client, request_of(spans)).status_code == 400
    assert client.get("/api/v1/traces").json()["total"] == 0
    with runtime.db.read() as session:
        assert list(records.scan(session, "default", "span")) == []


def test_spans_of_one_trace_in_several_requests_fold_into_one_summary(client):
    trace_id, spans = rag_trace(NOW, error=True)
    # Children first, root last: the summary must end up named after the root.
    assert post_pb(client, request_of([spans[2]])).status_code == 200
    assert post_pb(client, request_of([spans[1]])).status_code == 200
    t = client.get("/api/v1/traces").json()["traces"][0]
    assert t["name"] == "chat gpt-4o-mini" and t["span_count"] == 2
    assert post_pb(client, request_of([spans[0]])).status_code == 200
    t = client.get(f"/api/v1/traces/{trace_id}").json()
    assert t["name"] == "answer-question" and t["span_count"] == 3
    assert t["status"] == "ERROR" and t["error_count"] == 1
    assert abs(t["duration_ms"] - 120) < 1e-6 and t["total_tokens"] == 120


def test_filters(client):
    base = NOW - 3_600_000_000_000
    made = {}
    for i, (model, err, user, lat, cost) in enumerate([
        ("gpt-4o", False, "alice", 50, 0.01), ("gpt-4o", True, "bob", 900, 0.05),
        ("llama3", False, "bob", 300, 0.0), ("llama3", False, "carol", 2000, 0.2),
    ]):
        tid, spans = rag_trace(base + i * 60_000_000_000, model=model, error=err, user=user,
                               session=f"s-{i % 2}", latency_ms=lat, cost=cost)
        made[i] = tid
        assert post_pb(client, request_of(spans, service="svc-a" if i < 2 else "svc-b")
                       ).status_code == 200

    def ids(**params):
        page = client.get("/api/v1/traces", params=params)
        assert page.status_code == 200, page.text
        return {t["trace_id"] for t in page.json()["traces"]}

    assert ids(model="gpt-4o") == {made[0], made[1]}
    assert ids(status="error") == {made[1]}
    assert ids(status="ok") == {made[0], made[2], made[3]}
    assert ids(min_latency_ms=300) == {made[1], made[2], made[3]}
    assert ids(max_latency_ms=300) == {made[0], made[2]}
    assert ids(min_cost=0.04, max_cost=0.1) == {made[1]}
    assert ids(user="bob") == {made[1], made[2]}
    assert ids(session="s-1") == {made[1], made[3]}
    assert ids(service="svc-b") == {made[2], made[3]}
    assert ids(name="ANSWER") == set(made.values())
    assert ids(name="nothing") == set()
    start_ms = (base + 60_000_000_000) // 1_000_000
    assert ids(start_ms=start_ms, end_ms=start_ms + 120_000) == {made[1], made[2]}
    page = client.get("/api/v1/traces", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4 and [t["trace_id"] for t in page["traces"]] == [made[2], made[1]]
    assert client.get("/api/v1/traces", params={"limit": 0}).status_code == 400
    assert client.get("/api/v1/traces", params={"status": "weird"}).status_code == 400
    assert client.get("/api/v1/traces", params={"min_cost": "x"}).status_code == 400


def test_scores(client, runtime):
    trace_id, spans = rag_trace(NOW)
    post_pb(client, request_of(spans))
    r = client.post(f"/api/v1/traces/{trace_id}/scores",
                    json={"name": "helpful", "value": 1, "comment": "thumbs up"})
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "human" and r.json()["actor"] == "key:admin"
    r = client.post(f"/api/v1/traces/{trace_id}/scores",
                    json={"name": "faithfulness", "value": 0.75, "source": "llm"})
    assert r.status_code == 201
    scores = client.get(f"/api/v1/traces/{trace_id}").json()["scores"]
    assert [(s["name"], s["value"], s["source"]) for s in scores] == [
        ("helpful", 1.0, "human"), ("faithfulness", 0.75, "llm")]
    assert client.post(f"/api/v1/traces/{trace_id}/scores",
                       json={"name": "x", "value": 1, "source": "robot"}).status_code == 400
    assert client.post(f"/api/v1/traces/{trace_id}/scores",
                       json={"name": "", "value": 1}).status_code == 400
    missing = client.post(f"/api/v1/traces/{'ab' * 16}/scores", json={"name": "x", "value": 1})
    assert missing.status_code == 404
    assert client.get(f"/api/v1/traces/{'ab' * 16}").status_code == 404

    with runtime.db.write() as session:
        secret = keys.create(session, project="default", role=Role.viewer, name="reader").secret
    viewer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/traces", headers=viewer).status_code == 200
    denied = client.post(f"/api/v1/traces/{trace_id}/scores", json={"name": "x", "value": 1},
                         headers=viewer)
    assert denied.status_code == 403
    assert post_pb(client, request_of(spans), **viewer).status_code == 403
    assert len(client.get(f"/api/v1/traces/{trace_id}").json()["scores"]) == 2


def test_native_span_intake(client):
    trace_id, root, child = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    spans = [
        {"trace_id": trace_id, "span_id": root, "name": "pipeline", "start_ns": NOW,
         "end_ns": NOW + 5_000_000, "kind": "CHAIN", "status": "OK",
         "attributes": {"input.value": "{\"q\": 1}"}},
        {"trace_id": trace_id, "span_id": child, "parent_span_id": root, "name": "lookup",
         "start_ns": NOW + 1, "end_ns": NOW + 2_000_000, "kind": "TOOL", "status": "ERROR",
         "status_message": "timeout"},
    ]
    r = client.post("/api/v1/traces/spans", json={"spans": spans})
    assert r.status_code == 201 and r.json() == {"accepted": 2}
    detail = client.get(f"/api/v1/traces/{trace_id}").json()
    assert [(s["name"], s["kind"], s["depth"]) for s in detail["spans"]] == [
        ("pipeline", "CHAIN", 0), ("lookup", "TOOL", 1)]
    assert detail["status"] == "ERROR" and detail["spans"][1]["status_message"] == "timeout"
    bad = dict(spans[0], span_id="XYZ")
    assert client.post("/api/v1/traces/spans", json={"spans": [bad]}).status_code == 400
    bad = dict(spans[0], span_id=os.urandom(8).hex(), end_ns=NOW - 1)
    r = client.post("/api/v1/traces/spans", json={"spans": [bad]})
    assert r.status_code == 400 and "end_ns" in r.json()["message"]
    assert client.get("/api/v1/traces").json()["total"] == 1


def test_awkward_values_are_stored_on_every_backend(client):
    trace_id = os.urandom(16).hex()
    span = pb_span(trace_id, os.urandom(8).hex(), "odd\x00name", NOW, NOW + 1000,
                   attrs={"nan": float("nan"), "nul": "a\x00b", "list": [1, 2, 3]})
    assert post_pb(client, request_of([span])).status_code == 200
    s = client.get(f"/api/v1/traces/{trace_id}").json()["spans"][0]
    assert s["attributes"]["nan"] == "nan" and s["attributes"]["nul"] == "a\ufffdb"
    assert s["attributes"]["list"] == [1, 2, 3]


def test_model_spans_without_a_cost_are_costed_from_the_price_table(client):
    # gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens; a dated snapshot name, as providers
    # answer with, takes the plain model's price.
    tid = os.urandom(16).hex()
    spans = [pb_span(tid, os.urandom(8).hex(), "chat", NOW, NOW + 10**6, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500})]
    assert post_pb(client, request_of(spans)).status_code == 200
    [t] = client.get("/api/v1/traces", params={"name": "chat"}).json()["traces"]
    assert abs(t["cost"] - (1000 * 0.15 + 500 * 0.6) / 1e6) < 1e-12
    # A stated cost wins; a model without a price stays at 0 rather than being guessed.
    for model, stated in (("gpt-4o", 0.5), ("my-own-llama", None)):
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                 "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10}
        if stated is not None:
            attrs["gen_ai.usage.cost"] = stated
        tid = os.urandom(16).hex()
        post_pb(client, request_of([pb_span(tid, os.urandom(8).hex(), model, NOW, NOW + 1,
                                            attrs=attrs)]))
        assert client.get(f"/api/v1/traces/{tid}").json()["cost"] == (stated or 0.0)
