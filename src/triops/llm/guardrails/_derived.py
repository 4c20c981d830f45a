"""What the checks of one request derive from its texts, each derived once.

The rules of a request read the same texts one after another, and the model passes of
``injection`` and ``toxicity`` derive the same things from them: the hashed n-gram
features, the language guess, and (for a model with dense weights) the sentence vector.
The engine hands every check of one request the same ``DerivedOnce`` (``Context.derived``),
which keeps each of them per text, so the second model to ask reads what the first
computed: on a short chat turn, hashing the text a second time was about a sixth of the
four default rules' time.

Everything is keyed by the text itself: a text an earlier rule redacted is another
text, so no rule reads what was derived from words that are gone. A ``DerivedOnce`` lives
as long as the request that made it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from triops.llm import word_vectors
from triops.llm.guardrails._language import guess
from triops.llm.guardrails.textmodel import features_of

T = TypeVar("T")
B = TypeVar("B")


def _derive(cache: dict[str, T], texts: list[str], compute: Callable[[list[str]], B],
            rows: Callable[[B, int], list[T]]) -> B | None:
    """Compute, in one call, what ``cache`` lacks for ``texts`` and keep it per text;
    the computed batch itself when it is the one asked for (nothing to reassemble)."""
    missing = [text for text in dict.fromkeys(texts) if text not in cache]
    if not missing:
        return None
    batch = compute(missing)
    cache.update(zip(missing, rows(batch, len(missing)), strict=True))
    return batch if missing == texts else None


def _feature_rows(batch: tuple[np.ndarray, np.ndarray, np.ndarray], n: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    owner, index, values = batch
    # ``features_of`` sorts by text: each text's rows are one slice.
    bounds = np.searchsorted(owner, np.arange(n + 1)).tolist()
    return [(index[a:b], values[a:b]) for a, b in itertools.pairwise(bounds)]


def _vectors(texts: list[str]) -> np.ndarray:
    return word_vectors.embedder().vectors(texts)


class DerivedOnce:
    """``_base.Derived`` kept per text: ``features_of``'s rows, the sentence vector, the
    language guess.

    >>> derived = DerivedOnce()
    >>> derived.language("What is the capital of France?")
    'en'
    >>> owner, index, values = derived.features(["one text", "and another"])
    >>> owner.tolist() == sorted(owner.tolist()) and set(owner.tolist()) == {0, 1}
    True
    """

    def __init__(self) -> None:
        self._features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._languages: dict[str, str] = {}

    def features(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``features_of(texts)`` answers: (text, index, value) rows sorted by text."""
        batch = _derive(self._features, texts, features_of, _feature_rows)
        if batch is not None:
            return batch
        parts = [self._features[text] for text in texts]
        owner = np.repeat(np.arange(len(texts), dtype=np.int64), [len(i) for i, _ in parts])
        return (owner, np.concatenate([i for i, _ in parts]),
                np.concatenate([v for _, v in parts]))

    def vectors(self, texts: list[str]) -> np.ndarray:
        """What ``word_vectors.embedder().vectors(texts)`` answers."""
        batch = _derive(self._vectors, texts, _vectors, lambda matrix, _: list(matrix))
        if batch is not None:
            return batch
        return np.stack([self._vectors[text] for text in texts])

    def language(self, text: str) -> str:
        """What ``guess(text)`` answers."""
        if text not in self._languages:
            self._languages[text] = guess(text)
        return self._languages[text]
