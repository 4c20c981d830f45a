"""scikit-learn decision trees: checked when loaded, and compiled into flat arrays.

Checked: a skops file can carry a ``sklearn.tree._tree.Tree`` whose node indices point
outside its arrays; scikit-learn follows them without bounds checks, so predicting
with such a tree reads or crashes on foreign memory. Every tree of a loaded model is
checked here (children and features in range, no cycles by construction: a child
always has a larger index than its parent, as scikit-learn builds them) before the
model serves.

Compiled: scikit-learn predicts a forest tree by tree, with input validation per tree,
which costs ~0.2 ms per tree however few rows there are; a 100-tree forest takes
~20 ms for one row. The compiled form walks the rows down every tree in one loop
compiled by numba, tree by tree over all rows a level at a time (~15 µs for one row of
a 100-tree forest of depth 10, ~0.25 ms for 64). It reproduces
scikit-learn's arithmetic: inputs cast to float32 as the trees compare them, per-tree
probabilities normalised, summed tree by tree in the same order, then averaged.
Inputs with missing values fall back to scikit-learn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput

_MAX_WALK = 10_000


def _trees_of(model: Any) -> list[Any]:
    """Every ``Tree`` inside a model (pipelines, forests, boosting), found by walking
    estimator attributes."""
    from sklearn.tree._tree import Tree

    found: list[Any] = []
    seen: set[int] = set()
    stack = [model]
    while stack and len(seen) < _MAX_WALK:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            found.append(obj)
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, np.ndarray) and obj.dtype == object:
            stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return found


def check_trees(model: Any) -> int:
    """Refuse a model holding a tree whose nodes point out of range; return tree count."""
    trees = _trees_of(model)
    for t in trees:
        n = int(t.node_count)
        left, right, feature = t.children_left, t.children_right, t.feature
        if not (len(left) == len(right) == len(feature) == n and t.value.shape[0] == n):
            raise InvalidInput("the model holds a decision tree whose arrays disagree in length")
        leaf = left == -1
        index = np.arange(n)
        inner_ok = (left > index) & (left < n) & (right > index) & (right < n) & \
            (feature >= 0) & (feature < int(t.n_features))
        if not np.all(leaf | inner_ok) or not np.all(right[leaf] == -1):
            raise InvalidInput("the model holds a decision tree with node indices out of range; "
                               "it cannot be served")
    return len(trees)


def _breadth_first(t: Any) -> tuple[np.ndarray, int] | None:
    """The tree's node indices level by level, each node's two children side by side
    (left then right), so a node needs one child index and a step of 0 or 1, and its
    depth; None if a node is reached twice (``check_trees`` lets two parents share a
    child, which scikit-learn walks but which is no tree to lay out)."""
    levels, level, listed = [], np.zeros(1, dtype=np.int64), 1
    while level.size:
        levels.append(level)
        inner = level[t.children_left[level] != -1]
        level = np.column_stack((t.children_left[inner], t.children_right[inner])).ravel()
        listed += level.size
        if listed > t.node_count:  # a shared child: stop before a level can double
            return None
    order = np.concatenate(levels)
    return (order, len(levels) - 1) if np.unique(order).size == order.size else None


def _flatten(trees: list[Any], classifier: bool) -> tuple[np.ndarray, ...] | None:
    """The trees in one set of arrays, breadth first (``_breadth_first``): per node its
    feature, threshold and left child (the right one follows it); a leaf is its own
    child with threshold +inf, so no input moves on from it and every row can take the
    same number of steps (the tree's depth) without a test for leaves."""
    roots, depths, feature, threshold, child, values = [], [], [], [], [], []
    offset = 0
    for t in trees:
        laid = _breadth_first(t)
        if laid is None:
            return None
        order, depth = laid
        place = np.zeros(int(t.node_count), dtype=np.int64)
        place[order] = np.arange(order.size) + offset
        left = t.children_left[order]
        leaf = left == -1
        child.append(np.where(leaf, place[order], place[np.where(leaf, 0, left)]))
        feature.append(np.where(leaf, 0, t.feature[order]))
        threshold.append(np.where(leaf, np.inf, t.threshold[order]))
        v = t.value[order, 0, :].astype(np.float64)
        if classifier:
            sums = v.sum(axis=1, keepdims=True)
            sums[sums == 0.0] = 1.0
            v = v / sums
        values.append(v)
        roots.append(offset)
        depths.append(depth)
        offset += order.size
    return (np.asarray(roots, dtype=np.int32), np.asarray(depths, dtype=np.int32),
            np.concatenate(feature).astype(np.int32), np.concatenate(threshold),
            np.concatenate(child).astype(np.int32), np.ascontiguousarray(np.concatenate(values)))


@dataclass
class Compiled:
    """A model compiled into numpy arrays (a forest here, a linear model in ``linear``);
    ``predict_matrix`` takes finite float64 rows in ``features`` order, ``predict`` a
    DataFrame (what ``ModelHandle.predict`` takes) and leaves what it cannot take
    (missing or infinite values among them) to scikit-learn."""

    features: list[str] | None
    n_features: int
    predict_matrix: Callable[[np.ndarray], list[Any]]
    fallback: Callable[[pd.DataFrame], Any]

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        try:
            ordered = frame[self.features] if self.features is not None else frame
            x = ordered.to_numpy(dtype=np.float64)
        except (KeyError, ValueError, TypeError):
            return np.asarray(self.fallback(frame)).tolist()
        if x.shape[1] != self.n_features or not np.isfinite(x).all():
            return np.asarray(self.fallback(frame)).tolist()
        return self.predict_matrix(x)


def _walk(x: np.ndarray, roots: np.ndarray, depths: np.ndarray, feature: np.ndarray,
          threshold: np.ndarray, child: np.ndarray, values: np.ndarray, total: np.ndarray,
          nodes: np.ndarray) -> None:
    """Tree by tree, all rows a level at a time (``_flatten``'s layout): the rows' walks
    are independent, so the CPU overlaps their loads where one row's walk would wait on
    each node's; a tree's nodes stay in cache over all rows. The leaves' values are
    summed tree by tree (the order scikit-learn sums in) into ``total`` (compiled by
    ``_kernel``); ``nodes`` is one slot per row."""
    n = x.shape[0]
    total[:] = 0.0
    for k in range(roots.shape[0]):
        nodes[:n] = roots[k]
        for _ in range(depths[k]):
            for r in range(n):
                node = nodes[r]
                nodes[r] = child[node] + (x[r, feature[node]] > threshold[node])
        for r in range(n):
            for j in range(values.shape[1]):
                total[r, j] += values[nodes[r], j]


@functools.cache
def _kernel() -> Any:
    # Imported here, as in explain._subtree: numba takes ~0.5 s to import. numpy
    # stepping over all rows and trees a level at a time cost ~25 µs a step (64 rows
    # of a depth-10, 100-tree forest: ~1.5 ms); walking each row down each tree in
    # turn, ~0.8 ms (each step waits on the last one's load); this, ~0.25 ms.
    import numba

    return numba.njit(nogil=True, cache=True)(_walk)


def compile_trees(model: Any) -> Compiled | None:
    """The compiled form of a single-output forest or tree, or None if not one."""
    from sklearn import ensemble, tree

    forests = (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor,
               ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor)
    singles = (tree.DecisionTreeClassifier, tree.DecisionTreeRegressor,
               tree.ExtraTreeClassifier, tree.ExtraTreeRegressor)
    if type(model) in forests:
        estimators = list(model.estimators_)
    elif type(model) in singles:
        estimators = [model]
    else:
        return None
    if getattr(model, "n_outputs_", 1) != 1 or not estimators:
        return None
    classifier = hasattr(model, "classes_")
    trees = [e.tree_ for e in estimators]
    arrays = _flatten(trees, classifier)
    if arrays is None:
        return None
    n_classes = arrays[-1].shape[1]
    names = getattr(model, "feature_names_in_", None)
    is_forest = type(model) in forests
    n_trees = len(trees)

    walk = _kernel()

    def predict_matrix(x: np.ndarray) -> list[Any]:
        # The trees compare float32 inputs (scikit-learn casts X) against float64
        # thresholds: round to float32 first so every split goes the same way.
        x = x.astype(np.float32).astype(np.float64)
        total = np.empty((x.shape[0], n_classes))
        walk(x, *arrays, total, np.empty(x.shape[0], dtype=np.int32))
        if is_forest:
            total /= n_trees
        if classifier:
            return model.classes_.take(np.argmax(total, axis=1)).tolist()
        return total[:, 0].tolist()

    predict_matrix(np.zeros((1, int(model.n_features_in_))))  # compiled now, not on a request
    return Compiled(features=[str(n) for n in names] if names is not None else None,
                    n_features=int(model.n_features_in_), predict_matrix=predict_matrix,
                    fallback=model.predict)
