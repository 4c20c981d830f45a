"""JSON Lines input: one JSON object per line, blank lines skipped, every fault named by
its line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from triops.core.errors import InvalidInput


def objects(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line's object with its line number (from 1); ``InvalidInput``
    naming ``name`` and the line for one that is not JSON or not an object.

    >>> list(objects(['{"a": 1}', "", '{"b": 2}'], "f.jsonl"))
    [(1, {'a': 1}), (3, {'b': 2})]
    """
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"{name} line {number} must be a JSON object")
        yield number, record
