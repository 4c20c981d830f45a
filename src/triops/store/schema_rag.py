"""Knowledge collections for retrieval: collections, their documents, chunks and vectors.

A collection belongs to a project and holds its chunking settings and the name of its
embedding model; ``revision`` grows with every change, so that an in-memory index built
from the rows knows when it is stale. Vectors are kept per (chunk, model): a collection
searches only the vectors of its current model, so two models' vectors never mix.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class RagCollection(Base):
    __tablename__ = "rag_collections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    #: "lsa" (fitted on the collection) or "gateway:<model>" (the gateway's /v1/embeddings)
    embedding: Mapped[str] = mapped_column(String(256))
    #: {"max_tokens": int, "overlap": int}
    chunking: Mapped[dict[str, Any]] = mapped_column()
    revision: Mapped[int] = mapped_column(Integer, default=0)
    #: What the OpenAI vector-store API keeps on a store (its ``metadata``).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ux_rag_collections_name", "project", "name", unique=True),)


class RagDocument(Base):
    __tablename__ = "rag_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("rag_collections.id", ondelete="CASCADE"))
    #: The caller's id of the document (a jsonl record's ``_id``, a file's name).
    doc_id: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(512), default="")
    meta: Mapped[dict[str, Any]] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ux_rag_documents_doc", "collection_id", "doc_id", unique=True),)


class RagChunk(Base):
    __tablename__ = "rag_chunks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("rag_collections.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("rag_documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    #: The headings above the chunk, joined by " > " ("" for none).
    heading: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_rag_chunks_collection", "collection_id", "id"),
        Index("ix_rag_chunks_document", "document_id", "ordinal"),
    )


class RagVector(Base):
    __tablename__ = "rag_vectors"

    chunk_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("rag_chunks.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    #: float32, little-endian
    vector: Mapped[bytes] = mapped_column(LargeBinary)
