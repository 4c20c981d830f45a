"""Topic allow and deny lists by embedding similarity.

Each topic is a short description ("medical diagnosis", "our billing and invoices").
The text and the topics are embedded through the gateway's own ``/v1/embeddings``
routes (the ``embedding_model`` option names the route alias), so any embedding model
an upstream serves will do; topic vectors are computed once per guardrail. A text whose
cosine similarity to a denied topic reaches ``threshold`` is reported; with an allow
list, so is a text that is not that close to any allowed topic.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from triops.llm.guardrails._base import Context, Finding
from triops.llm.guardrails._registry import register


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-12)
    return b @ a


@register
class Topics:
    name: ClassVar[str] = "topics"
    redacts: ClassVar[bool] = False

    def __init__(self, embedding_model: str, allow: list[str] | None = None,
                 deny: list[str] | None = None, threshold: float = 0.5) -> None:
        if not isinstance(embedding_model, str) or not embedding_model:
            raise ValueError("'embedding_model' must name an embedding route alias")
        if not allow and not deny:
            raise ValueError("give 'allow' or 'deny' topics (or both)")
        if not -1 <= float(threshold) <= 1:
            raise ValueError("threshold must be a cosine similarity in [-1, 1]")
        self.model = embedding_model
        self.allow, self.deny = list(allow or []), list(deny or [])
        self.threshold = float(threshold)
        self._vectors: np.ndarray | None = None

    async def check(self, text: str, context: Context) -> list[Finding]:
        if context is None or context.embed is None:
            raise ValueError("the topics guardrail needs the gateway's embeddings")
        topics = self.allow + self.deny
        if self._vectors is None:
            self._vectors = np.asarray(await context.embed(self.model, topics), dtype=float)
        (vector,) = await context.embed(self.model, [text])
        sims = cosine(np.asarray(vector, dtype=float), self._vectors)
        findings = []
        for index, topic in enumerate(self.deny, start=len(self.allow)):
            if sims[index] >= self.threshold:
                findings.append(Finding("topic.denied", 0, len(text), float(sims[index]),
                                        f"close to denied topic {topic!r} "
                                        f"(cosine {sims[index]:.2f})"))
        if self.allow:
            best = int(np.argmax(sims[:len(self.allow)]))
            if sims[best] < self.threshold:
                findings.append(Finding("topic.off_topic", 0, len(text), 1 - float(sims[best]),
                                        f"not close to any allowed topic (best "
                                        f"{self.allow[best]!r}, cosine {sims[best]:.2f})"))
        return findings
