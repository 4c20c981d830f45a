"""Drift tests, the drift report, quality and performance checks."""

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance
from sklearn import metrics as skm

from triops.core.errors import InvalidInput
from triops.ml.monitoring import drift, drift_report, performance, quality_report, report
from triops.ml.monitoring.drift import ColumnSample
from triops.ml.monitoring.quality import QualityLimits

rng = np.random.default_rng(7)


def _num(a):
    return ColumnSample(np.asarray(a, dtype=float), "numeric")


def test_every_test_is_registered_and_follows_the_protocol():
    assert set(drift.REGISTRY.names()) == {"psi", "ks", "chisquare", "jensenshannon", "wasserstein"}
    for name in drift.REGISTRY.names():
        assert isinstance(drift.REGISTRY.get(name), drift.DriftTest)


def test_registering_a_user_test_makes_it_usable_by_name():
    class MeanShift:
        name, kinds, default_threshold, higher_is_drift = "meanshift", ("numeric",), 0.5, True

        def score(self, reference, current):
            return abs(current.values.mean() - reference.values.mean())

    drift.register(MeanShift())
    try:
        ref = {"x": rng.normal(0, 1, 2000)}
        r = drift_report(ref, {"x": rng.normal(2, 1, 2000)}, method="meanshift")
        assert r.columns[0].test == "meanshift" and r.columns[0].drifted
    finally:
        drift.REGISTRY.unregister("meanshift")
    with pytest.raises(TypeError):
        drift.register(object())


def test_wasserstein_matches_scipy_normalised_by_reference_std():
    a, b = rng.normal(0, 2, 3000), rng.normal(0.5, 2, 3000)
    expected = wasserstein_distance(a, b) / np.std(a)
    assert drift.REGISTRY.get("wasserstein").score(_num(a), _num(b)) == pytest.approx(expected)


def test_jensen_shannon_matches_scipy_on_categories():
    ref = ColumnSample(np.array([0] * 50 + [1] * 30 + [2] * 20), "categorical", 3)
    cur = ColumnSample(np.array([0] * 20 + [1] * 30 + [2] * 50), "categorical", 3)
    expected = jensenshannon([0.5, 0.3, 0.2], [0.2, 0.3, 0.5])
    assert drift.REGISTRY.get("jensenshannon").score(ref, cur) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["psi", "ks", "wasserstein", "jensenshannon"])
def test_numeric_tests_flag_a_shift_and_pass_the_same_distribution(name):
    test = drift.REGISTRY.get(name)
    same = test.score(_num(rng.normal(0, 1, 5000)), _num(rng.normal(0, 1, 5000)))
    shifted = test.score(_num(rng.normal(0, 1, 5000)), _num(rng.normal(1, 1, 5000)))
    assert not drift.drifted(test, same, test.default_threshold)
    assert drift.drifted(test, shifted, test.default_threshold)


@pytest.mark.parametrize("name", ["psi", "chisquare", "jensenshannon"])
def test_categorical_tests_flag_a_new_mix(name):
    test = drift.REGISTRY.get(name)
    ref = ColumnSample(rng.choice(3, 5000, p=[0.6, 0.3, 0.1]), "categorical", 3)
    same = ColumnSample(rng.choice(3, 5000, p=[0.6, 0.3, 0.1]), "categorical", 3)
    moved = ColumnSample(rng.choice(3, 5000, p=[0.2, 0.3, 0.5]), "categorical", 3)
    assert not drift.drifted(test, test.score(ref, same), test.default_threshold)
    assert drift.drifted(test, test.score(ref, moved), test.default_threshold)


def test_report_picks_tests_by_type_and_size_and_flags_only_shifted_columns():
    n = 4000
    ref = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n),
                        "plan": rng.choice(["free", "pro", "team"], n),
                        "flag": rng.choice([0, 1], n)})
    cur = ref.copy()
    cur["age"] = rng.normal(55, 10, n)
    cur["plan"] = rng.choice(["free", "pro", "team"], n, p=[0.1, 0.1, 0.8])
    big = drift_report(ref, cur)
    assert {c.column: c.test for c in big.columns} == {
        "age": "wasserstein", "income": "wasserstein", "plan": "jensenshannon",
        "flag": "jensenshannon"}
    assert sorted(big.drifted_columns) == ["age", "plan"]
    assert big.share_drifted == 0.5 and big.dataset_drifted
    small = drift_report(ref.iloc[:500], cur.iloc[:500])
    assert {c.column: c.test for c in small.columns}["age"] == "ks"
    assert {c.column: c.test for c in small.columns}["plan"] == "chisquare"
    assert "age" in small.drifted_columns


