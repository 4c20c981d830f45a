"""pgvector: the nearest chunks computed inside PostgreSQL, when its ``vector`` extension
is installed in the database.

The vectors of record stay in ``rag_vectors`` (float32 blobs, on every backend). Where
``CREATE EXTENSION vector`` has been run, a gateway model's vectors are also kept in
``rag_pgvectors`` (one ``vector`` column, created here on first use, rows dropped with
their chunk) and a dense search is one ``ORDER BY embedding <=> query LIMIT k`` there,
so the server holds no copy of them. That is exact search inside the database; an
operator who wants pgvector's HNSW index adds one per model (the column has no fixed
dimension, so the index is on a cast), e.g. for a 1,536-dimension model::

    CREATE INDEX ON rag_pgvectors
        USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
        WHERE model = 'gateway:text-embedding-3-small';

Without the extension (and on SQLite) nothing here is used: the dense side searches the
vectors in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

TABLE = "rag_pgvectors"


def available(session: Session) -> bool:
    """Whether this store is PostgreSQL with the ``vector`` extension installed."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return session.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first() is not None


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"


def put(session: Session, model: str, rows: Iterable[tuple[int, np.ndarray]]) -> None:
    """Keep (chunk id, vector) rows of ``model`` in the pgvector table."""
    session.execute(text(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " chunk_id BIGINT NOT NULL REFERENCES rag_chunks(id) ON DELETE CASCADE,"
        " model VARCHAR(256) NOT NULL, embedding vector NOT NULL,"
        " PRIMARY KEY (chunk_id, model))"))
    values = [{"chunk_id": c, "model": model, "embedding": _literal(v)} for c, v in rows]
    if values:
        session.execute(text(
            f"INSERT INTO {TABLE} (chunk_id, model, embedding) "
            "VALUES (:chunk_id, :model, CAST(:embedding AS vector)) "
            "ON CONFLICT (chunk_id, model) DO NOTHING"), values)


def missing(session: Session, collection_id: str, model: str) -> list[tuple[int, bytes]]:
    """(chunk id, float32 blob) of the collection's ``model`` vectors not yet in the
    pgvector table: those stored before the extension was installed."""
    put(session, model, [])  # the table, if this is its first use
    return [(c, v) for c, v in session.execute(text(
        f"SELECT v.chunk_id, v.vector FROM rag_vectors v "
        f"JOIN rag_chunks c ON c.id = v.chunk_id "
        f"LEFT JOIN {TABLE} p ON p.chunk_id = v.chunk_id AND p.model = v.model "
        f"WHERE c.collection_id = :cid AND v.model = :model AND p.chunk_id IS NULL"),
        {"cid": collection_id, "model": model})]


def nearest(session: Session, collection_id: str, model: str, vector: np.ndarray, k: int,
            only: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the ``k`` chunks nearest to ``vector``, best first; ``only``
    restricts them to those chunk ids (metadata filters)."""
    where = "c.collection_id = :cid AND p.model = :model"
    params: dict[str, object] = {"cid": collection_id, "model": model,
                                 "q": _literal(vector), "k": k}
    query = (f"SELECT p.chunk_id, 1 - (p.embedding <=> CAST(:q AS vector)) FROM {TABLE} p "
             f"JOIN rag_chunks c ON c.id = p.chunk_id WHERE {where}"
             "{only} ORDER BY p.embedding <=> CAST(:q AS vector) LIMIT :k")
    if only is None:
        statement = text(query.format(only=""))
    else:
        statement = text(query.format(only=" AND p.chunk_id IN :only")).bindparams(
            bindparam("only", expanding=True))
        params["only"] = list(only)
    return [(int(c), float(s)) for c, s in session.execute(statement, params)]
