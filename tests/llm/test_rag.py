"""Knowledge collections: ingest of every file kind, chunking, hybrid search, filters,
updates and deletes, re-embedding with a gateway model (both backends)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import sqlalchemy as sa
from tests.llm.rag_files import BILLING_HTML, CORPUS_JSONL, HANDBOOK_MD, pdf_with_text
from typer.testing import CliRunner

from triops.cli.main import app
from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.llm import rag
from triops.llm.rag import chunking
from triops.llm.rag.retrievers import RRF_K
from triops.llm.rag.service import index_of
from triops.llm.rag.vector_index import PgVectorIndex, VectorIndex
from triops.store.repos import rag_pgvector

P = "default"


def _ingest(db, name, files, **kw):
    docs = [d for fname, data in files for d in rag.from_bytes(fname, data)]
    return rag.ingest(db, P, name, docs, **kw)


@pytest.fixture
def corpus(db):
    rag.create_collection(db, P, "kb", "key:t")
    report = _ingest(db, "kb", [("corpus.jsonl", CORPUS_JSONL.encode()),
                                ("handbook.md", HANDBOOK_MD.encode()),
                                ("billing.html", BILLING_HTML.encode()),
                                ("manual.pdf", pdf_with_text(
                                    ["Calibrating the wind tunnel balance",
                                     "needs three reference weights."]))])
    assert report.added == 7 and report.updated == 0
    return db


def test_every_file_kind_is_found_by_its_own_words(corpus):
    for query, doc in [("restart the gateway service", "handbook.md"),
                       ("how long does a refund take", "billing.html"),
                       ("wind tunnel balance calibration", "manual.pdf"),
                       ("flutter of swept wings", "d3")]:
        hits = rag.search(corpus, P, "kb", query, 3).hits
        assert hits[0].doc_id == doc, (query, [h.doc_id for h in hits])
    # The heading path travels with the chunk; a script's text is no content.
    hit = rag.search(corpus, P, "kb", "revoke the old key", 1).hits[0]
    assert hit.heading == "Operations handbook > Rotating keys"
    assert rag.search(corpus, P, "kb", "var", 5, retriever="lexical").hits == []
    info = rag.get_collection(corpus, P, "kb")
    assert (info.documents, info.embedding, info.chunking) == (
        7, "lsa", {"max_tokens": 256, "overlap": 32})


def test_search_explains_both_rankings_and_the_fused_one(corpus):
    result = rag.search(corpus, P, "kb", "supersonic boundary layer", 4, explain=True)
    assert set(result.parts) == {"lexical", "dense"}
    fused = [h.doc_id for h in result.hits]
    assert fused[0] in {"d4", "d1"}
    assert result.index_version.startswith("lsa-")
    # Reciprocal rank fusion: a chunk's score is the sum of 1/(RRF_K + rank) over the lists.
    ranks = {p: {h.chunk_id: h.rank for h in hits} for p, hits in result.parts.items()}
    top = result.hits[0]
    expected = sum(1 / (RRF_K + r[top.chunk_id]) for r in ranks.values() if top.chunk_id in r)
    assert top.score == pytest.approx(expected)


def test_metadata_filters(corpus):
    hits = rag.search(corpus, P, "kb", "flow", 10, filters={"topic": "flow"}).hits
    assert {h.doc_id for h in hits} == {"d1", "d4"}
    hits = rag.search(corpus, P, "kb", "flow", 10, filters={"year": {"$in": [1962, 1965]}}).hits
    assert {h.doc_id for h in hits} <= {"d2", "d3"}
    hits = rag.search(corpus, P, "kb", "flow", 10, filters={"topic": {"$ne": "flow"}},
                      retriever="lexical").hits
    assert "d1" not in {h.doc_id for h in hits}
    with pytest.raises(InvalidInput, match="unknown operator"):
        rag.search(corpus, P, "kb", "flow", 10, filters={"year": {"$gt": 1}})


def test_update_delete_and_index_version(corpus):
    before = rag.search(corpus, P, "kb", "flutter", 1)
    same = rag.ingest(corpus, P, "kb", rag.from_bytes("corpus.jsonl", CORPUS_JSONL.encode()))
    assert (same.unchanged, same.updated, same.chunks) == (4, 0, 0)
    assert rag.search(corpus, P, "kb", "flutter", 1).index_version == before.index_version
    changed = CORPUS_JSONL.replace("Aeroelastic flutter of swept wings", "Icing of rotor blades")
    report = rag.ingest(corpus, P, "kb", rag.from_bytes("corpus.jsonl", changed.encode()))
    assert (report.updated, report.unchanged) == (1, 3)
    after = rag.search(corpus, P, "kb", "rotor icing", 1)
    assert after.hits[0].doc_id == "d3" and after.index_version != before.index_version
    assert rag.delete_documents(corpus, P, "kb", ["d3", "nope"]) == 1
    assert "d3" not in {h.doc_id for h in rag.search(corpus, P, "kb", "rotor icing", 10).hits}
    assert rag.get_collection(corpus, P, "kb").documents == 6


def test_collections_are_per_project_and_refuse_bad_settings(db):
    rag.create_collection(db, P, "a", "key:t")
    with pytest.raises(AlreadyExists):
        rag.create_collection(db, P, "a", "key:t")
    rag.create_collection(db, "other", "a", "key:t")
    assert [c.name for c in rag.list_collections(db, "other")] == ["a"]
    with pytest.raises(InvalidInput, match="overlap"):
        rag.create_collection(db, P, "b", "key:t", max_tokens=64, overlap=40)
    with pytest.raises(InvalidInput, match="unknown embedding model"):
        rag.create_collection(db, P, "b", "key:t", embedding="word2vec")
    with pytest.raises(InvalidInput, match="unknown retriever"):
        rag.search(db, P, "a", "x", 3, retriever="magic")
    rag.delete_collection(db, P, "a")
    with pytest.raises(NotFound):
        rag.search(db, P, "a", "x", 3)
    with pytest.raises(InvalidInput, match="line 1 is not JSON"):
        list(rag.from_bytes("x.jsonl", b"{oops\n"))
    with pytest.raises(InvalidInput, match="no text layer|not a readable PDF"):
        list(rag.from_bytes("x.pdf", b"%PDF-1.4 nothing"))


def _hashed_embedding(texts: list[str]) -> list[list[float]]:
    """A stand-in for a remote embedding model: words hashed into 64 buckets."""
    out = []
    for text in texts:
        v = np.zeros(64)
        for word in text.lower().split():
            v[int(hashlib.md5(word.strip(".,?").encode()).hexdigest(), 16) % 64] += 1
        out.append(v.tolist())
    return out


def test_gateway_model_vectors_are_stored_per_model_and_never_mixed(corpus):
    import asyncio

    async def embed(texts):
        return _hashed_embedding(texts)

    rag.set_embedding(corpus, P, "kb", "gateway:hash-64")
    # No vectors of the new model yet: the dense side finds nothing rather than mixing.
    assert rag.search(corpus, P, "kb", "refund", 3, retriever="dense",
                      query_vector=_hashed_embedding(["refund"])[0]).hits == []
    filled = asyncio.run(rag.fill_vectors(corpus, P, "kb", embed))
    assert filled == rag.get_collection(corpus, P, "kb").chunks
    assert asyncio.run(rag.fill_vectors(corpus, P, "kb", embed)) == 0
    query = "A refund reaches the card within ten working days."
    result = rag.search(corpus, P, "kb", query, 1, retriever="dense",
                        query_vector=_hashed_embedding([query])[0])
    assert result.hits[0].doc_id == "billing.html"
    assert result.index_version == "gateway:hash-64"
    assert rag.needs_query_vector(corpus, P, "kb") == "gateway:hash-64"
    # pgvector searches in the database only where the extension is installed; without
    # it (SQLite, and this machine's PostgreSQL) the vectors are searched in memory.
    with corpus.read() as s:
        in_database = rag_pgvector.available(s)
        assert in_database == (not corpus.is_sqlite and s.execute(sa.text(
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'")).scalar() > 0)
    searcher = index_of(corpus, P, "kb").dense
    assert isinstance(searcher, PgVectorIndex if in_database else VectorIndex)


def test_wordllama_collection_works_offline_and_keeps_vectors_across_revisions(db):
    rag.create_collection(db, P, "wl", "t", embedding="wordllama")
    _ingest(db, "wl", [("corpus.jsonl", CORPUS_JSONL.encode()),
                       ("billing.html", BILLING_HTML.encode())])
    result = rag.search(db, P, "wl", "how long does a refund take", 2, retriever="dense")
    assert result.hits[0].doc_id == "billing.html"
    assert result.index_version.startswith("wordllama-l2_supercat-256@")
    assert rag.needs_query_vector(db, P, "wl") is None
    before = index_of(db, P, "wl")
    _ingest(db, "wl", [("handbook.md", HANDBOOK_MD.encode())])
    after = index_of(db, P, "wl")
    assert len(after) > len(before) and after.version == before.version
    kept = np.isin(after.dense.chunk_ids, before.dense.chunk_ids)
    assert np.array_equal(after.dense.vectors[kept], before.dense.vectors)


def test_chunking_packs_paragraphs_and_overlaps():
    text = "# T\n\n" + "\n\n".join(" ".join(f"p{i}w{j}" for j in range(30)) for i in range(6))
    pieces = chunking.chunk(text, max_tokens=64, overlap=8)
    assert all(p.tokens <= 64 for p in pieces) and all(p.heading == "T" for p in pieces)
    assert pieces[1].text.split()[:8] == pieces[0].text.split()[-8:]
    words = {w for p in pieces for w in p.text.split()}
    assert len(words) == 180  # nothing lost


def test_cli_contract_writes_a_trec_run(tmp_path, store_url):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(CORPUS_JSONL)
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": "swept wing flutter"}) + "\n"
                       + json.dumps({"_id": "q2", "text": "heat conduction"}) + "\n")
    run = tmp_path / "run.txt"
    runner = CliRunner()
    done = runner.invoke(app, ["rag", "ingest", "--collection", "c", "--input", str(corpus),
                               "--store", store_url])
    assert done.exit_code == 0, done.output
    assert "4 added" in done.output
    done = runner.invoke(app, ["rag", "search", "--collection", "c", "--queries", str(queries),
                               "--top-k", "3", "--output", str(run), "--store", store_url])
    assert done.exit_code == 0, done.output
    lines = [line.split() for line in run.read_text().splitlines()]
    assert lines[0][:4] == ["q1", "Q0", "d3", "1"] and lines[0][5] == "triops"
    q2 = [line for line in lines if line[0] == "q2"]
    assert q2[0][2] == "d2" and [line[3] for line in q2] == [str(i) for i in range(1, len(q2) + 1)]
    scores = [float(line[4]) for line in q2]
    assert scores == sorted(scores, reverse=True)


def test_docstring_examples_run():
    import doctest

    from triops.llm.rag import analysis

    for module in (analysis, chunking):
        result = doctest.testmod(module, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__
