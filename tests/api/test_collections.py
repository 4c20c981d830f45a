"""Knowledge collections over the native API: create, ingest records and files, browse
documents and chunks, search with both rankings, RETRIEVER spans, errors (both backends)."""

from __future__ import annotations

import json

from tests.llm.rag_files import BILLING_HTML, CORPUS_JSONL, HANDBOOK_MD, pdf_with_text
from tests.waiting import wait_until

BASE = "/api/v1/collections"


def test_collection_lifecycle_search_and_its_span(client):
    created = client.post(BASE, json={"name": "kb", "max_tokens": 128, "overlap": 16})
    assert created.status_code == 201, created.text
    assert created.json()["chunking"] == {"max_tokens": 128, "overlap": 16}
    records = [json.loads(line) for line in CORPUS_JSONL.splitlines()]
    added = client.post(f"{BASE}/kb/documents", json={"documents": [
        {"id": r["_id"], "title": r["title"], "text": r["text"],
         "metadata": {"topic": r["topic"]}} for r in records]})
    assert added.json() == {"added": 4, "updated": 0, "unchanged": 0, "chunks": 4,
                            "embedded": 0}
    files = client.post(f"{BASE}/kb/files", files=[
        ("files", ("handbook.md", HANDBOOK_MD.encode(), "text/markdown")),
        ("files", ("faq/billing.html", BILLING_HTML.encode(), "text/html")),
        ("files", ("manual.pdf", pdf_with_text(["Torque the bolts to 40 Nm."]),
                   "application/pdf"))], data={"metadata": json.dumps({"topic": "ops"})})
    assert files.status_code == 200, files.text
    assert files.json()["added"] == 3

    listed = client.get(f"{BASE}/kb/documents").json()
    assert [d["id"] for d in listed] == ["d1", "d2", "d3", "d4", "faq/billing.html",
                                         "handbook.md", "manual.pdf"]
    doc = client.get(f"{BASE}/kb/documents/faq/billing.html").json()
    assert doc["title"] == "Billing FAQ" and doc["metadata"] == {"topic": "ops"}
    assert [c["heading"] for c in doc["chunk_list"]] == ["Billing", "Billing > Refunds"]

    found = client.post(f"{BASE}/kb/search", json={
        "query": "how long until the refund reaches my card", "top_k": 3, "explain": True},
        headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["hits"][0]["doc_id"] == "faq/billing.html"
    assert body["hits"][0]["heading"] == "Billing > Refunds"
    assert set(body["parts"]) == {"lexical", "dense"} and body["trace_id"] == "ab" * 16
    assert found.headers["x-triops-trace-id"] == "ab" * 16

    trace = wait_until(lambda: (r := client.get(f"/api/v1/traces/{'ab' * 16}")).is_success
                       and r.json(), timeout=5, message="the retrieval's trace")
    (span,) = trace["spans"]
    assert span["kind"] == "RETRIEVER" and span["parent_span_id"] == "cd" * 8
    attrs = span["attributes"]
    assert attrs["triops.rag.index_version"] == body["index_version"]
    assert attrs["retrieval.documents"][0]["document.id"] == "faq/billing.html"
    assert attrs["retrieval.documents"][0]["document.score"] > 0

    flow = client.post(f"{BASE}/kb/search", json={"query": "flow", "top_k": 10,
                                                  "filters": {"topic": "flow"}}).json()
    assert {h["doc_id"] for h in flow["hits"]} == {"d1", "d4"}

    assert client.delete(f"{BASE}/kb/documents/d1").json() == {"deleted": 1}
    info = client.get(f"{BASE}/kb").json()
    assert (info["documents"], info["embedding"]) == (6, "lsa")
    assert client.delete(f"{BASE}/kb").status_code == 204
    assert client.get(f"{BASE}/kb").status_code == 404


def test_hostile_input_is_a_precise_4xx(client):
    assert client.post(BASE, json={"name": "bad name"}).status_code == 400
    assert client.post(BASE, json={"name": "a", "embedding": "word2vec"}).status_code == 400
    assert client.post(BASE, json={"name": "a", "max_tokens": 64,
                                   "overlap": 40}).status_code == 400
    assert client.post(BASE, json={"name": "a"}).status_code == 201
    again = client.post(BASE, json={"name": "a"})
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    for body in ({"query": ""}, {"query": "x", "top_k": 0},
                 {"query": "x", "retriever": "nope"},
                 {"query": "x", "filters": {"k": {"$regex": "."}}}):
        assert client.post(f"{BASE}/a/search", json=body).status_code == 400, body
    assert client.post(f"{BASE}/missing/search", json={"query": "x"}).status_code == 404
    bad_file = client.post(f"{BASE}/a/files",
                           files=[("files", ("x.pdf", b"%PDF-1.4 broken", "application/pdf"))])
    assert bad_file.status_code == 400
    assert client.post(f"{BASE}/a/files", files=[("files", ("x.exe", b"MZ", "x"))]
                       ).status_code == 400
    twice = client.post(f"{BASE}/a/documents", json={"documents": [
        {"id": "x", "text": "one"}, {"id": "x", "text": "two"}]})
    assert twice.status_code == 400
    assert client.get(f"{BASE}/a/documents/nope").status_code == 404
