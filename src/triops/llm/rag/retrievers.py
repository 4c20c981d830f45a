"""The retriever family: one protocol, one registry, three built-ins.

A retriever ranks a collection index's chunks for a query. ``lexical`` is BM25 with
pseudo-relevance feedback, ``dense`` the cosine of the collection's embedding model,
``hybrid`` (the default) fuses the two by reciprocal rank fusion — each chunk scores
``sum(1 / (RRF_K + rank))`` over the lists it is in — which needs no calibration of one
score scale against the other. A package adds its own through the ``triops.retrievers``
entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from triops.core.registry import Registry
from triops.llm.rag.index import CollectionIndex
from triops.llm.rag.lexical import top_k, top_positive

#: Chosen with the other defaults by cross-validation over query folds (docs/rag.md).
RRF_K = 30
#: How deep each side's list goes into the fusion.
FUSION_DEPTH = 1000


@dataclass(frozen=True)
class Query:
    text: str
    #: The query's embedding when the collection's model is not the local one.
    vector: np.ndarray | None = None
    #: Chunks that may be returned (metadata filters); None: all.
    allowed: np.ndarray | None = None


@dataclass(frozen=True)
class Ranked:
    """Positions of chunks in the index, best first, with their scores."""

    positions: np.ndarray
    scores: np.ndarray


class Retriever(Protocol):
    name: str

    def rank(self, index: CollectionIndex, query: Query, k: int) -> Ranked: ...


RETRIEVERS: Registry[Retriever] = Registry("retriever", group="triops.retrievers",
                                           code="UNKNOWN_RETRIEVER")


class Lexical:
    name = "lexical"

    def rank(self, index: CollectionIndex, query: Query, k: int) -> Ranked:
        cols = index.columns(query.text)
        scores = index.lexical.scores(cols, query.allowed)
        # A chunk with none of the query's terms is no match.
        best = top_positive(scores, k, query.allowed)
        return Ranked(best, scores[best].astype(np.float64))


class Dense:
    name = "dense"

    def rank(self, index: CollectionIndex, query: Query, k: int) -> Ranked:
        if not index.has_dense:
            return Ranked(np.empty(0, dtype=np.int64), np.empty(0))
        vector = query.vector if query.vector is not None else index.local_query_vector(
            query.text)
        if vector is None or vector.shape[0] != index.dim:
            return Ranked(np.empty(0, dtype=np.int64), np.empty(0))
        positions, scores = index.dense.search(vector.astype(np.float32), k, query.allowed)
        return Ranked(positions, scores.astype(np.float64))


class Hybrid:
    name = "hybrid"

    def __init__(self, parts: tuple[Retriever, ...] = (Lexical(), Dense()),
                 rrf_k: int = RRF_K, depth: int = FUSION_DEPTH) -> None:
        self.parts, self.rrf_k, self.depth = parts, rrf_k, depth

    def rank(self, index: CollectionIndex, query: Query, k: int) -> Ranked:
        positions, shares = [], []
        for part in self.parts:
            found = part.rank(index, query, max(k, self.depth))
            positions.append(found.positions)
            shares.append(1 / (self.rrf_k + np.arange(1, found.positions.size + 1)))
        every = np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)
        if every.size == 0:
            return Ranked(np.empty(0, dtype=np.int64), np.empty(0))
        unique, where = np.unique(every, return_inverse=True)
        fused = np.bincount(where, weights=np.concatenate(shares))
        best = top_k(fused, k)  # ties: the lower chunk position first
        return Ranked(unique[best].astype(np.int64), fused[best])


for _builtin in (Lexical(), Dense(), Hybrid()):
    RETRIEVERS.register(_builtin)
