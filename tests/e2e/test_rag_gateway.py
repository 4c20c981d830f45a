"""RAG through a real ``triops up``: the stock ``openai`` client asks a chat completion
for retrieval, the upstream receives the cited passages, and the trace holds the
RETRIEVER span under the LLM span; a collection embedded by a gateway route (both backends).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import ServerProcess
from tests.e2e.gateway_servers import alpha_upstream, gateway_server
from tests.llm.rag_files import BILLING_HTML, CORPUS_JSONL, HANDBOOK_MD
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from alpha_upstream()


@pytest.fixture(scope="module")
def rag_server(backend, tmp_path_factory, pg_databases, upstream) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp(f"rag-{backend}")
    proc = gateway_server(backend, home, pg_databases, upstream,
                          {"chat": "gpt-4o-mini", "embed": "text-embedding-3-small"},
                          gateway="timeout_s = 5")
    with proc.http() as http:
        for name, embedding in (("kb", "lsa"), ("kb-gw", "gateway:embed")):
            http.post("/api/v1/collections", json={"name": name, "embedding": embedding}
                      ).raise_for_status()
            records = [json.loads(line) for line in CORPUS_JSONL.splitlines()]
            http.post(f"/api/v1/collections/{name}/documents", json={"documents": [
                {"id": r["_id"], "title": r["title"], "text": r["text"]} for r in records]}
            ).raise_for_status()
            http.post(f"/api/v1/collections/{name}/files", files=[
                ("files", ("handbook.md", HANDBOOK_MD.encode(), "text/markdown")),
                ("files", ("billing.html", BILLING_HTML.encode(), "text/html"))]
            ).raise_for_status()
    yield proc
    proc.stop()


def _client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key,
                         max_retries=0, timeout=20)


@pytest.mark.parametrize("collection", ["kb", "kb-gw"])
def test_chat_with_retrieval_cites_the_right_chunk(rag_server, upstream, collection):
    raw = _client(rag_server).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user",
                                 "content": "How long does a refund take to reach the card?"}],
        extra_body={"retrieval": {"collection": collection, "top_k": 2}})
    completion = raw.parse()
    citations = completion.model_extra["citations"]
    assert citations[0]["doc_id"] == "billing.html" and citations[0]["index"] == 1
    # The upstream's stand-in embeddings hash words, so only the lexical side knows which
    # of billing.html's two chunks answers; both are cited.
    assert "Billing > Refunds" in [c["heading"] for c in citations]
    sent = httpx.get(upstream + "/_received").json()[-1]
    assert "retrieval" not in sent
    system, user = sent["messages"]
    assert system["role"] == "system" and "[1] billing.html" in system["content"]
    assert "ten working days" in system["content"]
    assert user["content"].startswith("How long does a refund take")

    trace_id = raw.headers["x-triops-trace-id"]
    with rag_server.http() as http:
        trace = wait_until(
            lambda: (r := http.get(f"/api/v1/traces/{trace_id}")).is_success
            and len(r.json()["spans"]) >= 2 and r.json(), timeout=10, message="both spans")
    by_kind = {s["kind"]: s for s in trace["spans"]}
    retriever, llm = by_kind["RETRIEVER"], by_kind["LLM"]
    assert retriever["parent_span_id"] == llm["span_id"]
    attrs = retriever["attributes"]
    assert attrs["retrieval.documents"][0]["document.id"] == "billing.html"
    assert attrs["triops.rag.collection"] == collection
    expected = "gateway:embed" if collection == "kb-gw" else "lsa-"
    assert attrs["triops.rag.index_version"].startswith(expected)


def test_bad_retrieval_requests_get_openai_shaped_errors(rag_server):
    client = _client(rag_server)
    with pytest.raises(openai.BadRequestError, match="top_k"):
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}],
            extra_body={"retrieval": {"collection": "kb", "top_k": 500}})
    with pytest.raises(openai.NotFoundError, match="collection 'nope'"):
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}],
            extra_body={"retrieval": {"collection": "nope"}})


def test_vector_stores_with_the_stock_client(rag_server):
    client = _client(rag_server)
    handbook = client.files.create(file=("handbook.md", HANDBOOK_MD.encode()),
                                   purpose="assistants")
    billing = client.files.create(file=("billing.html", BILLING_HTML.encode()),
                                  purpose="assistants")
    store = client.vector_stores.create(name="support", metadata={"team": "ops"})
    assert store.id.startswith("vs_") and store.metadata == {"team": "ops"}
    added = client.vector_stores.files.create(vector_store_id=store.id, file_id=handbook.id,
                                              attributes={"kind": "runbook"})
    assert added.status == "completed" and added.vector_store_id == store.id
    client.vector_stores.files.create(vector_store_id=store.id, file_id=billing.id,
                                      attributes={"kind": "faq"})
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 2

    results = list(client.vector_stores.search(vector_store_id=store.id,
                                               query="how do I rotate an API key",
                                               max_num_results=2))
    assert results[0].file_id == handbook.id and results[0].filename == "handbook.md"
    assert "revoke the old key" in results[0].content[0].text
    assert results[0].attributes == {"kind": "runbook"}
    faq_only = list(client.vector_stores.search(
        vector_store_id=store.id, query="rotate the key or refund",
        filters={"type": "eq", "key": "kind", "value": "faq"}))
    assert {r.file_id for r in faq_only} == {billing.id}

    listed = client.vector_stores.files.list(vector_store_id=store.id)
    assert {f.id for f in listed} == {handbook.id, billing.id}
    client.vector_stores.files.delete(file_id=billing.id, vector_store_id=store.id)
    assert client.vector_stores.retrieve(store.id).file_counts.total == 1
    assert store.id in {s.id for s in client.vector_stores.list()}
    assert client.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_eval_run_scores_what_the_gateway_retrieved(rag_server, tmp_path):
    from typer.testing import CliRunner

    from triops.cli import main

    config = tmp_path / "eval.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "name": "rag", "model": "chat", "retrieval": {"collection": "kb", "top_k": 3},
        "dataset": [
            {"inputs": {"messages": [{"role": "user", "content": "refund to the card"}]},
             "relevant_ids": ["billing.html"]},
            {"inputs": {"messages": [{"role": "user", "content": "rotate the API key"}]},
             "relevant_ids": ["handbook.md"]}],
        "scorers": [{"type": "recall_at_k", "k": 3}, "mrr", "context_precision",
                    {"type": "ndcg_at_k", "k": 3}]}))
    result = CliRunner().invoke(main.app, [
        "eval", "run", str(config), "--fail-under", "recall_at_k=1", "--fail-under", "mrr=1"],
        env={"TRIOPS_URL": rag_server.url, "TRIOPS_API_KEY": rag_server.admin_key,
             "COLUMNS": "240"})
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "context_precision" in result.stdout
