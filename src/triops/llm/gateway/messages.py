"""The shape of a chat message, checked before guardrails read it.

Guardrails read the text of a message wherever the OpenAI API carries it; a message with
an unknown role, or with text in a shape they do not read, could reach a lenient
upstream unchecked, so it is refused as OpenAI refuses it (400, naming the parameter).
"""

from __future__ import annotations

from typing import Any

from triops.core.errors import InvalidInput

#: The message roles OpenAI accepts.
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def invalid(message: str, param: str | None = None) -> InvalidInput:
    """A 400 in OpenAI's shape, naming the parameter at fault."""
    error = InvalidInput(message, code="invalid_request_error")
    error.param = param  # type: ignore[attr-defined]  # OpenAI's error shape names it
    return error


def check_message(index: int, message: dict[str, Any]) -> None:
    """A known role, and text only where guardrails look for it: a message whose text
    hides in an unexpected shape would reach a lenient upstream unchecked."""
    if message["role"] not in ROLES:
        raise invalid(f"invalid value for messages[{index}].role: {message['role']!r}; "
                      f"supported values are {', '.join(ROLES)}", f"messages[{index}].role")
    content = message.get("content")
    if not (content is None or isinstance(content, str) or (
            isinstance(content, list) and all(_textual(p, "text", "refusal") for p in content))):
        raise invalid(f"messages[{index}].content must be a string or an array of content "
                      "parts whose text is a string", f"messages[{index}].content")
    if not _textual(message, "refusal") or not _textual(message.get("function_call") or {},
                                                          "arguments"):
        raise invalid(f"messages[{index}]: refusal and function_call.arguments must be "
                      "strings", f"messages[{index}]")
    calls = message.get("tool_calls")
    if calls is not None and not (isinstance(calls, list) and all(
            isinstance(c, dict) and _textual(c.get("function") or {}, "arguments")
            for c in calls)):
        raise invalid(f"messages[{index}].tool_calls must be an array of calls whose "
                      "function arguments are strings", f"messages[{index}].tool_calls")


def _textual(part: Any, *fields: str) -> bool:
    """An object whose ``fields``, where present, are strings."""
    return isinstance(part, dict) and all(
        isinstance(part[f], str) for f in fields if part.get(f) is not None)
