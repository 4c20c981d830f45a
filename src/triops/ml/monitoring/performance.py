"""Model performance on labelled predictions: accuracy, F1, ROC AUC, RMSE, MAE.

Written with numpy so the server needs no machine-learning library at run time; the
tests check every metric against scikit-learn's.

>>> round(metrics("classification", [0, 1, 1, 0], [0, 1, 0, 0])["accuracy"], 2)
0.75
>>> metrics("regression", [1.0, 2.0], [1.5, 2.5])["mae"]
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from triops.core.errors import InvalidInput

Task = Literal["classification", "regression"]

#: For each metric, whether a larger value is better (drives "worse than" comparisons).
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "rmse": False, "mae": False}


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Binary F1 of the positive class when there are two classes, else macro F1."""
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if classes.size <= 2:
        positive = classes.max() if classes.size else 1
        chosen = [positive]
    else:
        chosen = list(classes)
    scores = []
    for label in chosen:
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Binary ROC AUC as the Mann–Whitney statistic (ties count half)."""
    from scipy.stats import rankdata  # imported on use: scipy.stats is slow to load

    classes = np.unique(y_true)
    if classes.size != 2:
        return float("nan")
    positive = y_true == classes.max()
    ranks = rankdata(y_score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y_true - y_pred)))


def metrics(task: Task, y_true: Sequence[Any] | np.ndarray, y_pred: Sequence[Any] | np.ndarray,
            y_score: Sequence[float] | np.ndarray | None = None) -> dict[str, float]:
    """Every metric of the task; ``y_score`` (positive-class scores) adds ROC AUC."""
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.shape != pred.shape or truth.ndim != 1:
        raise InvalidInput(f"labels and predictions must be two equal-length lists, "
                           f"got {truth.shape} and {pred.shape}")
    if truth.size == 0:
        raise InvalidInput("no labelled predictions to score")
    if task == "regression":
        try:
            t, p = truth.astype(np.float64), pred.astype(np.float64)
        except ValueError:
            raise InvalidInput("regression labels and predictions must be numbers") from None
        return {"rmse": rmse(t, p), "mae": mae(t, p)}
    if task != "classification":
        raise InvalidInput(f"task must be classification or regression, got {task!r}")
    if truth.dtype.kind != pred.dtype.kind:
        truth, pred = truth.astype(str), pred.astype(str)
    out = {"accuracy": accuracy(truth, pred), "f1": f1(truth, pred)}
    if y_score is not None:
        score = np.asarray(y_score, dtype=np.float64)
        if score.shape != truth.shape:
            raise InvalidInput("scores must be as many as labels")
        out["roc_auc"] = roc_auc(truth, score)
    return out


def is_worse(metric: str, value: float, limit: float) -> bool:
    """Whether ``value`` is on the bad side of ``limit`` for this metric."""
    if metric not in HIGHER_IS_BETTER:
        raise InvalidInput(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    return value < limit if HIGHER_IS_BETTER[metric] else value > limit
