"""Collections as a service: create, ingest, update, delete, re-embed and search.

Every function takes the store (``Database``) and opens its own transactions: an ingest
commits in batches, so a long one shows progress and a failure keeps what came before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triops.core.errors import InvalidInput, NotFound
from triops.llm.rag import chunking, dense
from triops.llm.rag.index import CACHE, CollectionIndex, build
from triops.llm.rag.loaders import SourceDocument
from triops.llm.rag.retrievers import RETRIEVERS, Query
from triops.llm.rag.vector_index import PgVectorIndex
from triops.store.engine import Database
from triops.store.repos import rag as store
from triops.store.repos import rag_pgvector
from triops.store.schema_rag import RagCollection, RagDocument

#: Documents written per transaction during an ingest.
INGEST_BATCH = 500
#: Chunks sent to the embedding model per request.
EMBED_BATCH = 64

#: ``embed(texts) -> vectors``: the embedding model of a ``gateway:<model>`` collection.
EmbedFn = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    name: str
    description: str
    embedding: str
    chunking: dict[str, Any]
    revision: int
    documents: int
    chunks: int
    created_by: str
    created_ms: int
    updated_ms: int
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk_id: int
    doc_id: str
    title: str
    heading: str
    text: str
    meta: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SearchResult:
    collection: str
    retriever: str
    index_version: str
    hits: list[Hit]
    #: Each part's own ranking (``explain``): what the fused one was made of.
    parts: dict[str, list[Hit]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "retriever": self.retriever,
                "index_version": self.index_version,
                "hits": [h.as_dict() for h in self.hits],
                "parts": {k: [h.as_dict() for h in v] for k, v in self.parts.items()}}


def _info(row: RagCollection, documents: int, chunks: int) -> CollectionInfo:
    return CollectionInfo(row.id, row.name, row.description, row.embedding, dict(row.chunking),
                          row.revision, documents, chunks, row.created_by, row.created_ms,
                          row.updated_ms, dict(row.meta or {}))


def create_collection(db: Database, project: str, name: str, actor: str, *,
                      embedding: str = dense.LOCAL_MODEL, max_tokens: int | None = None,
                      overlap: int | None = None, description: str = "",
                      meta: dict[str, Any] | None = None) -> CollectionInfo:
    try:
        model = dense.check_model(embedding)
        settings = chunking.Settings(
            max_tokens if max_tokens is not None else chunking.DEFAULT_MAX_TOKENS,
            overlap if overlap is not None else chunking.DEFAULT_OVERLAP)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with db.write() as s:
        row = store.create_collection(s, project, name, model, settings.as_dict(),
                                      description, actor, meta)
        return _info(row, 0, 0)


def list_collections(db: Database, project: str) -> list[CollectionInfo]:
    with db.read() as s:
        rows = store.list_collections(s, project)
        sizes = store.counts(s, [r.id for r in rows])
        return [_info(r, *sizes[r.id]) for r in rows]


def get_collection(db: Database, project: str, name: str) -> CollectionInfo:
    with db.read() as s:
        row = store.get_collection(s, project, name)
        return _info(row, *store.counts(s, [row.id])[row.id])


def collection_by_id(db: Database, project: str, collection_id: str) -> CollectionInfo:
    with db.read() as s:
        row = store.collection_by_id(s, project, collection_id)
        return _info(row, *store.counts(s, [row.id])[row.id])


def delete_collection(db: Database, project: str, name: str) -> None:
    with db.write() as s:
        store.delete_collection(s, store.get_collection(s, project, name, lock=True))


def set_embedding(db: Database, project: str, name: str, embedding: str) -> CollectionInfo:
    """Switch the collection's embedding model. Searches use the new model's vectors
    only, so a gateway model's must be filled (:func:`fill_vectors`) before the dense
    side finds anything; the old model's vectors stay until the chunks change."""
    try:
        model = dense.check_model(embedding)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with db.write() as s:
        row = store.get_collection(s, project, name, lock=True)
        if row.embedding != model:
            row.embedding = model
            store.touch(row)
        return _info(row, *store.counts(s, [row.id])[row.id])


