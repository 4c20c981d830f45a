"""BM25 over a sparse term matrix, with pseudo-relevance feedback.

The whole collection's BM25 weights are one CSC matrix (chunks × terms), so a query is
a sum of a few columns: the query terms' posting lists are gathered and summed per
chunk in one ``bincount``, and only chunks with a score enter the top-k selection. Pseudo-relevance feedback (the RM3 idea in BM25 weight space)
takes the best ``feedback_docs`` chunks of the first pass, adds their ``feedback_terms``
heaviest terms to the query with weight ``feedback_weight``, and scores again: it finds
chunks that say the same thing in other words, which plain BM25 misses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class LexicalSettings:
    k1: float = 1.2
    b: float = 0.75
    feedback_docs: int = 5  # 0 turns the feedback off
    feedback_terms: int = 20
    feedback_weight: float = 0.5


class Vocabulary:
    """Term → column; the lexical and the local dense side share one."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.ids: dict[str, int] = {}
        for terms in docs:
            for term in terms:
                if term not in self.ids:
                    self.ids[term] = len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self, docs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Term counts (docs × vocabulary); terms the vocabulary lacks are dropped."""
        indptr = [0]
        cols: list[int] = []
        vals: list[int] = []
        for terms in docs:
            for term, count in Counter(terms).items():
                col = self.ids.get(term)
                if col is not None:
                    cols.append(col)
                    vals.append(count)
            indptr.append(len(cols))
        return sp.csr_matrix((np.asarray(vals, dtype=np.float32), np.asarray(cols, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)),
                             shape=(len(docs), len(self.ids)))

    def columns(self, terms: Sequence[str]) -> np.ndarray:
        return np.asarray(sorted({self.ids[t] for t in terms if t in self.ids}), dtype=np.int64)


class LexicalIndex:
    def __init__(self, counts: sp.csr_matrix, settings: LexicalSettings) -> None:
        self.settings = settings
        n = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        average = float(lengths.mean()) if n else 0.0
        df = np.diff(counts.tocsc().indptr)
        # Lucene's BM25 idf: never negative, so a term in most chunks still counts a little.
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        coo = counts.tocoo()
        tf = coo.data
        norm = settings.k1 * (1 - settings.b + settings.b * lengths[coo.row] / max(average, 1e-9))
        weights = tf * (settings.k1 + 1) / (tf + norm) * self.idf[coo.col]
        csr = sp.csr_matrix((weights.astype(np.float32), (coo.row, coo.col)), shape=counts.shape)
        self.by_term = csr.tocsc()
        # Rows normalised to sum 1: each feedback chunk votes for its terms with one vote.
        sums = np.asarray(csr.sum(axis=1)).ravel()
        self.by_chunk = sp.diags(1 / np.maximum(sums, 1e-9)) @ csr
        self.by_chunk = self.by_chunk.tocsr()

    def _score(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        n = self.by_term.shape[0]
        if cols.size == 0:
            return np.zeros(n, dtype=np.float32)
        indptr = self.by_term.indptr
        starts, lengths = indptr[cols], indptr[cols + 1] - indptr[cols]
        total = int(lengths.sum())
        # Positions of every posting of the query's columns, without a loop over them.
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        postings = offsets + np.arange(total)
        weighted = self.by_term.data[postings] * np.repeat(weights.astype(np.float32), lengths)
        return np.bincount(self.by_term.indices[postings], weights=weighted,
                           minlength=n).astype(np.float32)

    def _term_votes(self, chunks: np.ndarray) -> np.ndarray:
        """The sum of ``chunks``' normalised term weights, per term."""
        indptr = self.by_chunk.indptr
        postings = np.concatenate([np.arange(indptr[c], indptr[c + 1]) for c in chunks])
        return np.bincount(self.by_chunk.indices[postings], weights=self.by_chunk.data[postings],
                           minlength=self.by_chunk.shape[1])

    def scores(self, cols: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """BM25 (with feedback when set) of every chunk for the query's term columns;
        chunks outside ``allowed`` (a boolean mask) take no part in the feedback."""
        first = self._score(cols, np.ones(cols.size, dtype=np.float32))
        s = self.settings
        if s.feedback_docs <= 0 or cols.size == 0:
            return first
        top = top_positive(first, s.feedback_docs, allowed)
        if top.size == 0:
            return first
        expansion = self._term_votes(top)
        keep = top_k(expansion, s.feedback_terms)
        keep = keep[expansion[keep] > 0]
        query = np.zeros(self.by_term.shape[1], dtype=np.float32)
        query[cols] = (1 - s.feedback_weight) / cols.size
        query[keep] += s.feedback_weight * expansion[keep] / expansion[keep].sum()
        used = np.flatnonzero(query)
        return self._score(used, query[used])


def top_positive(values: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` largest values above zero (and ``allowed``), largest first: a
    query's terms reach few chunks, so the selection runs over those only."""
    hit = values > 0
    if allowed is not None:
        hit &= allowed
    candidates = np.flatnonzero(hit)
    return candidates[top_k(values[candidates], k)]


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties: lower index first)."""
    k = min(k, values.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.lexsort((part, -values[part]))]
