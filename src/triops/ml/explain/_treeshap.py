"""Exact tree-path-dependent TreeSHAP for a forest (the path games: see ``_paths``).

A forest is explained in up to three tiers, all exact, sharing one budget of
precomputed table entries (``TABLE_LIMIT``):

1. Subtrees whose split decisions fit a few bits are tabulated whole (``_subtree``):
   a row costs one comparison per split node and one table lookup per subtree.
2. Leaves below them are tabulated one path at a time, per pattern of followed
   features (shortest paths first, while the budget lasts): a lookup per leaf.
3. The rest are computed per row with the polynomial form of ``path_shapley``,
   vectorised over rows and paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from triops.ml.explain._paths import Node, conditions, path_shapley, pattern_table
from triops.ml.explain._subtree import SubtreeTables

#: Precomputed table entries (float64) one forest may hold in all: 16M = 128 MB. A
#: 100-tree forest of depth 6 needs ~5M, depth 8 ~10M.
TABLE_LIMIT = 16_000_000
#: Rows x paths x features per chunk: small enough for the temporaries to stay in cache.
_CHUNK = 1 << 18


@dataclass
class _Group:
    """Paths with the same number ``d`` of distinct features."""

    d: int
    feature: np.ndarray  # paths x d, feature index
    lo: np.ndarray  # paths x d: the row follows the path when lo < x <= hi
    hi: np.ndarray
    nan_ok: np.ndarray  # paths x d: a missing value follows the path
    zero: np.ndarray  # paths x d
    value: np.ndarray  # paths
    table: np.ndarray | None = None  # (paths * 2**d) x d: Shapley values per pattern
    first_row: np.ndarray | None = None  # per path, its first row in ``table``
    to_feature: Any = None  # sparse (paths * d) x features: sums slots into features


class _PathTables:
    """Leaves explained one path at a time (tiers 2 and 3)."""

    def __init__(self, paths: list[tuple[dict[int, list[float]], float]], n_features: int,
                 table_limit: int) -> None:
        by_d: dict[int, list[tuple[Any, float]]] = {}
        for cond, value in paths:
            by_d.setdefault(len(cond), []).append((cond, value))
        self.groups: list[_Group] = []
        self.constant = 0.0  # leaves reached with no split (a one-leaf tree)
        self.used = 0  # table entries
        # Few groups mean few numpy calls per row, which is what a single row costs:
        # when one table for all paths padded to the longest fits, pad. A padding slot
        # is a feature the row always follows with zero fraction 1: a null player of the
        # path game, which changes no other feature's Shapley value.
        d_max = max(by_d, default=0)
        total = sum(len(p) for d, p in by_d.items() if d > 0)
        if len(by_d) > 1 and d_max > 0 and total * (2 ** d_max) * d_max <= table_limit:
            dummy = [-np.inf, np.inf, 1.0, 1.0]
            merged = [(sorted(c.items()) + [(n_features, dummy)] * (d_max - d), v)
                      for d, group in by_d.items() if d > 0 for c, v in group]
            by_d = {0: by_d.get(0, []), d_max: merged}
        for d, group in sorted(by_d.items()):
            values = np.array([v for _, v in group])
            if d == 0:
                self.constant += float(values.sum())
                continue
            items = [sorted(c.items()) if isinstance(c, dict) else c for c, _ in group]
            feats = np.array([[f for f, _ in it] for it in items], dtype=np.int64)
            spec = np.array([[c for _, c in it] for it in items])  # paths x d x 4
            g = _Group(d, feats, spec[:, :, 0], spec[:, :, 1], spec[:, :, 3] > 0,
                       spec[:, :, 2], values)
            size = len(group) * (2 ** d) * d
            if self.used + size <= table_limit:
                self.used += size
                g.table = pattern_table(g.zero, values).reshape(-1, d)
                g.first_row = np.arange(len(group), dtype=np.int64) * (2 ** d)
                g.to_feature = sparse.csr_matrix(
                    (np.ones(feats.size), (np.arange(feats.size), feats.ravel())),
                    shape=(feats.size, n_features + 1))  # a padding slot's column, dropped
            self.groups.append(g)
        self.expected = self.constant + sum(
            float(np.sum(g.value * np.prod(g.zero, axis=1))) for g in self.groups)

    def use_float32(self, down: Any) -> None:
        for g in self.groups:
            g.lo, g.hi = down(g.lo), down(g.hi)

    def add_to(self, out: np.ndarray, x: np.ndarray, nan: bool) -> None:
        n, width = out.shape
        for g in self.groups:
            paths = len(g.value)
            step = max(1, _CHUNK // (paths * g.d * (1 if g.table is not None else 2 * g.d)))
            for start in range(0, n, step):
                xs = x[start:start + step]
                rows = xs.shape[0]
                xv = xs[:, g.feature]  # rows x paths x d
                with np.errstate(invalid="ignore"):
                    inside = (xv > g.lo) & (xv <= g.hi)
                if nan:
                    inside = np.where(np.isnan(xv), g.nan_ok, inside)
                if g.table is not None:
                    bits = np.packbits(inside, axis=-1, bitorder="little")
                    pattern = g.first_row + bits[..., 0]
                    for b in range(1, bits.shape[-1]):
                        pattern += bits[..., b].astype(np.int64) << (8 * b)
                    phi = g.table[pattern]  # rows x paths x d
                    out[start:start + step] += np.asarray(
                        phi.reshape(rows, -1) @ g.to_feature)
                else:
                    phi = path_shapley(inside.astype(np.float64), g.zero, g.value)
                    index = (np.arange(rows) * width)[:, None, None] + g.feature[None]
                    out[start:start + step] += np.bincount(
                        index.ravel(), weights=phi.ravel(),
                        minlength=rows * width).reshape(rows, width)


def _down(v: np.ndarray) -> np.ndarray:
    """Each bound rounded down to float32, which keeps every comparison of a float32
    ``x`` exact: ``x <= t`` iff ``x <= down(t)``, and ``x > t`` iff ``x > down(t)``."""
    v32 = v.astype(np.float32)
    above = v32.astype(np.float64) > v
    return np.where(above, np.nextafter(v32, np.float32(-np.inf)), v32)


class PathForest:
    """A forest ready to explain: ``shap(x)`` -> rows x features, ``expected`` the base.

    ``trees`` are summed (each tree's values already carry its weight, e.g. 1/n for a
    random forest or the learning rate for boosting); ``offset`` is added to the base.
    """

    def __init__(self, trees: list[Node], n_features: int, offset: float = 0.0,
                 table_limit: int = TABLE_LIMIT) -> None:
        self.n_features = n_features
        self.float32 = False
        self.subtrees = SubtreeTables(trees, n_features, table_limit)
        rest = [(conditions(trees[t], path), value) for t, (value, path) in self.subtrees.rest]
        self.paths = _PathTables(rest, n_features, table_limit - self.subtrees.used)
        self.expected = self.subtrees.expected + self.paths.expected + offset

    def use_float32(self) -> None:
        """Compare rows as float32, as scikit-learn's trees do (they cast X): half the
        memory traffic, and the same decisions (see ``_down``)."""
        self.subtrees.use_float32(_down)
        self.paths.use_float32(_down)
        self.float32 = True

    def shap(self, x: np.ndarray) -> np.ndarray:
        """SHAP values for float64 rows ``x`` (rows x features)."""
        n = x.shape[0]
        dtype = np.float32 if self.float32 else np.float64
        x = np.ascontiguousarray(x, dtype=dtype)
        out = np.zeros((n, self.n_features + 1))
        self.subtrees.add_to(out, x)
        if self.paths.groups:
            padded = np.hstack([x, np.zeros((n, 1), dtype)])  # padding slots read it
            self.paths.add_to(out, padded, bool(np.isnan(x).any()))
        return out[:, :self.n_features]
