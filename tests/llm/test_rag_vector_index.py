"""The dense side's vector index: faiss' IVF from APPROXIMATE_FROM chunks on, exact below,
with filters, and a kept index updated by the chunks that came and went."""

from __future__ import annotations

import numpy as np

from triops.llm.rag import vector_index
from triops.llm.rag.dense import normalise
from triops.llm.rag.vector_index import VectorIndex


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, dim))
    return normalise(centres[rng.integers(0, 12, n)] + 0.3 * rng.standard_normal((n, dim)))


def test_ivf_finds_what_exact_search_finds_and_honours_filters(monkeypatch):
    monkeypatch.setattr(vector_index, "APPROXIMATE_FROM", 500)
    vectors = _clustered(2000)
    ids = np.arange(10, 2010, dtype=np.int64)
    approx, exact = VectorIndex(vectors, ids), VectorIndex(vectors[:499], ids[:499])
    assert approx.approximate and not exact.approximate
    for row in (3, 700, 1999):
        positions, scores = approx.search(vectors[row], 5)
        assert positions[0] == row and abs(scores[0] - 1) < 1e-4
    positions, _ = exact.search(vectors[3], 5)
    assert positions[0] == 3 and list(positions) == sorted(
        positions, key=lambda p: -float(vectors[p] @ vectors[3]))
    allowed = np.zeros(2000, dtype=bool)
    allowed[::2] = True
    positions, _ = approx.search(vectors[701], 10, allowed)
    assert positions.size == 10 and allowed[positions].all() and 701 not in positions


def test_a_kept_index_drops_and_adds_chunks_without_retraining(monkeypatch):
    monkeypatch.setattr(vector_index, "APPROXIMATE_FROM", 500)
    vectors = _clustered(1500, seed=1)
    ids = np.arange(1, 1501, dtype=np.int64)
    old = VectorIndex(vectors[:1000], ids[:1000])
    # Chunks 1..200 deleted, 1001..1500 added: rows stay in chunk-id order.
    new = VectorIndex(vectors[200:], ids[200:], previous=old)
    assert new.ivf is not old.ivf and new.trained_on == old.trained_on
    assert new.ivf.ntotal == 1300 and old.ivf.ntotal == 1000  # the old one is untouched
    positions, _ = new.search(vectors[1400], 3)
    assert ids[200:][positions[0]] == 1401
    positions, _ = new.search(vectors[50], 3)  # a deleted chunk's vector finds others
    assert all(ids[200:][p] > 200 for p in positions)
