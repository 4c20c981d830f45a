"""The chat fine-tuning JSONL format: one training example per line.

Each line is a JSON object whose ``messages`` is a list of chat messages, at least one of
them the assistant's (the part a model is trained to produce)::

    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}

Uploads for fine-tuning are checked against it before they are stored, so a job never
starts on a file it would reject halfway through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from triops.core.errors import InvalidInput

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def check_example(example: Any, where: str) -> None:
    """Raise :class:`InvalidInput` naming ``where`` if ``example`` is not a chat example.

    >>> check_example({"messages": [{"role": "user", "content": "2+2?"},
    ...                             {"role": "assistant", "content": "4"}]}, "line 1")
    >>> check_example({"messages": [{"role": "user", "content": "2+2?"}]}, "line 2")
    Traceback (most recent call last):
    ...
    triops.client.errors.InvalidInput: line 2: no assistant message to learn from
    """
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        raise InvalidInput(f"{where}: expected an object with a 'messages' list")
    messages = example["messages"]
    if not messages:
        raise InvalidInput(f"{where}: 'messages' is empty")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidInput(f"{where}: message {n} needs a 'role', one of "
                               f"{', '.join(sorted(ROLES))}")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidInput(f"{where}: message {n} 'content' must be text or a list of parts")
        if content is None and not message.get("tool_calls") and not message.get(
                "function_call"):
            raise InvalidInput(f"{where}: message {n} has no content")
    if not any(m["role"] == "assistant" for m in messages):
        raise InvalidInput(f"{where}: no assistant message to learn from")


def check_chat_jsonl(lines: Iterable[bytes]) -> int:
    """Check every line of a chat fine-tuning file; the number of examples it holds."""
    examples = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            example = json.loads(raw)
        except UnicodeDecodeError:
            raise InvalidInput(f"line {number}: not UTF-8 text") from None
        except ValueError as exc:
            raise InvalidInput(f"line {number}: not JSON ({exc.args[0]})") from None
        check_example(example, f"line {number}")
        examples += 1
    if examples == 0:
        raise InvalidInput("the file holds no training examples (one JSON object per line)")
    return examples
