"""The chat messages a span carries, in whichever convention its producer wrote them.

A conversation view needs each trace's question and answer. They arrive as:

- a list of ``{"role", "content"}`` (triops' gateway: ``llm.input_messages``,
  ``llm.output_messages``);
- OpenInference's flattened attributes (``llm.input_messages.0.message.role``...);
- GenAI's ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON text, content in
  ``parts``), the older ``gen_ai.prompt.0.role`` / ``gen_ai.completion.0.content``;
- plain ``input.value`` / ``output.value`` (an agent's or chain's input and output).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triops.llm.spans import Span, SpanKind

#: A message longer than this is cut for display; the span keeps the whole text.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Message:
    role: str
    content: str


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts (OpenAI) or GenAI parts
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                texts.append(str(part.get("text") or part.get("content") or ""))
            else:
                texts.append(str(part))
        return "".join(texts)
    if isinstance(content, Mapping):
        return str(content.get("text") or content.get("content") or json.dumps(content))
    return str(content)


def _message(raw: Any, default_role: str) -> Message | None:
    if isinstance(raw, Mapping):
        inner = raw.get("message") if isinstance(raw.get("message"), Mapping) else raw
        role = str(inner.get("role") or default_role)
        content = inner.get("content")
        if content is None and "parts" in inner:
            content = inner["parts"]
        if content is None and inner.get("tool_calls"):
            content = json.dumps(inner["tool_calls"], ensure_ascii=False)
        return Message(role, _text(content)[:MAX_CHARS])
    if isinstance(raw, str):
        return Message(default_role, raw[:MAX_CHARS])
    return None


def _listed(value: Any, default_role: str) -> list[Message] | None:
    """A list of messages, or JSON text holding one; None if it is neither."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if not stripped.startswith(("[", "{")):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping):
        value = value.get("messages", [value])
    if not isinstance(value, list):
        return None
    out = [_message(m, default_role) for m in value]
    return [m for m in out if m is not None] or None


def _flattened(attrs: Mapping[str, Any], prefix: str, role_key: str, content_key: str
               ) -> list[Message] | None:
    """``prefix.<i>.<role_key>`` / ``prefix.<i>.<content_key>`` pairs, in index order."""
    found: dict[int, dict[str, Any]] = {}
    start = prefix + "."
    for key, value in attrs.items():
        if not key.startswith(start):
            continue
        index, _, rest = key[len(start):].partition(".")
        if index.isdigit() and rest in (role_key, content_key):
            found.setdefault(int(index), {})[rest] = value
    if not found:
        return None
    return [Message(str(m.get(role_key) or ""), _text(m.get(content_key))[:MAX_CHARS])
            for _, m in sorted(found.items())]


def _side(attrs: Mapping[str, Any], side: str) -> list[Message] | None:
    """The input (``side="input"``) or output messages of one span's attributes."""
    role = "user" if side == "input" else "assistant"
    genai_old = "prompt" if side == "input" else "completion"
    for key in (f"llm.{side}_messages", f"gen_ai.{side}.messages"):
        if key in attrs and (found := _listed(attrs[key], role)):
            return found
    for prefix, role_key, content_key in (
            (f"llm.{side}_messages", "message.role", "message.content"),
            (f"gen_ai.{genai_old}", "role", "content")):
        if found := _flattened(attrs, prefix, role_key, content_key):
            return found
    for key in (f"gen_ai.{genai_old}", f"{side}.value"):
        value = attrs.get(key)
        if value is None or value == "":
            continue
        return _listed(value, role) or [Message(role, _text(value)[:MAX_CHARS])]
    return None


def exchange(spans: list[Span]) -> tuple[list[Message], list[Message]]:
    """What was asked and what was answered in one trace.

    The root's ``input.value``/``output.value`` when it has them (the application's own
    view of the turn); otherwise the first model call's input and the last one's output.
    Of a chat history sent as input, only the part after the last assistant message is
    the turn's own: earlier turns already appear in their own traces.
    """
    roots = [s for s in spans if s.parent_span_id is None] or spans[:1]
    llm = sorted((s for s in spans if s.kind is SpanKind.llm), key=lambda s: s.start_ns)
    asked: list[Message] = []
    answered: list[Message] = []
    for span in [*roots, *llm]:
        asked = asked or (_side(span.attributes, "input") or [])
    for span in [*roots, *reversed(llm)]:
        answered = answered or (_side(span.attributes, "output") or [])
    last_reply = max((i for i, m in enumerate(asked) if m.role == "assistant"), default=-1)
    return asked[last_reply + 1:], answered
