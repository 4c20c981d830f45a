"""Exact tree-path-dependent TreeSHAP over a forest decomposed into root-to-leaf paths.

Each leaf's path is one small cooperative game. With the path's distinct features
``F`` (a feature split on twice along a path counts once: its intervals intersect and its
cover fractions multiply), the game is ``f(S) = v * prod_{j in S} o_j * prod_{j not in
S} z_j`` where ``v`` is the leaf value, ``z_j`` the fraction of training cover that
follows the path at ``j``'s splits (the "zero fraction") and ``o_j`` is 1 when the row
itself follows the path there (the "one fraction"). The sum over leaves of these games
is the tree-path-dependent value function of Lundberg et al. (2020), so the sum of the
paths' Shapley values is exactly ``shap.TreeExplainer(model,
feature_perturbation="tree_path_dependent")``.

The Shapley value of ``i`` in one path game is ``v (o_i - z_i) sum_k w_d(k) e_k`` with
``e_k`` the coefficients of ``prod_{j != i} (z_j + o_j t)`` and ``w_d(k) = k!(d-k-1)!/d!``.
Because ``o`` is binary, a path of ``d`` features has only ``2**d`` possible games: when
``paths * 2**d * d`` is small (shallow trees, the usual boosted model and a depth-limited
forest), every answer is computed once at build time and explaining a row is a gather
and a scatter-add. Deeper paths are computed per row with the polynomial arithmetic,
vectorised over rows and paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import Any

import numpy as np
from scipy import sparse

#: Precomputed table entries (float64) one forest may hold in all: 16M = 128 MB. Path
#: groups are tabulated shortest first while they fit; the rest are computed per row. A
#: 100-tree forest of depth 8 needs ~10M.
TABLE_LIMIT = 16_000_000
#: Rows x paths x features per chunk: small enough for the temporaries to stay in cache.
_CHUNK = 1 << 18


@dataclass
class Node:
    """One tree as flat arrays; ``left[i] == -1`` marks a leaf. ``value`` holds the
    explained output at each node (already scaled), ``cover`` the training weight."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray | None = None


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


def _paths(tree: Node) -> list[tuple[dict[int, list[float]], float]]:
    """Every leaf with its per-feature [lo, hi, zero fraction, nan follows] conditions."""
    out: list[tuple[dict[int, list[float]], float]] = []
    stack: list[tuple[int, dict[int, list[float]]]] = [(0, {})]
    while stack:
        node, cond = stack.pop()
        left = int(tree.left[node])
        if left < 0:
            out.append((cond, float(tree.value[node])))
            continue
        right = int(tree.right[node])
        f = int(tree.feature[node])
        t = float(tree.threshold[node])
        cover = float(tree.cover[node])
        miss_left = bool(tree.missing_left[node]) if tree.missing_left is not None else True
        for child, is_left in ((left, True), (right, False)):
            lo, hi, z, nan = cond.get(f, (-np.inf, np.inf, 1.0, 1.0))
            frac = float(tree.cover[child]) / cover if cover > 0 else 0.0
            follows_nan = miss_left if is_left else not miss_left
            new = dict(cond)
            new[f] = [lo if is_left else max(lo, t), min(hi, t) if is_left else hi,
                      z * frac, float(bool(nan) and follows_nan)]
            stack.append((child, new))
    return out


def _weights(d: int) -> np.ndarray:
    return np.array([factorial(k) * factorial(d - k - 1) / factorial(d) for k in range(d)])


