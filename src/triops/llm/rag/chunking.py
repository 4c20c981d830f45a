"""Structure-aware chunking: sections by heading, paragraphs packed to a token budget.

A chunk never spans two sections, so its heading path says what it is about; within a
section whole paragraphs are packed up to ``max_tokens``, a longer paragraph is cut into
windows, and each chunk after the first of a section repeats the last ``overlap`` tokens
of the one before it, so that a sentence cut at a boundary is whole in one of the two.
A token here is a whitespace-separated word: it needs no model's tokenizer, and for
English prose one word is about 1.3 model tokens.

>>> [c.heading for c in chunk("# Intro\\nhello world\\n\\n## Detail\\nmore words", 50, 0)]
['Intro', 'Intro > Detail']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
DEFAULT_MAX_TOKENS = 256
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class Settings:
    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= 8192:
            raise ValueError("max_tokens must be between 16 and 8192")
        if not 0 <= self.overlap < self.max_tokens // 2:
            raise ValueError("overlap must be at least 0 and less than half of max_tokens")

    def as_dict(self) -> dict[str, int]:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap}


@dataclass(frozen=True)
class Piece:
    heading: str
    text: str
    tokens: int


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) in order; text before any heading has path ""."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            sections[-1][1].append(" ".join(paragraph))
            paragraph.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            close_paragraph()
            level = len(match.group(1))
            path[:] = [p for p in path if p[0] < level] + [(level, match.group(2))]
            sections.append((" > ".join(p[1] for p in path), []))
        elif line.strip():
            paragraph.append(line.strip())
        else:
            close_paragraph()
    close_paragraph()
    return [(heading, paras) for heading, paras in sections if paras]


def chunk(text: str, max_tokens: int = DEFAULT_MAX_TOKENS,
          overlap: int = DEFAULT_OVERLAP) -> list[Piece]:
    pieces: list[Piece] = []
    for heading, paragraphs in _sections(text):
        current: list[str] = []
        fresh = 0  # words of ``current`` not carried over from the chunk before

        def emit(heading: str = heading) -> None:
            nonlocal current, fresh
            if fresh:
                pieces.append(Piece(heading, " ".join(current), len(current)))
                current = current[len(current) - overlap:] if overlap else []
                fresh = 0

        for paragraph in paragraphs:
            words = paragraph.split()
            if current and len(current) + len(words) > max_tokens:
                emit()
            for word in words:
                if len(current) >= max_tokens:
                    emit()
                current.append(word)
                fresh += 1
        emit()
    return pieces
