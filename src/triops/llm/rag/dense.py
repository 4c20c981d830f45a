"""The dense side of retrieval: vectors for chunks and queries (searched by
:mod:`triops.llm.rag.vector_index`).

Three kinds of embedding model:

- ``lsa`` — the local default. Latent semantic analysis fitted on the collection itself
  (sublinear TF-IDF, then a truncated SVD to ``LSA_DIM`` dimensions, as scikit-learn's
  ``TruncatedSVD`` does, with scipy's ARPACK solver). It needs no weights from anywhere,
  so it works offline on a fresh machine; it learns which terms occur together in *this*
  collection, and it is refitted when the collection changes.
- ``wordllama`` — WordLlama's ``l2_supercat`` model (256 dimensions, MIT), whose weights
  and tokenizer ship inside the ``wordllama`` package: they are read from the package's
  own folder (:mod:`triops.llm.word_vectors`), so it works offline. A text's vector is
  the average of its tokens' vectors; computed when the index is built (nothing stored).
- ``gateway:<model>`` — any embedding model the gateway routes to (``/v1/embeddings``);
  the vectors are computed at ingest and stored per (chunk, model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from triops.llm import word_vectors

LOCAL_MODEL = "lsa"
WORDLLAMA = "wordllama"
#: Models computed in process, never through the gateway (no stored vectors).
LOCAL_MODELS = (LOCAL_MODEL, WORDLLAMA)
GATEWAY_PREFIX = "gateway:"
#: Dimensions of the local model (fewer on a collection too small for them); chosen with
#: the other defaults by cross-validation over query folds (docs/rag.md).
LSA_DIM = 128
#: Power iterations of the randomized SVD: 5 reaches ARPACK's top singular vectors
#: closely enough that retrieval quality does not change, in a fraction of the time.
SVD_ITERATIONS = 5


def check_model(name: str) -> str:
    """The model name, or ValueError saying what is accepted."""
    if name in LOCAL_MODELS:
        return name
    if name.startswith(GATEWAY_PREFIX) and len(name) > len(GATEWAY_PREFIX):
        return name
    raise ValueError(f"unknown embedding model {name!r}: use '{LOCAL_MODEL}' (local, fitted on "
                     f"the collection), '{WORDLLAMA}' (local, shipped in the wordllama "
                     f"package) or '{GATEWAY_PREFIX}<model>' (the gateway's embeddings)")


def normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class LsaModel:
    """TF-IDF + truncated SVD fitted on a collection's term counts."""

    def __init__(self, counts: sp.csr_matrix, dim: int = LSA_DIM) -> None:
        n, width = counts.shape
        df = np.diff(counts.tocsc().indptr)
        self.idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)  # scikit-learn's smooth idf
        tfidf = self._tfidf(counts)
        self.dim = max(0, min(dim, n - 1, width - 1))
        if self.dim == 0:
            self.components = np.zeros((0, width), dtype=np.float32)
            self.vectors = np.zeros((n, 0), dtype=np.float32)
            return
        self.components = _top_right_singular_vectors(tfidf, self.dim)
        self._by_term = np.ascontiguousarray(self.components.T)  # terms × dim
        self.vectors = normalise(np.asarray(tfidf @ self._by_term))

    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        weighted = counts.copy().astype(np.float32)
        weighted.data = (1 + np.log(weighted.data)) * self.idf[weighted.indices]
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        return (sp.diags(1 / np.maximum(norms, 1e-12)) @ weighted).tocsr()

    def embed(self, counts: sp.csr_matrix) -> np.ndarray:
        if self.dim == 0:
            return np.zeros((counts.shape[0], 0), dtype=np.float32)
        tfidf = self._tfidf(counts)
        # Row by row over the few terms each row has: a sparse-times-dense product would
        # copy the whole (terms × dim) matrix for one query.
        out = np.zeros((counts.shape[0], self.dim), dtype=np.float32)
        for i in range(tfidf.shape[0]):
            lo, hi = tfidf.indptr[i], tfidf.indptr[i + 1]
            out[i] = tfidf.data[lo:hi] @ self._by_term[tfidf.indices[lo:hi]]
        return normalise(out)


def _top_right_singular_vectors(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    """The ``k`` leading right singular vectors (k × columns), by randomized SVD with a
    fixed seed: the same collection always gives the same model."""
    rng = np.random.default_rng(0)
    width = min(k + 10, min(matrix.shape))
    basis = matrix @ rng.standard_normal((matrix.shape[1], width)).astype(np.float32)
    for _ in range(SVD_ITERATIONS):
        basis, _ = np.linalg.qr(basis)
        basis, _ = np.linalg.qr(matrix @ (matrix.T @ basis))
    basis, _ = np.linalg.qr(basis)
    small = np.asarray((matrix.T @ basis).T)  # width × columns
    _, _, vt = np.linalg.svd(small, full_matrices=False)
    return vt[:k].astype(np.float32)


class WordLlamaModel:
    """WordLlama's ``l2_supercat`` model, 256 dimensions, from
    :mod:`triops.llm.word_vectors` (the files the ``wordllama`` package ships, read once
    per process)."""

    @staticmethod
    def version() -> str:
        from importlib.metadata import version

        return f"{WORDLLAMA}-l2_supercat-256@{version('wordllama')}"

    @staticmethod
    def embed(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, word_vectors.DIM), dtype=np.float32)
        return normalise(word_vectors.embedder().vectors(texts))


def fingerprint(chunk_ids: np.ndarray) -> str:
    """A short digest of which chunks a fitted model saw: part of its index version."""
    return hashlib.sha256(np.ascontiguousarray(chunk_ids, dtype=np.int64).tobytes()
                          ).hexdigest()[:12]


def to_bytes(vector: list[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
