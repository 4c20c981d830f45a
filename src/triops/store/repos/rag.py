"""Knowledge collections: collections, documents with their chunks, and chunk vectors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.core.ids import new_id, now_ms
from triops.store.schema_rag import RagChunk, RagCollection, RagDocument, RagVector


@dataclass(frozen=True)
class NewChunk:
    heading: str
    text: str
    token_count: int


@dataclass(frozen=True)
class ChunkRow:
    """What an index is built from: one chunk with its document's fields."""

    chunk_id: int
    doc_id: str
    title: str
    heading: str
    text: str
    meta: dict[str, Any]


def create_collection(session: Session, project: str, name: str, embedding: str,
                      chunking: dict[str, Any], description: str, actor: str,
                      meta: dict[str, Any] | None = None) -> RagCollection:
    if find_collection(session, project, name) is not None:
        raise AlreadyExists(f"collection '{name}' exists already in project '{project}'")
    now = now_ms()
    row = RagCollection(id=new_id(), project=project, name=name, description=description,
                        embedding=embedding, chunking=dict(chunking), revision=0,
                        meta=dict(meta or {}),
                        created_by=actor, created_ms=now, updated_ms=now)
    session.add(row)
    session.flush()
    return row


def find_collection(session: Session, project: str, name: str,
                    lock: bool = False) -> RagCollection | None:
    """``lock``: hold the row until commit, so that two writers of one collection queue."""
    query = select(RagCollection).where(RagCollection.project == project,
                                        RagCollection.name == name)
    return session.scalar(query.with_for_update() if lock else query)


def collection_by_id(session: Session, project: str, collection_id: str) -> RagCollection:
    row = session.get(RagCollection, collection_id)
    if row is None or row.project != project:
        raise NotFound(f"no collection with id '{collection_id}' in project '{project}'")
    return row


def get_collection(session: Session, project: str, name: str,
                   lock: bool = False) -> RagCollection:
    row = find_collection(session, project, name, lock)
    if row is None:
        raise NotFound(f"collection '{name}' does not exist in project '{project}'")
    return row


def collection_state(session: Session, project: str, name: str) -> tuple[str, int, str]:
    """(id, revision, embedding model) of a collection: all a search needs to know that
    its cached index is current, read without loading the whole row."""
    found = session.execute(
        select(RagCollection.id, RagCollection.revision, RagCollection.embedding)
        .where(RagCollection.project == project, RagCollection.name == name)).first()
    if found is None:
        raise NotFound(f"collection '{name}' does not exist in project '{project}'")
    return found[0], found[1], found[2]


def list_collections(session: Session, project: str) -> list[RagCollection]:
    return list(session.scalars(select(RagCollection).where(RagCollection.project == project)
                                .order_by(RagCollection.name)))