def _content_hash(doc: SourceDocument, settings: dict[str, Any]) -> str:
    payload = json.dumps([doc.title, doc.text, doc.meta, doc.source, settings],
                         sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", errors="surrogatepass")).hexdigest()


def _chunks(doc: SourceDocument, settings: dict[str, Any]) -> list[store.NewChunk]:
    pieces = chunking.chunk(doc.text, settings["max_tokens"], settings["overlap"])
    if not pieces and doc.title.strip():  # a record with a title only is still findable
        pieces = [chunking.Piece("", doc.title.strip(), len(doc.title.split()))]
    return [store.NewChunk(p.heading, p.text, p.tokens) for p in pieces]


def ingest(db: Database, project: str, name: str, documents: Iterable[SourceDocument],
           progress: Callable[[int], None] | None = None) -> IngestReport:
    """Add new documents and replace changed ones (same id, other content); a document
    whose content is unchanged is left as it is. ``progress`` is told how many
    documents each committed batch held."""
    report = IngestReport()
    batch: list[SourceDocument] = []

    def flush() -> None:
        ids = [doc.doc_id for doc in batch]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise InvalidInput(f"document '{twice}' appears twice in one ingest")
        with db.write() as s:
            row = store.get_collection(s, project, name, lock=True)
            news = [store.NewDocument(doc.doc_id, doc.title, doc.source, doc.meta,
                                      _content_hash(doc, row.chunking),
                                      _chunks(doc, row.chunking)) for doc in batch]
            outcomes = store.put_documents(s, row, news)
            for new, outcome in zip(news, outcomes, strict=True):
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome != "unchanged":
                    report.chunks += len(new.chunks)
            if any(outcome != "unchanged" for outcome in outcomes):
                store.touch(row)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for doc in documents:
        if len(doc.doc_id) > 512:
            raise InvalidInput(f"document id '{doc.doc_id[:40]}…' is longer than 512 characters")
        batch.append(doc)
        if len(batch) >= INGEST_BATCH:
            flush()
    if batch:
        flush()
    return report


def delete_documents(db: Database, project: str, name: str, doc_ids: Sequence[str]) -> int:
    with db.write() as s:
        row = store.get_collection(s, project, name, lock=True)
        deleted = store.delete_documents(s, row, doc_ids)
        if deleted:
            store.touch(row)
        return deleted


def list_documents(db: Database, project: str, name: str, offset: int = 0,
                   limit: int = 100) -> list[RagDocument]:
    with db.read() as s:
        row = store.get_collection(s, project, name)
        return store.list_documents(s, row.id, offset, limit)


def document_chunks(db: Database, project: str, name: str,
                    doc_id: str) -> tuple[RagDocument, list[Any]]:
    with db.read() as s:
        row = store.get_collection(s, project, name)
        document = store.find_document(s, row.id, doc_id)
        if document is None:
            raise NotFound(f"collection '{name}' has no document '{doc_id}'")
        return document, store.document_chunks(s, document.id)


async def fill_vectors(db: Database, project: str, name: str, embed: EmbedFn) -> int:
    """Embed every chunk that has no vector of the collection's gateway model yet;
    the number embedded. A local model needs none (its vectors are computed when the
    index is built)."""
    done, after = 0, 0
    while True:
        def todo(after: int = after) -> tuple[str, list[tuple[int, str, str, str]]]:
            with db.read() as s:
                row = store.get_collection(s, project, name)
                if row.embedding in dense.LOCAL_MODELS:
                    return row.embedding, []
                return row.embedding, store.chunks_without_vectors(
                    s, row.id, row.embedding, after, EMBED_BATCH)

        model, pending = await asyncio.to_thread(todo)
        if not pending:
            return done
        vectors = await embed([f"{title}\n{heading}\n{text}".strip()
                               for _, title, heading, text in pending])
        if len(vectors) != len(pending):
            raise InvalidInput(f"the embedding model gave {len(vectors)} vectors "
                               f"for {len(pending)} texts")

        def write(model: str = model, pending: list[Any] = pending,
                  vectors: list[list[float]] = vectors) -> None:
            with db.write() as s:
                row = store.get_collection(s, project, name, lock=True)
                store.put_vectors(s, model, [(chunk_id, dense.to_bytes(v), len(v))
                                             for (chunk_id, *_), v in zip(pending, vectors,
                                                                          strict=True)])
                store.touch(row)

        await asyncio.to_thread(write)
        done += len(pending)
        after = pending[-1][0]


def index_of(db: Database, project: str, name: str) -> CollectionIndex:
    """The collection's current in-memory index, built if the store has moved on."""
    with db.read() as s:
        collection_id, revision, model = store.collection_state(s, project, name)
    key = (db.url, collection_id)
    found = CACHE.get(key, revision, model)
    if found is not None:
        return found
    with CACHE.builder_lock(key):
        found = CACHE.get(key, revision, model)
        if found is not None:
            return found
        with db.read() as s:
            row = store.get_collection(s, project, name)
            revision, model = row.revision, row.embedding
            rows = store.chunk_rows(s, row.id)
            in_database = model not in dense.LOCAL_MODELS and rag_pgvector.available(s)
            stored = None if model in dense.LOCAL_MODELS or in_database else store.vectors(
                s, row.id, model)
        searcher = _pgvector_index(db, collection_id, model, rows) if in_database else None
        index = build(rows, model, stored, previous=CACHE.latest(key), in_database=searcher)
        CACHE.put(key, revision, model, index)
        return index


def _pgvector_index(db: Database, collection_id: str, model: str,
                    rows: list[store.ChunkRow]) -> PgVectorIndex:
    """pgvector's search of the model's vectors, once those stored before the extension
    was installed are copied into its table."""
    with db.write() as s:
        todo = rag_pgvector.missing(s, collection_id, model)
        rag_pgvector.put(s, model, [(c, dense.from_bytes(v)) for c, v in todo])
        dim = store.vector_dim(s, collection_id, model)
    ids = np.fromiter((r.chunk_id for r in rows), dtype=np.int64, count=len(rows))
    return PgVectorIndex(db, collection_id, model, ids, dim)


def needs_query_vector(db: Database, project: str, name: str) -> str | None:
    """The gateway model a query must be embedded with first, or None (local model)."""
    info = get_collection(db, project, name)
    return None if info.embedding in dense.LOCAL_MODELS else info.embedding


def search(db: Database, project: str, name: str, query: str, top_k: int = 10, *,
           retriever: str = "hybrid", filters: dict[str, Any] | None = None,
           query_vector: Sequence[float] | None = None, explain: bool = False,
           ) -> SearchResult:
    """The ``top_k`` best chunks for ``query``; ``explain`` adds each part's ranking."""
    if not 1 <= top_k <= 1000:
        raise InvalidInput("top_k must be between 1 and 1000")
    chosen = RETRIEVERS.get(retriever)
    index = index_of(db, project, name)
    vector = None
    if query_vector is not None:
        vector = dense.normalise(np.asarray(query_vector, dtype=np.float32))
    q = Query(query, vector, index.mask(filters))

    def hits(found: Any) -> list[Hit]:
        out = []
        for rank, (position, score) in enumerate(zip(found.positions.tolist(),
                                                     found.scores.tolist(), strict=True), 1):
            r = index.rows[position]
            out.append(Hit(rank, float(score), r.chunk_id, r.doc_id, r.title, r.heading,
                           r.text, r.meta))
        return out

    result = SearchResult(name, retriever, index.version, hits(chosen.rank(index, q, top_k)))
    if explain:
        for part in getattr(chosen, "parts", ()):
            result.parts[part.name] = hits(part.rank(index, q, top_k))
    return result


def best_per_document(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The best-ranked chunk of each document, the first ``k`` documents."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.doc_id not in seen:
            seen.add(hit.doc_id)
            out.append(hit)
            if len(out) == k:
                break
    return out
