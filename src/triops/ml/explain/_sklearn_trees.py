"""scikit-learn tree ensembles as path forests: which output is explained, and its base.

- Random forests, extra trees and single trees: the predicted value (regressors) or the
  probability of the target class (classifiers), as ``predict`` / ``predict_proba``.
- Gradient boosting (``GradientBoosting*`` and ``HistGradientBoosting*``): the raw
  score, i.e. ``decision_function`` for classifiers (log-odds for two classes), as
  ``shap.TreeExplainer`` does for them.

Covers are the trees' training weights (``weighted_n_node_samples``, ``count`` for the
histogram trees), the same ``shap`` reads, so the attributions are the
tree-path-dependent ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triops.ml.explain._paths import Node
from triops.ml.explain._treeshap import PathForest

_FORESTS = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
            "ExtraTreesRegressor")
_SINGLES = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
            "ExtraTreeRegressor")
_BOOSTED = ("GradientBoostingClassifier", "GradientBoostingRegressor")
_HIST = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def _sk_node(tree: Any, values: np.ndarray) -> Node:
    return Node(left=tree.children_left, right=tree.children_right, feature=tree.feature,
                threshold=tree.threshold, cover=tree.weighted_n_node_samples, value=values,
                missing_left=getattr(tree, "missing_go_to_left", None))


def class_index(model: Any, target: Any) -> int:
    """Index of the explained class: ``target`` if given, else the last (positive) one."""
    classes = list(getattr(model, "classes_", []))
    if target is None:
        return len(classes) - 1
    for i, c in enumerate(classes):
        if c == target or str(c) == str(target):
            return i
    raise ValueError(f"class {target!r} is not one of the model's classes {classes}")


def forest_of(model: Any, target: Any = None) -> tuple[PathForest, str] | None:
    """(path forest, name of the explained output) for a supported model, else None."""
    name = type(model).__name__
    if not type(model).__module__.startswith("sklearn."):
        return None
    if getattr(model, "n_outputs_", 1) != 1:
        return None
    n_features = int(model.n_features_in_)
    classifier = hasattr(model, "classes_")
    k = class_index(model, target) if classifier else 0
    if name in _FORESTS or name in _SINGLES:
        estimators = list(model.estimators_) if name in _FORESTS else [model]
        nodes = []
        for est in estimators:
            v = est.tree_.value[:, 0, :].astype(np.float64)
            if classifier:
                sums = v.sum(axis=1, keepdims=True)
                sums[sums == 0.0] = 1.0
                v = v / sums
            nodes.append(_sk_node(est.tree_, v[:, k] / len(estimators)))
        output = f"probability of class {model.classes_[k]}" if classifier else "prediction"
        return PathForest(nodes, n_features), output
    if name in _BOOSTED:
        stages = model.estimators_  # n_stages x (1 or n_classes)
        col = k if stages.shape[1] > 1 else 0
        lr = float(model.learning_rate)
        nodes = [_sk_node(est.tree_, est.tree_.value[:, 0, 0] * lr) for est in stages[:, col]]
        offset = _boosting_offset(model, nodes, col)
        output = "raw score (log-odds)" if classifier else "prediction"
        return PathForest(nodes, n_features, offset=offset), output
    if name in _HIST:
        predictors = model._predictors  # iterations x (1 or n_classes)
        col = k if len(predictors[0]) > 1 else 0
        nodes = []
        for it in predictors:
            arr = it[col].nodes
            if np.any(arr["is_categorical"]):
                return None  # categorical splits are bitsets, not thresholds
            leaf = arr["is_leaf"].astype(bool)
            nodes.append(Node(left=np.where(leaf, -1, arr["left"].astype(np.int64)),
                              right=np.where(leaf, -1, arr["right"].astype(np.int64)),
                              feature=arr["feature_idx"].astype(np.int64),
                              threshold=arr["num_threshold"].astype(np.float64),
                              cover=arr["count"].astype(np.float64),
                              value=arr["value"].astype(np.float64),
                              missing_left=arr["missing_go_to_left"].astype(bool)))
        baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
        offset = float(baseline[col] if baseline.size > 1 else baseline[0])
        output = "raw score (log-odds)" if classifier else "prediction"
        return PathForest(nodes, n_features, offset=offset), output
    return None


def _boosting_offset(model: Any, nodes: list[Node], col: int) -> float:
    """The constant the first stage starts from (the init estimator's raw score): the
    raw score of any one row less what the trees add to it."""
    x = np.zeros((1, int(model.n_features_in_)), dtype=np.float32)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        x = pd.DataFrame(x, columns=names)
    raw = model.decision_function(x) if hasattr(model, "classes_") else model.predict(x)
    raw = float(np.asarray(raw, dtype=np.float64).reshape(1, -1)[0, col])
    lr = float(model.learning_rate)
    added = sum(float(est.predict(np.zeros((1, int(model.n_features_in_)),
                                           dtype=np.float32))[0]) * lr
                for est in model.estimators_[:, col])
    return raw - added


def float32_rows(model: Any) -> bool:
    """scikit-learn's (non-histogram) trees compare inputs cast to float32."""
    return type(model).__name__ not in _HIST
