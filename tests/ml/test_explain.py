"""Attributions against Shapley values computed by brute force from their definition.

The reference enumerates every coalition of a small model's features and evaluates the
tree-path-dependent value function with Lundberg et al.'s recursive algorithm (follow
the row at a split on a feature in the coalition, else average the children by cover):
nothing of the code under test is shared with it.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest
from sklearn import ensemble, linear_model, tree

from triops.core.errors import InvalidInput
from triops.ml.explain import explain_frame
from triops.ml.serving.loaders import ModelHandle


def _expvalue(t, values, x, coalition, node=0):
    if t.children_left[node] == -1:
        return values[node]
    f = t.feature[node]
    left, right = t.children_left[node], t.children_right[node]
    if f in coalition:
        goes_left = np.float32(x[f]) <= t.threshold[node]
        return _expvalue(t, values, x, coalition, left if goes_left else right)
    cover = t.weighted_n_node_samples
    return (cover[left] * _expvalue(t, values, x, coalition, left)
            + cover[right] * _expvalue(t, values, x, coalition, right)) / cover[node]


def _brute_shap(trees_values, x, n_features):
    def f(coalition):
        return sum(_expvalue(t, v, x, coalition) for t, v in trees_values)

    phi = np.zeros(n_features)
    everyone = set(range(n_features))
    for i in range(n_features):
        others = everyone - {i}
        for k in range(n_features):
            w = factorial(k) * factorial(n_features - k - 1) / factorial(n_features)
            for s in combinations(sorted(others), k):
                phi[i] += w * (f(set(s) | {i}) - f(set(s)))
    return phi, f(set())


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    x["c"] = np.round(x["c"])  # ties and repeated splits on one feature
    y = (x["a"] + x["b"] * x["c"] - 0.5 * x["d"] > 0).astype(int)
    return x, y


def _handle(model):
    return ModelHandle(predict=model.predict, columns=None, format="skops", native=model)


def test_random_forest_probability_equals_brute_force():
    x, y = _data()
    rf = ensemble.RandomForestClassifier(n_estimators=4, max_depth=5, random_state=0).fit(x, y)
    got = explain_frame(_handle(rf), x.iloc[:3])
    assert got.method == "tree-path-dependent"
    assert got.output == "probability of class 1"
    trees = []
    for est in rf.estimators_:
        v = est.tree_.value[:, 0, :]
        trees.append((est.tree_, v[:, 1] / v.sum(axis=1) / len(rf.estimators_)))
    for r in range(3):
        phi, base = _brute_shap(trees, x.iloc[r].to_numpy(), 5)
        np.testing.assert_allclose(got.values[r], phi, atol=1e-12)
        assert got.base_values[r] == pytest.approx(base, abs=1e-12)
    # Local accuracy: base plus attributions is the model's probability.
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                               rf.predict_proba(x.iloc[:3])[:, 1], atol=1e-12)


def test_deep_paths_computed_per_row_equal_the_table(monkeypatch):
    x, y = _data(seed=1)
    dt = tree.DecisionTreeRegressor(random_state=0).fit(x, y + x["e"])  # unlimited depth
    tabled = explain_frame(_handle(dt), x.iloc[:20])
    import triops.ml.explain._treeshap as ts

    monkeypatch.setattr(ts, "TABLE_LIMIT", 0)
    monkeypatch.setattr(ts.PathForest.__init__, "__defaults__", (0.0, 0))
    direct = explain_frame(_handle(dt), x.iloc[:20])
    np.testing.assert_allclose(direct.values, tabled.values, atol=1e-12)
    phi, _ = _brute_shap([(dt.tree_, dt.tree_.value[:, 0, 0])], x.iloc[7].to_numpy(), 5)
    np.testing.assert_allclose(direct.values[7], phi, atol=1e-12)


@pytest.mark.parametrize("cls", [ensemble.GradientBoostingClassifier,
                                 ensemble.HistGradientBoostingClassifier,
                                 ensemble.GradientBoostingRegressor])
def test_boosting_explains_the_raw_score(cls):
    x, y = _data()
    x.iloc[::7, 1] = np.nan if cls is ensemble.HistGradientBoostingClassifier else x.iloc[::7, 1]
    model = cls(max_depth=3, random_state=0, **(
        {"max_iter": 20} if "Hist" in cls.__name__ else {"n_estimators": 20})).fit(x, y)
    got = explain_frame(_handle(model), x.iloc[:50])
    raw = model.decision_function(x.iloc[:50]) if hasattr(model, "classes_") \
        else model.predict(x.iloc[:50])
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1), raw, atol=1e-9)
    if cls is ensemble.GradientBoostingRegressor:
        trees = [(e.tree_, e.tree_.value[:, 0, 0] * model.learning_rate)
                 for e in model.estimators_[:, 0]]
        phi, _ = _brute_shap(trees, x.iloc[4].to_numpy(), 5)
        np.testing.assert_allclose(got.values[4], phi, atol=1e-12)


def test_multiclass_explains_the_chosen_class():
    x, y = _data()
    y3 = y + (x["e"] > 1).astype(int)
    gb = ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0).fit(x, y3)
    for k in (0, 2):
        got = explain_frame(_handle(gb), x.iloc[:10], target=k)
        np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                                   gb.decision_function(x.iloc[:10])[:, k], atol=1e-9)
    with pytest.raises(ValueError, match="not one of"):
        explain_frame(_handle(gb), x.iloc[:1], target=7)


def test_linear_model_is_coefficient_times_distance_from_the_mean():
    x, y = _data()
    lr = linear_model.LogisticRegression().fit(x, y)
    got = explain_frame(_handle(lr), x.iloc[:5], background=x)
    np.testing.assert_allclose(got.values, (x.iloc[:5] - x.mean()).to_numpy() * lr.coef_[0],
                               atol=1e-12)
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                               lr.decision_function(x.iloc[:5]), atol=1e-9)


def test_sampling_fallback_is_exact_for_an_additive_model_and_sums_for_any():
    x, y = _data()
    # An MLP is no tree and no linear model: the sampling explainer takes it.
    from sklearn.neural_network import MLPRegressor

    additive = linear_model.LinearRegression().fit(x, x["a"] * 2 - x["d"])
    got = explain_frame(_handle(additive), x.iloc[:3], background=x.iloc[:40],
                        method="sampling")
    np.testing.assert_allclose(got.values, (x.iloc[:3] - x.iloc[:40].mean()).to_numpy()
                               * additive.coef_, atol=1e-9)
    mlp = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(x, y)
    got = explain_frame(_handle(mlp), x.iloc[:3], background=x.iloc[:30])
    assert got.method == "sampling"
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                               mlp.predict(x.iloc[:3]), atol=1e-9)
    assert np.all(got.base_values == pytest.approx(mlp.predict(x.iloc[:30]).mean()))


def test_rows_must_hold_numeric_model_features():
    x, y = _data()
    dt = tree.DecisionTreeClassifier(max_depth=2).fit(x, y)
    with pytest.raises(InvalidInput, match="lack the model's features: e"):
        explain_frame(_handle(dt), x.drop(columns=["e"]))
    with pytest.raises(InvalidInput, match="numeric"):
        explain_frame(_handle(dt), x.assign(a="x"))


def test_cli_writes_one_row_per_input_row(tmp_path):
    import skops.io as sio
    from typer.testing import CliRunner

    from triops.cli.main import app

    x, y = _data()
    gb = ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0).fit(x, y)
    sio.dump(gb, tmp_path / "model.skops")
    x.iloc[:25].to_csv(tmp_path / "rows.csv", index=False)
    args = ["ml", "explain", "--data", str(tmp_path / "rows.csv"),
            "--output", str(tmp_path / "attr.csv")]
    done = CliRunner().invoke(app, [*args, "--model", str(tmp_path / "model.skops")],
                              terminal_width=200)
    assert done.exit_code == 0, done.output
    assert "25 rows explained (tree-path-dependent, raw score (log-odds))" in done.output
    attr = pd.read_csv(tmp_path / "attr.csv")
    assert list(attr.columns) == [*x.columns, "base_value"]
    np.testing.assert_allclose(attr.sum(axis=1), gb.decision_function(x.iloc[:25]), atol=1e-9)
    missing = CliRunner().invoke(app, [*args, "--model", str(tmp_path / "nope.skops")])
    assert isinstance(missing.exception, InvalidInput)
    assert "no model at" in missing.exception.message


def test_paths_padded_to_one_length_give_the_same_values(monkeypatch):
    from triops.ml.explain._treeshap import PathForest

    x, y = _data(seed=2)
    rf = ensemble.RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    got = explain_frame(_handle(rf), x.iloc[:30])
    assert got.values.shape == (30, 5)
    monkeypatch.setattr(PathForest.__init__, "__defaults__", (0.0, 1000))  # too small to pad
    apart = explain_frame(_handle(rf), x.iloc[:30])
    np.testing.assert_allclose(got.values, apart.values, atol=1e-12)
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                               rf.predict(x.iloc[:30]), atol=1e-12)


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("triops.ml.explain._paths", "triops.ml.explain._models",
                 "triops.ml.monitoring.fairness"):
        result = doctest.testmod(importlib.import_module(name), verbose=False)
        assert result.failed == 0 and result.attempted > 0, name


def test_subtree_tables_path_tables_and_per_row_paths_together_equal_brute_force(monkeypatch):
    from triops.ml.explain._sklearn_trees import forest_of
    from triops.ml.explain._subtree import SubtreeTables
    from triops.ml.explain._treeshap import PathForest

    x, y = _data(seed=1)
    dt = tree.DecisionTreeRegressor(random_state=0).fit(x, y + x["e"])  # depth 15
    monkeypatch.setattr(SubtreeTables.__init__, "__defaults__", (4,))  # 4-bit subtrees
    used = forest_of(dt)[0].subtrees.used
    monkeypatch.setattr(PathForest.__init__, "__defaults__", (0.0, used))
    first = forest_of(dt)[0].paths.groups[0]  # no path tabulated, so none padded
    budget = used + len(first.value) * 2 ** first.d * first.d
    monkeypatch.setattr(PathForest.__init__, "__defaults__", (0.0, budget))
    forest, _ = forest_of(dt)
    assert forest.subtrees.used > 0 and len(forest.subtrees.rest) > 0
    assert forest.paths.groups[0].table is not None
    assert any(g.table is None for g in forest.paths.groups)
    got = explain_frame(_handle(dt), x.iloc[:20])
    np.testing.assert_allclose(got.base_values + got.values.sum(axis=1),
                               dt.predict(x.iloc[:20]), atol=1e-12)
    for r in (3, 11):
        phi, _ = _brute_shap([(dt.tree_, dt.tree_.value[:, 0, 0])], x.iloc[r].to_numpy(), 5)
        np.testing.assert_allclose(got.values[r], phi, atol=1e-12)
