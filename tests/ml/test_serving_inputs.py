"""Request rows checked against a model's signature (a refusal names what was sent), and
the output type a model declares."""

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


def test_the_output_type_comes_from_the_signature_or_the_model():
    from tests.ml import serving_models as sm
    from triops.ml.serving.loaders import _sklearn_handle, signature_output_type

    assert signature_output_type({"signature": {"outputs": '[{"type": "long"}]'}}) == "long"
    tensor = '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
    assert signature_output_type({"signature": {"outputs": tensor}}) == "double"
    assert signature_output_type({"signature": {"outputs": "not json"}}) is None
    assert signature_output_type({}) is None
    assert _sklearn_handle(sm.classifier(), None, "skops").output_type == "long"
    assert _sklearn_handle(sm.regressor(), None, "skops").output_type == "double"
