"""Compiled linear models predict exactly what scikit-learn predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    SGDClassifier,
)
from sklearn.svm import LinearSVC

from triops.ml.serving.linear import compile_linear


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])


@pytest.mark.parametrize("make, data", [
    (lambda: LogisticRegression(max_iter=500), "cls2"),
    (lambda: LogisticRegression(max_iter=500), "cls3"),
    (lambda: SGDClassifier(random_state=0), "cls2"),
    (lambda: LinearRegression(), "reg"),
])
def test_compiled_predictions_equal_sklearn(make, data):
    if data == "reg":
        x, y = make_regression(n_samples=300, n_features=6, noise=3.0, random_state=0)
    else:
        x, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                                   n_classes=3 if data == "cls3" else 2, random_state=0)
    if data == "cls2":
        y = np.where(y == 1, "yes", "no")  # labels other than 0/1 come back as labels
    train, test = _frame(x[:200]), _frame(x[200:])
    model = make().fit(train, y[:200])
    compiled = compile_linear(model)
    assert compiled is not None
    for rows in (test.head(1), test):
        assert compiled.predict_matrix(rows.to_numpy()) == model.predict(rows).tolist()
        assert compiled.predict(rows[rows.columns[::-1]]) == model.predict(rows).tolist()
    # Values scikit-learn refuses go to scikit-learn, which refuses them.
    bad = test.head(2).copy()
    bad.iloc[0, 0] = np.inf
    with pytest.raises(ValueError):
        compiled.predict(bad)


def test_models_that_predict_otherwise_are_left_to_sklearn():
    x, y = make_regression(n_samples=100, n_features=4, n_targets=2, random_state=0)
    assert compile_linear(LinearRegression().fit(x, y)) is None  # two targets
    xc, yc = make_classification(n_samples=100, n_features=4, random_state=0)
    assert compile_linear(LinearSVC().fit(xc, yc)) is not None  # the mixin's predict
    assert compile_linear(object()) is None
