"""A dataset version as chat fine-tuning JSONL, with personal data redacted first.

Each case whose inputs hold chat ``messages`` and that has an ``expected`` answer becomes
one training example: its messages, then the expected answer as the assistant's turn
(with ``system`` before them when given). Every text of every message goes through the
redacting guardrails (by default ``pii`` and ``credentials``, the ones the gateway uses
in ``redact`` mode) before it is written, so what leaves is what the gateway would let
through. Cases that cannot become an example are counted and named, never guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from triops.core.errors import InvalidInput
from triops.llm.files import check_example
from triops.llm.guardrails import build

DEFAULT_GUARDRAILS = ("pii", "credentials")


@dataclass
class Export:
    data: bytes = b""
    examples: int = 0
    redactions: int = 0
    skipped: list[str] = field(default_factory=list)  # "case 3: no expected answer"


class Redactor:
    """The named guardrails that can redact, applied in order to one text at a time."""

    def __init__(self, names: list[str] | tuple[str, ...]) -> None:
        self.guards = []
        for name in names:
            guard = build(name)
            if not getattr(guard, "redacts", False):
                raise InvalidInput(f"guardrail {name!r} cannot redact; use one that does "
                                   "(pii, credentials, toxicity)")
            self.guards.append(guard)
        self.count = 0

    def __call__(self, text: str) -> str:
        for guard in self.guards:
            findings = guard.check(text, None)
            if findings:
                self.count += len(findings)
                text = guard.redact(text, None, findings)
        return text


def _message(message: Any, redact: Redactor) -> dict[str, Any]:
    out = dict(message)
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = redact(content)
    elif isinstance(content, list):
        out["content"] = [{**part, "text": redact(part["text"])}
                          if isinstance(part, dict) and isinstance(part.get("text"), str)
                          else part for part in content]
    return out


def chat_jsonl(cases: list[Any], *, guardrails: list[str] | tuple[str, ...] = DEFAULT_GUARDRAILS,
               system: str | None = None) -> Export:
    """``cases``: rows with ``position``, ``inputs`` and ``expected`` (a version's cases)."""
    redact = Redactor(guardrails)
    export = Export()
    lines = []
    for case in cases:
        where = f"case {case.position}"
        messages = case.inputs.get("messages") if isinstance(case.inputs, dict) else None
        if not isinstance(messages, list) or not messages:
            export.skipped.append(f"{where}: its inputs hold no chat 'messages'")
            continue
        if case.expected is None or not str(case.expected).strip():
            export.skipped.append(f"{where}: no expected answer to learn")
            continue
        # A trailing answer is the one the expected answer corrects: it is replaced.
        last = messages[-1]
        turns = messages[:-1] if isinstance(last, dict) and last.get("role") == "assistant" \
            else list(messages)
        first = turns[0] if turns else None
        if system and not (isinstance(first, dict) and first.get("role") == "system"):
            turns = [{"role": "system", "content": system}, *turns]
        example = {"messages": [*turns, {"role": "assistant", "content": str(case.expected)}]}
        try:
            check_example(example, where)
        except InvalidInput as exc:
            export.skipped.append(exc.message)
            continue
        example["messages"] = [_message(m, redact) for m in example["messages"]]
        lines.append(json.dumps(example, ensure_ascii=False).encode())
        export.examples += 1
    export.redactions = redact.count
    export.data = b"\n".join(lines) + (b"\n" if lines else b"")
    return export
