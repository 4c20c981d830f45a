"""The collections pages: list, a collection with its documents and the three rankings,
a document's chunks, and a RETRIEVER span rendered with its documents (both backends)."""

from __future__ import annotations

import re

from tests.llm.rag_files import BILLING_HTML, HANDBOOK_MD

from triops.llm import rag


def test_collection_pages_show_documents_chunks_and_both_rankings(client, runtime):
    db = runtime.db
    rag.create_collection(db, "default", "kb", "key:t")
    rag.ingest(db, "default", "kb", [*rag.from_bytes("handbook.md", HANDBOOK_MD.encode()),
                                     *rag.from_bytes("billing.html", BILLING_HTML.encode())])
    listing = client.get("/ui/llm/collections")
    assert listing.status_code == 200 and ">kb</a>" in listing.text
    page = client.get("/ui/llm/collections/kb", params={"q": "refund to my card", "k": 3})
    assert page.status_code == 200
    for title in ("Fused (reciprocal rank fusion)", "Lexical (BM25 with feedback)",
                  "Dense (lsa)"):
        assert title in page.text
    fused = page.text.split("Fused (reciprocal rank fusion)")[1].split("</ol>")[0]
    assert re.search(r"<li><b>billing.html</b> · Billing &gt; Refunds", fused)
    doc = client.get("/ui/llm/collections/kb/documents/handbook.md")
    assert "Operations handbook &gt; Rotating keys" in doc.text
    assert "revoke the old key" in doc.text
    assert client.get("/ui/llm/collections/nope").status_code == 404

    # The search above was a retrieval: its span shows the documents it found.
    traces = client.get("/api/v1/traces").json()
    trace_id = next(t["trace_id"] for t in traces["traces"] if t["name"] == "retrieve kb")
    shown = client.get(f"/ui/llm/traces/{trace_id}").text
    assert "<td>billing.html</td>" in shown
