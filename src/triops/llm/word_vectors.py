"""Sentence vectors from WordLlama's token embeddings, read offline from its package.

The injection model's semantic features and the RAG ``wordllama`` embedding model both
come from here.

The ``wordllama`` wheel (MIT) ships the 256-dimensional ``l2_supercat`` token
embeddings and the Llama-2 tokenizer (a 32,000-piece vocabulary that splits German and
other languages into subwords too). A text's vector is the mean of its tokens'
embeddings, scaled to unit length — what ``WordLlama.embed(..., norm=True)`` computes.

The files are opened here directly rather than through ``WordLlama.load()``: version
0.4.0.post1 looks for its tokenizer in a ``tokenizer/`` folder while the wheel has it in
``tokenizers/``, so ``load()`` downloads it from Hugging Face, and importing the package
calls ``logging.basicConfig`` on the root logger. Finding the package does not import it.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: What a model trained on these vectors records, and what ``load`` checks it against.
NAME = "wordllama l2_supercat 256"
DIM = 256


@dataclass(frozen=True)
class SentenceEmbedder:
    tokenizer: object  # tokenizers.Tokenizer
    table: np.ndarray  # (vocabulary, DIM) float32

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's vector, the unit-length mean of its token vectors (zeros for no
        tokens), as rows of one (len(texts), DIM) float32 matrix, pooled with one
        ``reduceat``. (``encode_batch`` costs as much CPU here and hands the work to a
        thread pool, which only adds latency beside a server's threads.)"""
        out = np.zeros((len(texts), DIM), np.float32)
        encode = self.tokenizer.encode  # type: ignore[attr-defined]
        ids = [encode(text, add_special_tokens=False).ids for text in texts]
        rows = np.array([row for row, i in enumerate(ids) if i], np.int64)
        if not rows.size:
            return out
        lengths = np.array([len(ids[row]) for row in rows], np.int64)
        table_rows = self.table[np.fromiter(itertools.chain.from_iterable(ids), np.int64)]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        means = np.add.reduceat(table_rows, starts, axis=0) / lengths[:, None].astype(np.float32)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        out[rows] = np.divide(means, norms, out=means, where=norms > 0)
        return out


@functools.cache
def embedder() -> SentenceEmbedder:
    """The embedder, loaded once per process (about 0.2 s, 33 MB of memory)."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ValueError("WordLlama's vectors need the 'wordllama' package "
                         "(a dependency of triops): pip install wordllama")
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    root = Path(spec.origin).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    table = load_file(str(root / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"]
    return SentenceEmbedder(tokenizer, np.ascontiguousarray(table, dtype=np.float32))