def path_shapley(one: np.ndarray, zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Shapley values of path games: ``one`` rows x paths x d (0/1 floats), ``zero``
    paths x d, ``value`` paths; returns rows x paths x d.

    >>> import numpy as np
    >>> phi = path_shapley(np.array([[[1.0, 0.0]]]), np.array([[0.5, 0.25]]), np.array([8.0]))
    >>> phi.round(6).tolist()   # f({})=1, f({0})=2, f({1})=0, f({0,1})=0
    [[[0.5, -1.5]]]
    """
    n, p, d = one.shape
    w = _weights(d)
    z = np.broadcast_to(zero, (n, p, d))
    # Coefficients of prod_j (z_j + o_j t), lowest degree first: (d+1) x rows x paths.
    q = np.zeros((d + 1, n, p))
    q[0] = 1.0
    for j in range(d):
        zj, oj = z[:, :, j], one[:, :, j]
        q[1:j + 2] = q[1:j + 2] * zj + q[:j + 1] * oj
        q[0] = q[0] * zj
    out = np.empty((n, p, d))
    for i in range(d):
        zi, oi = z[:, :, i], one[:, :, i]
        # Divide out (z_i + o_i t): synthetic division when o_i = 1 (stable, z <= 1),
        # plain division when o_i = 0.
        r = np.empty((d, n, p))
        r[d - 1] = q[d]
        for k in range(d - 1, 0, -1):
            r[k - 1] = q[k] - zi * r[k]
        hot = oi > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cold = q[:d] / zi
        r = np.where(hot, r, np.where(zi > 0, cold, 0.0))
        out[:, :, i] = np.tensordot(w, r, axes=1) * (oi - zi)
    return out * value[None, :, None]


class PathForest:
    """A forest ready to explain: ``shap(x)`` -> rows x features, ``expected`` the base.

    ``trees`` are summed (each tree's values already carry its weight, e.g. 1/n for a
    random forest or the learning rate for boosting); ``offset`` is added to the base.
    """

    def __init__(self, trees: list[Node], n_features: int, offset: float = 0.0,
                 table_limit: int = TABLE_LIMIT) -> None:
        self.n_features = n_features
        self.float32 = False
        by_d: dict[int, list[tuple[dict[int, list[float]], float]]] = {}
        expected = 0.0
        for tree in trees:
            for cond, value in _paths(tree):
                by_d.setdefault(len(cond), []).append((cond, value))
        self.groups: list[_Group] = []
        self._constant = 0.0  # leaves reached with no split (a one-leaf tree)
        # Few groups mean few numpy calls per row, which is what a single row costs:
        # when one table for all paths padded to the longest fits, pad. A padding slot
        # is a feature the row always follows with zero fraction 1: a null player of the
        # path game, which changes no other feature's Shapley value.
        self.padded = False
        d_max = max(by_d, default=0)
        total = sum(len(p) for d, p in by_d.items() if d > 0)
        if len(by_d) > 1 and d_max > 0 and total * (2 ** d_max) * d_max <= table_limit:
            dummy = [-np.inf, np.inf, 1.0, 1.0]
            merged = []
            for d, paths in by_d.items():
                for cond, value in paths:
                    if d == 0:
                        merged.append((cond, value))
                        continue
                    keys = sorted(cond.items()) + [(n_features, dummy)] * (d_max - d)
                    merged.append((keys, value))
            by_d = {0: [m for m in merged if isinstance(m[0], dict)],
                    d_max: [m for m in merged if not isinstance(m[0], dict)]}
            self.padded = True
        tabled = 0
        for d, paths in sorted(by_d.items()):
            values = np.array([v for _, v in paths])
            if d == 0:
                self._constant += float(values.sum())
                continue
            items = [sorted(c.items()) if isinstance(c, dict) else c for c, _ in paths]
            feats = np.array([[f for f, _ in it] for it in items], dtype=np.int64)
            spec = np.array([[c for _, c in it] for it in items])  # paths x d x 4
            group = _Group(d, feats, spec[:, :, 0], spec[:, :, 1], spec[:, :, 3] > 0,
                           spec[:, :, 2], values)
            size = len(paths) * (2 ** d) * d
            if tabled + size <= table_limit:
                tabled += size
                bits = (np.arange(2 ** d)[:, None] >> np.arange(d)[None, :]) & 1
                one = np.broadcast_to(bits[:, None, :].astype(np.float64),
                                      (2 ** d, len(paths), d))
                group.table = np.ascontiguousarray(
                    path_shapley(one, group.zero, values).transpose(1, 0, 2)
                ).reshape(-1, d)
                group.first_row = np.arange(len(paths), dtype=np.int64) * (2 ** d)
                width = n_features + 1  # a padding slot's column, dropped at the end
                group.to_feature = sparse.csr_matrix(
                    (np.ones(feats.size), (np.arange(feats.size), feats.ravel())),
                    shape=(feats.size, width))
            self.groups.append(group)
        for g in self.groups:
            expected += float(np.sum(g.value * np.prod(g.zero, axis=1)))
        self.expected = expected + self._constant + offset

    def use_float32(self) -> None:
        """Compare rows as float32, as scikit-learn's trees do (they cast X): half the
        memory traffic. Each bound is rounded down to float32, which keeps every
        comparison exact: for a float32 x, ``x <= t`` iff ``x <= down(t)``, and
        ``x > t`` iff ``x > down(t)``."""
        def down(v: np.ndarray) -> np.ndarray:
            v32 = v.astype(np.float32)
            above = v32.astype(np.float64) > v
            return np.where(above, np.nextafter(v32, np.float32(-np.inf)), v32)

        for g in self.groups:
            g.lo, g.hi = down(g.lo), down(g.hi)
        self.float32 = True

    def _follows(self, g: _Group, x: np.ndarray, nan: bool) -> np.ndarray:
        xv = x[:, g.feature]  # rows x paths x d
        if not nan:
            return (xv > g.lo) & (xv <= g.hi)
        with np.errstate(invalid="ignore"):
            inside = (xv > g.lo) & (xv <= g.hi)
        return np.where(np.isnan(xv), g.nan_ok, inside)

    def shap(self, x: np.ndarray) -> np.ndarray:
        """SHAP values for float64 rows ``x`` (rows x features)."""
        n = x.shape[0]
        width = self.n_features + 1
        dtype = np.float32 if self.float32 else np.float64
        x = np.hstack([x.astype(dtype), np.zeros((n, 1), dtype)])  # padding slots read it
        nan = bool(np.isnan(x).any())
        out = np.zeros((n, width))
        for g in self.groups:
            paths = len(g.value)
            step = max(1, _CHUNK // (paths * g.d * (1 if g.table is not None else 2 * g.d)))
            for start in range(0, n, step):
                xs = x[start:start + step]
                rows = xs.shape[0]
                inside = self._follows(g, xs, nan)
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
        return out[:, :self.n_features]
