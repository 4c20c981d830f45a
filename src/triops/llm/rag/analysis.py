"""Text to index terms: lower-cased words, stop words out, Snowball (Porter 2) stems.

One analyzer serves the lexical and the local dense side, so a query and the chunks it
is scored against are always cut the same way.

>>> ANALYZER.terms("The flows were turbulent, in 2 channels")
['flow', 'were', 'turbul', '2', 'channel']
"""

from __future__ import annotations

import re
import threading

import snowballstemmer

#: The stop words of Lucene's English analyzer (also bm25s' ``en`` list): short, so that
#: words like "not" or "between" that carry meaning in a query are kept.
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with"))

_WORD = re.compile(r"[^\W_]+")


class Analyzer:
    """Cuts text into stemmed terms; stems are memoised per word (a corpus repeats few
    thousand words millions of times, and the pure-Python stemmer is the slow part)."""

    def __init__(self) -> None:
        self._stems: dict[str, str] = {}
        self._local = threading.local()

    def _stemmer(self) -> snowballstemmer.stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:  # a Snowball stemmer is not safe to share between threads
            stemmer = self._local.stemmer = snowballstemmer.stemmer("english")
        return stemmer

    def terms(self, text: str) -> list[str]:
        stems = self._stems
        out: list[str] = []
        for word in _WORD.findall(text.lower()):
            if word in STOPWORDS:
                continue
            stem = stems.get(word)
            if stem is None:
                stem = self._stemmer().stemWord(word)
                if len(stems) < 2_000_000:
                    stems[word] = stem
            out.append(stem)
        return out


ANALYZER = Analyzer()
