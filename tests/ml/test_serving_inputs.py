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


def test_a_float_tensor_is_read_as_one_matrix_with_the_same_rows():
    """A flat FP64 [n, k] tensor of numbers becomes a float64 matrix; the rows, and what
    the signature check returns, are those of the value-by-value path (nested data)."""
    from types import SimpleNamespace

    import numpy as np

    from triops.ml.serving.inputs import from_tensors

    signature = [Column("a", "double"), Column("b", "float")]
    flat = SimpleNamespace(name="x", shape=[2, 2], datatype="FP64", data=[1, 2.5, -3, 4.0])
    nested = SimpleNamespace(name="x", shape=[2, 2], datatype="FP64",
                             data=[[1, 2.5], [-3, 4.0]])
    fast, slow = from_tensors([flat], signature), from_tensors([nested], signature)
    assert slow.matrix is None and fast.matrix is not None
    assert fast.rows == slow.rows == [[1.0, 2.5], [-3.0, 4.0]]
    assert np.array_equal(fast.matrix, np.array(slow.rows))
    assert check(fast, signature).rows == check(slow, signature).rows
    # Anything but numbers goes value by value, and is refused there: booleans too,
    # which read as the numbers 1.0 and 0.0 would.
    for data in ([1, True, 3, 4], [0.0, 2, 3, False], [1, None, 3, 4], [1, "2", 3, 4],
                 [1, [2], 3, 4], [1, {}, 3, 4]):
        odd = from_tensors([SimpleNamespace(name="x", shape=[2, 2], datatype="FP64",
                                            data=data)], signature)
        assert odd.matrix is None
        with pytest.raises(InvalidInput):
            check(odd, signature)
    # A signature with other types checks value by value.
    ints = [Column("a", "long"), Column("b", "double")]
    assert check(from_tensors([flat], ints), ints).rows == [[1, 2.5], [-3, 4.0]]
