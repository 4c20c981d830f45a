"""Nearest-neighbour search over a collection's unit vectors: exact, or faiss' IVF index.

Below ``APPROXIMATE_FROM`` chunks the search is exact (one matrix product: a few
milliseconds). From there on it is faiss' inverted-file index (``IndexIVFFlat``, inner
product): k-means cells over the vectors, and a query scans only the ``PROBES`` cells
nearest to it. faiss was chosen over graph indexes (HNSW: hnswlib, usearch) for the
build: training the cells and filing 100k vectors of 384 dimensions takes seconds
where an HNSW graph took minutes on the same busy cores, a search as deep as the
fusion's 1,000 costs about what a search of 10 does, and vectors can be added and
removed without a rebuild, so a changed collection keeps its trained cells.

An index holds the vectors of one model only: it is built per index version and keyed
by chunk id, so vectors of two models never meet in one index. On PostgreSQL with the
``vector`` extension, :class:`PgVectorIndex` searches a gateway model's vectors in the
database instead (``store/repos/rag_pgvector.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triops.llm.rag.lexical import top_k
from triops.store.engine import Database
from triops.store.repos import rag_pgvector

#: Chunks from which the approximate index is used; below, exact search is as fast.
APPROXIMATE_FROM = 20_000
#: Cells scanned per query, of about sqrt(chunks) cells.
PROBES = 16
#: Training vectors per cell (faiss warns below 39) and k-means rounds.
TRAIN_PER_CELL = 40
TRAIN_ROUNDS = 10
#: A kept index is retrained when the collection has grown this many times over since.
RETRAIN_GROWTH = 4


_BLAS = None


def one_blas_thread() -> Any:
    """BLAS limited to one thread for the span of a product. A matrix-vector product is
    bound by memory, so more threads gain little, and on busy cores they wait for each
    other: 5,000 × 256 took 38 ms with OpenBLAS' threads and 0.5 ms with one, on two
    cores shared with other work. A server serves queries in parallel threads anyway."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


_FAISS: Any = None


def _faiss() -> Any:
    """faiss, imported on first use (a small collection never needs it), with one
    OpenMP thread: a single query gains nothing from more, and on busy cores its
    threads waiting for each other put a 100k-chunk search's p99 at 3 ms against 0.8."""
    global _FAISS
    if _FAISS is None:
        import faiss

        faiss.omp_set_num_threads(1)
        _FAISS = faiss
    return _FAISS


class VectorIndex:
    """Unit vectors (rows in chunk-id order) with a search that returns row positions."""

    def __init__(self, vectors: np.ndarray, chunk_ids: np.ndarray,
                 previous: VectorIndex | None = None) -> None:
        self.vectors = vectors
        self.chunk_ids = chunk_ids
        self.ivf: Any = None
        self.trained_on = 0
        if len(vectors) >= APPROXIMATE_FROM and vectors.shape[1] > 0:
            self._build_ivf(previous)

    @property
    def approximate(self) -> bool:
        return self.ivf is not None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def _build_ivf(self, previous: VectorIndex | None) -> None:
        faiss = _faiss()
        n, dim = self.vectors.shape
        reusable = (previous is not None and previous.ivf is not None
                    and previous.vectors.shape[1] == dim
                    and n <= RETRAIN_GROWTH * previous.trained_on)
        if reusable:
            assert previous is not None
            # The same model's vectors of a chunk never change, so only the chunks that
            # came and went are filed or dropped; the old index keeps serving meanwhile.
            self.ivf = faiss.clone_index(previous.ivf)
            self.trained_on = previous.trained_on
            gone = np.setdiff1d(previous.chunk_ids, self.chunk_ids, assume_unique=True)
            if gone.size:
                self.ivf.remove_ids(gone.astype(np.int64))
            new = np.isin(self.chunk_ids, previous.chunk_ids, assume_unique=True, invert=True)
            if new.any():
                self.ivf.add_with_ids(self.vectors[new], self.chunk_ids[new])
            return
        cells = max(1, int(math.sqrt(n)))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = TRAIN_ROUNDS
        ivf.cp.seed = 0
        rng = np.random.default_rng(0)
        sample = rng.choice(n, size=min(n, TRAIN_PER_CELL * cells), replace=False)
        ivf.train(self.vectors[np.sort(sample)])
        ivf.add_with_ids(self.vectors, self.chunk_ids)
        ivf.nprobe = min(PROBES, cells)
        self.ivf, self.trained_on = ivf, n

    def search(self, vector: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the ``k`` nearest rows (by inner product) and their scores, best
        first; only rows where ``allowed`` (a boolean mask) is true."""
        k = min(k, len(self.vectors))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self.ivf is not None and (allowed is None or allowed.sum() >= APPROXIMATE_FROM):
            found = self._search_ivf(vector, k, allowed)
            if found[0].size == k or (allowed is None and found[0].size == len(self.vectors)):
                return found
        return self._search_exact(vector, k, allowed)

    def _search_ivf(self, vector: np.ndarray, k: int,
                    allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        params = None
        if allowed is not None:
            params = faiss.SearchParametersIVF(
                sel=faiss.IDSelectorBatch(self.chunk_ids[allowed]), nprobe=self.ivf.nprobe)
        scores, ids = self.ivf.search(vector[None, :].astype(np.float32), k, params=params)
        keep = ids[0] >= 0
        return (np.searchsorted(self.chunk_ids, ids[0][keep]).astype(np.int64),
                scores[0][keep])

    def _search_exact(self, vector: np.ndarray, k: int,
                      allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        with one_blas_thread():
            scores = self.vectors @ vector
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        best = top_k(scores, k)
        best = best[np.isfinite(scores[best])]
        return best, scores[best]


class PgVectorIndex:
    """A gateway model's vectors searched inside PostgreSQL by pgvector: the same
    ``search`` as :class:`VectorIndex`, with no copy of the vectors in memory."""

    approximate = False

    def __init__(self, db: Database, collection_id: str, model: str, chunk_ids: np.ndarray,
                 dim: int) -> None:
        self.db, self.collection_id, self.model = db, collection_id, model
        self.chunk_ids, self.dim = chunk_ids, dim

    def search(self, vector: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        only = None if allowed is None else self.chunk_ids[allowed].tolist()
        with self.db.read() as s:
            found = rag_pgvector.nearest(s, self.collection_id, self.model, vector, k, only)
        ids = np.asarray([c for c, _ in found], dtype=np.int64)
        positions = np.searchsorted(self.chunk_ids, ids)
        known = (positions < self.chunk_ids.size) & (
            self.chunk_ids[positions.clip(max=max(self.chunk_ids.size - 1, 0))] == ids)
        scores = np.asarray([s for _, s in found], dtype=np.float32)
        return positions[known].astype(np.int64), scores[known]