def counts(session: Session, collection_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(documents, chunks) per collection id."""
    docs = dict(session.execute(
        select(RagDocument.collection_id, func.count()).where(
            RagDocument.collection_id.in_(collection_ids)).group_by(RagDocument.collection_id)
    ).all())
    chunks = dict(session.execute(
        select(RagDocument.collection_id, func.coalesce(func.sum(RagDocument.chunk_count), 0))
        .where(RagDocument.collection_id.in_(collection_ids))
        .group_by(RagDocument.collection_id)).all())
    return {c: (int(docs.get(c, 0)), int(chunks.get(c, 0))) for c in collection_ids}


def delete_collection(session: Session, collection: RagCollection) -> None:
    # Children first: SQLite enforces the cascade only with foreign keys on, and a bulk
    # delete keeps a large collection from loading every row into the session.
    session.execute(delete(RagVector).where(RagVector.chunk_id.in_(
        select(RagChunk.id).where(RagChunk.collection_id == collection.id))))
    session.execute(delete(RagChunk).where(RagChunk.collection_id == collection.id))
    session.execute(delete(RagDocument).where(RagDocument.collection_id == collection.id))
    session.delete(collection)
    session.flush()


def touch(collection: RagCollection) -> None:
    """Mark the collection changed: in-memory indexes of an older revision are stale."""
    collection.revision += 1
    collection.updated_ms = now_ms()


def find_document(session: Session, collection_id: str, doc_id: str) -> RagDocument | None:
    return session.scalar(select(RagDocument).where(
        RagDocument.collection_id == collection_id, RagDocument.doc_id == doc_id))


@dataclass(frozen=True)
class NewDocument:
    doc_id: str
    title: str
    source: str
    meta: dict[str, Any]
    content_hash: str
    chunks: Sequence[NewChunk]


def put_documents(session: Session, collection: RagCollection,
                  documents: Sequence[NewDocument]) -> list[str]:
    """Add or replace documents with their chunks, in a few statements for the whole
    batch; per document "added", "updated" or "unchanged" (same content hash: nothing
    is written)."""
    existing = {row.doc_id: row for row in session.scalars(select(RagDocument).where(
        RagDocument.collection_id == collection.id,
        RagDocument.doc_id.in_([d.doc_id for d in documents])))}
    now = now_ms()
    outcomes: list[str] = []
    changed: list[RagDocument] = []
    fresh: list[NewDocument] = []
    for doc in documents:
        row = existing.get(doc.doc_id)
        if row is None:
            outcomes.append("added")
            fresh.append(doc)
        elif row.content_hash == doc.content_hash:
            outcomes.append("unchanged")
        else:
            outcomes.append("updated")
            row.title, row.source, row.meta = doc.title, doc.source, dict(doc.meta)
            row.content_hash, row.chunk_count, row.updated_ms = (
                doc.content_hash, len(doc.chunks), now)
            changed.append(row)
    if changed:
        _drop_chunks(session, [row.id for row in changed])
    ids: dict[str, int] = {row.doc_id: row.id for row in changed}
    if fresh:
        inserted = session.execute(
            insert(RagDocument).returning(RagDocument.id, RagDocument.doc_id,
                                          sort_by_parameter_order=True),
            [{"collection_id": collection.id, "doc_id": d.doc_id, "title": d.title,
              "source": d.source, "meta": dict(d.meta), "content_hash": d.content_hash,
              "chunk_count": len(d.chunks), "created_ms": now, "updated_ms": now}
             for d in fresh])
        ids.update({doc_id: row_id for row_id, doc_id in inserted})
    session.flush()
    rows = [{"collection_id": collection.id, "document_id": ids[d.doc_id], "ordinal": i,
             "heading": c.heading, "text": c.text, "token_count": c.token_count}
            for d, outcome in zip(documents, outcomes, strict=True) if outcome != "unchanged"
            for i, c in enumerate(d.chunks)]
    if rows:
        session.execute(insert(RagChunk), rows)
    return outcomes


def _drop_chunks(session: Session, document_ids: Sequence[int]) -> None:
    chunk_ids = select(RagChunk.id).where(RagChunk.document_id.in_(document_ids))
    session.execute(delete(RagVector).where(RagVector.chunk_id.in_(chunk_ids)))
    session.execute(delete(RagChunk).where(RagChunk.document_id.in_(document_ids)))


def delete_documents(session: Session, collection: RagCollection,
                     doc_ids: Iterable[str]) -> int:
    rows = list(session.scalars(select(RagDocument.id).where(
        RagDocument.collection_id == collection.id, RagDocument.doc_id.in_(list(doc_ids)))))
    if rows:
        _drop_chunks(session, rows)
        session.execute(delete(RagDocument).where(RagDocument.id.in_(rows)))
    return len(rows)


def list_documents(session: Session, collection_id: str, offset: int = 0,
                   limit: int = 100) -> list[RagDocument]:
    return list(session.scalars(select(RagDocument).where(
        RagDocument.collection_id == collection_id).order_by(RagDocument.doc_id)
        .offset(offset).limit(limit)))


def document_chunks(session: Session, document_id: int) -> list[RagChunk]:
    return list(session.scalars(select(RagChunk).where(RagChunk.document_id == document_id)
                                .order_by(RagChunk.ordinal)))


def chunk_rows(session: Session, collection_id: str) -> list[ChunkRow]:
    """Every chunk of a collection with its document's id, title and metadata, in
    chunk-id order (the order an index numbers them in)."""
    result = session.execute(
        select(RagChunk.id, RagDocument.doc_id, RagDocument.title, RagChunk.heading,
               RagChunk.text, RagDocument.meta)
        .join(RagDocument, RagDocument.id == RagChunk.document_id)
        .where(RagChunk.collection_id == collection_id).order_by(RagChunk.id))
    return [ChunkRow(*row) for row in result]


def vectors(session: Session, collection_id: str, model: str) -> dict[int, bytes]:
    return dict(session.execute(
        select(RagVector.chunk_id, RagVector.vector)
        .join(RagChunk, RagChunk.id == RagVector.chunk_id)
        .where(RagChunk.collection_id == collection_id, RagVector.model == model)).all())


def vector_dim(session: Session, collection_id: str, model: str) -> int:
    """Dimensions of the collection's ``model`` vectors (0 when it has none yet)."""
    found = session.scalar(
        select(RagVector.dim).join(RagChunk, RagChunk.id == RagVector.chunk_id)
        .where(RagChunk.collection_id == collection_id, RagVector.model == model).limit(1))
    return int(found or 0)


def chunks_without_vectors(session: Session, collection_id: str, model: str, after: int,
                           limit: int) -> list[tuple[int, str, str, str]]:
    """(chunk id, title, heading, text) of chunks after chunk id ``after`` that have no
    vector of ``model`` yet, in id order: a caller walks the collection once."""
    have = select(RagVector.chunk_id).where(RagVector.chunk_id == RagChunk.id,
                                            RagVector.model == model).exists()
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(RagChunk.id, RagDocument.title, RagChunk.heading, RagChunk.text)
        .join(RagDocument, RagDocument.id == RagChunk.document_id)
        .where(RagChunk.collection_id == collection_id, RagChunk.id > after, ~have)
        .order_by(RagChunk.id).limit(limit))]


def put_vectors(session: Session, model: str, rows: Iterable[tuple[int, bytes, int]]) -> None:
    """Store (chunk id, float32 bytes, dim) vectors of ``model``."""
    values = [{"chunk_id": c, "model": model, "dim": d, "vector": v} for c, v, d in rows]
    if values:
        session.execute(insert(RagVector), values)