def test_report_handles_missing_values_category_dtype_and_overrides():
    ref = pd.DataFrame({"x": [1.0, np.nan] * 1000, "c": pd.Categorical(["a", "b"] * 1000)})
    cur = pd.DataFrame({"x": [1.0, 2.0] * 1000, "c": pd.Categorical(["a", "z"] * 1000)})
    r = drift_report(ref, cur, tests={"x": "psi"}, thresholds={"c": 0.9})
    assert r.column("x").test == "psi" and r.column("x").n_reference == 1000
    assert r.column("c").threshold == 0.9 and not r.column("c").drifted


def test_report_refuses_bad_input_precisely():
    with pytest.raises(InvalidInput, match="share no column"):
        drift_report({"a": [1, 2]}, {"b": [1, 2]})
    with pytest.raises(InvalidInput, match="at least one row"):
        drift_report({"a": []}, {"a": [1]})
    with pytest.raises(InvalidInput, match="unknown drift test"):
        drift_report({"a": [1.0] * 10}, {"a": [1.0] * 10}, method="nope")
    with pytest.raises(InvalidInput, match="does not apply"):
        drift_report({"c": ["x", "y"] * 5}, {"c": ["x"] * 10}, method="wasserstein")


def test_quality_finds_missing_type_errors_out_of_range_and_unseen():
    ref = pd.DataFrame({"age": np.arange(20, 80, dtype=float), "plan": ["a", "b", "c"] * 20})
    cur = pd.DataFrame({"age": [30, None, "forty", 500] * 10, "plan": ["a", "zzz", None, "b"] * 10})
    q = quality_report(ref, cur, QualityLimits(missing=0.1, out_of_range=0.1, unseen=0.1))
    age, plan = (next(c for c in q.columns if c.column == n) for n in ("age", "plan"))
    assert age.missing == 0.25 and age.type_errors == 0.25 and age.out_of_range == 0.25
    assert plan.unseen == 0.25 and plan.missing == 0.25
    assert set(age.breaches) == {"missing", "type_errors", "out_of_range"}
    assert q.breached and q.worst() == 0.25
    gone = quality_report(ref, cur[["age"]])
    assert gone.missing_columns == ["plan"] and gone.worst() == 1.0
    with pytest.raises(InvalidInput):
        QualityLimits(missing=2)


def test_performance_metrics_match_scikit_learn():
    y = rng.integers(0, 2, 500)
    score = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    pred = (score >= 0.5).astype(int)
    got = performance.metrics("classification", y, pred, score)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    multi_y, multi_p = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    assert performance.metrics("classification", multi_y, multi_p)["f1"] == pytest.approx(
        skm.f1_score(multi_y, multi_p, average="macro"))
    t, p = rng.normal(size=200), rng.normal(size=200)
    reg = performance.metrics("regression", t, p)
    assert reg["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(t, p)))
    assert reg["mae"] == pytest.approx(skm.mean_absolute_error(t, p))
    with pytest.raises(InvalidInput):
        performance.metrics("classification", [1, 0], [1])
    with pytest.raises(InvalidInput):
        performance.metrics("ranking", [1], [1])


def test_docstring_examples_run():
    for module in (report, performance):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("sizes", [(1000, 1000), (700, 1300), (5, 3)])
def test_wasserstein_1d_equals_scipy_with_ties_and_unequal_sizes(sizes):
    a = np.round(rng.normal(0, 1, sizes[0]), 1)
    b = np.round(rng.normal(0.3, 1.5, sizes[1]), 1)
    assert drift.wasserstein_1d(a, b) == pytest.approx(wasserstein_distance(a, b))
