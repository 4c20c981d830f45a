"""Request rows checked against a model's signature: the refusal names what was sent."""

from __future__ import annotations

import pytest

from triops.core.errors import InvalidInput
from triops.ml.serving.inputs import Table, check
from triops.ml.serving.loaders import Column

SIGNATURE = [Column("age", "double"), Column("plan", "string")]


@pytest.mark.parametrize("value, shown", [
    (None, "got null"),
    ("old", 'got string "old"'),
    (True, "got boolean true"),
    ([1, 2], "got array [1, 2]"),
])
def test_a_wrong_value_is_named_as_json(value, shown):
    with pytest.raises(InvalidInput) as caught:
        check(Table(["age", "plan"], [[value, "basic"]]), SIGNATURE)
    assert caught.value.message == f"field 'age' (row 0): expected double, {shown}"


def test_without_a_signature_only_scalars_pass():
    with pytest.raises(InvalidInput, match=r"got object \{\"a\": 1\}$"):
        check(Table(["x"], [[{"a": 1}]]), None)
