"""The guardrail family: one protocol, the finding it reports, and the context it runs in.

Every guardrail is a class with a registry ``name`` and a ``check(text, context)``
returning findings; one that can mask what it found also has ``redact``. A check may
be a coroutine function when it has to call out (the topic guardrail embeds text
through the gateway); the engine awaits it then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

Stage = Literal["input", "output"]

#: Embeds texts; the engine builds one over the gateway's ``/v1/embeddings`` routes.
Embedder = Callable[[str, list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class Finding:
    """One thing a guardrail found: what, where in the text, and how sure it is.

    ``start``/``end`` are character offsets into the checked text; a finding about the
    text as a whole (an injection score, an off-topic verdict) spans all of it.
    """

    kind: str  # e.g. "email", "aws_access_key", "injection.override"
    start: int
    end: int
    score: float = 1.0
    message: str = ""


class Derived(Protocol):
    """What the checks of one request derive from its texts, derived once for all of them
    (``_derived.DerivedOnce``): each method answers what the function it names does."""

    def features(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``textmodel.features_of(texts)``."""
        ...

    def vectors(self, texts: list[str]) -> np.ndarray:
        """``word_vectors.embedder().vectors(texts)``."""
        ...

    def language(self, text: str) -> str:
        """``_language.guess(text)``."""
        ...


@dataclass
class Context:
    """Where a check runs: the stage, the route and key, how to reach embeddings, and
    what the request's rules derive from its texts once for all of them (``None``: the
    check derives its own)."""

    stage: Stage = "input"
    route: str = ""
    key_id: str = ""
    role: str = ""
    embed: Embedder | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    derived: Derived | None = None


@runtime_checkable
class Guardrail(Protocol):
    name: ClassVar[str]
    #: True when ``redact`` can mask what ``check`` found.
    redacts: ClassVar[bool]

    def check(self, text: str, context: Context) -> list[Finding] | Awaitable[list[Finding]]:
        ...


def mask(text: str, findings: Sequence[Finding], label: Callable[[Finding], str] | None = None
         ) -> str:
    """Replace each finding's characters with ``[KIND]``; overlapping findings merge.

    >>> mask("mail bob@example.com now", [Finding("email", 5, 20)])
    'mail [EMAIL] now'
    """
    label = label or (lambda f: f"[{f.kind.upper()}]")
    out, cursor = [], 0
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if finding.end <= cursor:
            continue  # inside a span already masked
        start = max(finding.start, cursor)
        out.append(text[cursor:start])
        if start == finding.start:
            out.append(label(finding))
        cursor = finding.end
    out.append(text[cursor:])
    return "".join(out)


def drop_overlaps(findings: Sequence[Finding], priority: dict[str, int]) -> list[Finding]:
    """Keep one finding per stretch of text: the higher priority, then the longer.

    A 16-digit card number also reads as a phone number; the card wins.
    """
    ranked = sorted(findings, key=lambda f: (-priority.get(f.kind, 0), -(f.end - f.start)))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
