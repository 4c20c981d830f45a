"""A collection's in-memory index: lexical matrix, dense vector index, and what to filter on.

Built from the store's rows on first search and kept while the collection's revision
and embedding model stay the same; any write bumps the revision, so the next search
builds afresh — from the previous index of the same model where it can (a chunk's
vector under one model never changes, so only the chunks that came and went are
embedded and filed). The rows stay the truth: an index is never written back, and a
server that restarts rebuilds it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from triops.core.errors import InvalidInput
from triops.llm.rag import dense
from triops.llm.rag.analysis import ANALYZER
from triops.llm.rag.lexical import LexicalIndex, LexicalSettings, Vocabulary
from triops.llm.rag.vector_index import PgVectorIndex, VectorIndex
from triops.store.repos.rag import ChunkRow

#: Indexes kept in memory at once (one per collection); the least recently used goes first.
CACHE_SIZE = 8


@dataclass
class CollectionIndex:
    model: str
    version: str
    rows: list[ChunkRow]
    vocabulary: Vocabulary
    lexical: LexicalIndex
    #: The dense side's search: in memory (no dimensions when there is no dense side),
    #: or pgvector's.
    dense: VectorIndex | PgVectorIndex
    lsa: dense.LsaModel | None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_dense(self) -> bool:
        return self.dense.dim > 0

    @property
    def dim(self) -> int:
        return self.dense.dim

    def columns(self, text: str) -> np.ndarray:
        return self.vocabulary.columns(ANALYZER.terms(text))

    def local_query_vector(self, text: str) -> np.ndarray | None:
        """The query's vector under a local model; None for a gateway model (the caller
        embeds the query through the gateway)."""
        if self.lsa is not None:
            return self.lsa.embed(self.vocabulary.counts([ANALYZER.terms(text)]))[0]
        if self.model == dense.WORDLLAMA:
            return dense.WordLlamaModel.embed([text])[0]
        return None

    def mask(self, filters: dict[str, Any] | None) -> np.ndarray | None:
        """Chunks whose document matches every filter (None: no filter, all match)."""
        if not filters:
            return None
        tests = [(key, _condition(key, cond)) for key, cond in filters.items()]
        return np.fromiter(
            (all(test(row.doc_id if key == "doc_id" else row.meta.get(key))
                 for key, test in tests) for row in self.rows),
            dtype=bool, count=len(self.rows))


def _condition(key: str, cond: Any) -> Any:
    if not isinstance(cond, dict):
        return lambda value: value == cond
    if len(cond) != 1:
        raise InvalidInput(f"filter on '{key}' must hold one operator: $eq, $ne or $in")
    (op, operand), = cond.items()
    if op == "$eq":
        return lambda value: value == operand
    if op == "$ne":
        return lambda value: value != operand
    if op == "$in":
        if not isinstance(operand, list):
            raise InvalidInput(f"filter on '{key}': $in takes a list")
        return lambda value: _hashable(value) and value in operand
    raise InvalidInput(f"filter on '{key}': unknown operator {op!r}; known: $eq, $ne, $in")


def _hashable(value: Any) -> bool:
    return not isinstance(value, dict | list)


def chunk_text(row: ChunkRow) -> str:
    """What a chunk is indexed and embedded as: its title, heading path and text."""
    return f"{row.title}\n{row.heading}\n{row.text}"


def build(rows: list[ChunkRow], model: str, stored: dict[int, bytes] | None = None,
          settings: LexicalSettings | None = None, lsa_dim: int = dense.LSA_DIM,
          previous: CollectionIndex | None = None,
          in_database: PgVectorIndex | None = None) -> CollectionIndex:
    """An index of ``rows``; ``stored`` holds the chunk vectors of a gateway model, or
    ``in_database`` searches them; ``previous``, an older index of the same collection,
    lends what is still valid."""
    terms = [ANALYZER.terms(chunk_text(r)) for r in rows]
    vocabulary = Vocabulary(terms)
    counts = vocabulary.counts(terms)
    lexical = LexicalIndex(counts, settings or LexicalSettings())
    ids = np.fromiter((r.chunk_id for r in rows), dtype=np.int64, count=len(rows))
    if model == dense.LOCAL_MODEL:
        lsa = dense.LsaModel(counts, lsa_dim)
        version = f"lsa-{lsa.dim}@{dense.fingerprint(ids)}"
        return CollectionIndex(model, version, rows, vocabulary, lexical,
                               VectorIndex(lsa.vectors, ids), lsa)
    # The LSA model is refitted on every change, so only a fixed model's index is reused.
    kept = previous.dense if previous is not None and previous.model == model else None
    if not isinstance(kept, VectorIndex):
        kept = None
    if in_database is not None:
        return CollectionIndex(model, model, rows, vocabulary, lexical, in_database, None)
    if model == dense.WORDLLAMA:
        matrix, version = _wordllama_vectors(rows, ids, kept), dense.WordLlamaModel.version()
    else:
        matrix, version = _stored_vectors(rows, stored or {}), model
    return CollectionIndex(model, version, rows, vocabulary, lexical,
                           VectorIndex(matrix, ids, kept), None)


def _wordllama_vectors(rows: list[ChunkRow], ids: np.ndarray,
                       kept: VectorIndex | None) -> np.ndarray:
    matrix = np.zeros((len(rows), 256), dtype=np.float32)
    todo = np.ones(len(rows), dtype=bool)
    if kept is not None and kept.vectors.shape[1] == 256 and kept.chunk_ids.size:
        where = np.searchsorted(kept.chunk_ids, ids).clip(max=kept.chunk_ids.size - 1)
        known = kept.chunk_ids[where] == ids
        matrix[known] = kept.vectors[where[known]]
        todo = ~known
    positions = np.flatnonzero(todo)
    if positions.size:
        matrix[positions] = dense.WordLlamaModel.embed([chunk_text(rows[i]) for i in positions])
    return matrix


def _stored_vectors(rows: list[ChunkRow], stored: dict[int, bytes]) -> np.ndarray:
    dim = next((len(dense.from_bytes(v)) for v in stored.values()), 0)
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        blob = stored.get(row.chunk_id)
        if blob is not None and len(blob) == dim * 4:
            matrix[i] = dense.from_bytes(blob)
    return dense.normalise(matrix)


class IndexCache:
    """Indexes by (store, collection id), each valid for one (revision, model)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[int, str, CollectionIndex]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[str, str], threading.Lock] = {}

    def latest(self, key: tuple[str, str]) -> CollectionIndex | None:
        """The index kept for the collection, whatever its revision."""
        with self._lock:
            found = self._items.get(key)
            return None if found is None else found[2]

    def get(self, key: tuple[str, str], revision: int, model: str) -> CollectionIndex | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != revision or found[1] != model:
                return None
            self._items.move_to_end(key)
            return found[2]

    def put(self, key: tuple[str, str], revision: int, model: str,
            index: CollectionIndex) -> None:
        with self._lock:
            self._items[key] = (revision, model, index)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def builder_lock(self, key: tuple[str, str]) -> threading.Lock:
        """One build at a time per collection: concurrent searches wait for it."""
        with self._lock:
            return self._building.setdefault(key, threading.Lock())


CACHE = IndexCache()
