"""The chat fine-tuning format check, on its own (the API tests drive it over HTTP)."""

from __future__ import annotations

import doctest

import pytest

from triops.core.errors import InvalidInput
from triops.llm.files import _formats, check_chat_jsonl

BACKENDS_UNDER_TEST = ("sqlite",)


def test_docstring_examples_run():
    result = doctest.testmod(_formats)
    assert result.attempted > 0 and result.failed == 0


def test_counts_examples_and_skips_blank_lines():
    line = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    assert check_chat_jsonl([line, b"\n", line]) == 2


@pytest.mark.parametrize(("lines", "message"), [
    ([], "no training examples"),
    ([b"\xff\n"], "line 1: not UTF-8"),
    ([b"[1, 2]\n"], "line 1: expected an object"),
    ([b'{"messages": [{"role": "robot", "content": "x"}]}'], "message 0 needs a 'role'"),
    ([b'{"messages": [{"role": "assistant", "content": 3}]}'], "must be text"),
    ([b'{"messages": [{"role": "assistant"}]}'], "has no content"),
])
def test_refuses_with_the_line_and_reason(lines, message):
    with pytest.raises(InvalidInput, match=message):
        check_chat_jsonl(lines)
