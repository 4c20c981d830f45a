"""Compiled tree ensembles predict exactly what scikit-learn predicts; tampered trees are
refused before they serve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from triops.core.errors import InvalidInput
from triops.ml.serving.trees import check_trees, compile_trees


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])


@pytest.mark.parametrize("make, data", [
    (lambda: RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0), "cls3"),
    (lambda: RandomForestClassifier(n_estimators=10, random_state=1), "cls2"),
    (lambda: RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), "reg"),
    (lambda: ExtraTreesRegressor(n_estimators=10, random_state=0), "reg"),
    (lambda: DecisionTreeClassifier(random_state=0), "cls3"),
    (lambda: DecisionTreeRegressor(max_depth=5, random_state=0), "reg"),
])
def test_compiled_predictions_equal_sklearn(make, data):
    if data == "reg":
        x, y = make_regression(n_samples=600, n_features=8, random_state=0)
    else:
        x, y = make_classification(n_samples=600, n_features=8, n_informative=5,
                                   n_classes=3 if data == "cls3" else 2, random_state=0)
    train, test = _frame(x[:400]), _frame(x[400:])
    model = make().fit(train, y[:400])
    compiled = compile_trees(model)
    assert compiled is not None
    for rows in (test.head(1), test.head(7), test):
        assert compiled.predict(rows) == model.predict(rows).tolist()
        assert compiled.predict_matrix(rows.to_numpy()) == model.predict(rows).tolist()
    # Columns in another order are put back in the model's order.
    assert compiled.predict(test[test.columns[::-1]]) == model.predict(test).tolist()
    # Missing values take scikit-learn's own path.
    with_nan = test.head(3).copy()
    with_nan.iloc[0, 0] = np.nan
    if isinstance(model, (DecisionTreeClassifier, DecisionTreeRegressor,
                          RandomForestClassifier, RandomForestRegressor)):
        assert compiled.predict(with_nan) == model.predict(with_nan).tolist()


def test_other_models_are_not_compiled_but_their_trees_are_checked():
    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    boosted = GradientBoostingClassifier(n_estimators=5).fit(x, y)
    assert compile_trees(boosted) is None
    assert check_trees(boosted) == 5


def test_tampered_tree_is_refused():
    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    assert check_trees(model) == 3
    # Point a child far outside the node array, as a crafted skops file could.
    state = model.estimators_[1].tree_.__getstate__()
    nodes = state["nodes"].copy()
    inner = np.flatnonzero(nodes["left_child"] != -1)[0]
    nodes["left_child"][inner] = 10_000_000
    state["nodes"] = nodes
    model.estimators_[1].tree_.__setstate__(state)
    with pytest.raises(InvalidInput, match="out of range"):
        check_trees(model)
    # The same model through skops: refused at load, before anything predicts.
    from triops.ml.serving.loaders import NO_TRUST, _sklearn_handle, _skops_model

    loaded = _skops_model(sio.dumps(model), NO_TRUST, "model.skops")
    with pytest.raises(InvalidInput, match="out of range"):
        _sklearn_handle(loaded, None, "skops")


def test_a_tree_whose_nodes_share_a_child_is_left_to_sklearn():
    # Both children of the root pointing at one subtree passes ``check_trees`` (every
    # index in range and above its parent's) but is no tree to lay out breadth first.
    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["right_child"][0] = nodes["left_child"][0]
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    assert check_trees(model) == 1
    assert compile_trees(model) is None
