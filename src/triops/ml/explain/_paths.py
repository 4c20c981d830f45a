"""Trees as root-to-leaf paths, and the Shapley values of one path's game.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

#: A leaf: its value and its ancestors, root first, each with whether the path goes left.
Leaf = tuple[float, list[tuple[int, bool]]]


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

    def goes_left_on_nan(self, node: int) -> bool:
        return bool(self.missing_left[node]) if self.missing_left is not None else True

    def fraction(self, node: int, left: bool) -> float:
        """Share of ``node``'s training cover that went to its left (or right) child."""
        cover = float(self.cover[node])
        child = int(self.left[node] if left else self.right[node])
        return float(self.cover[child]) / cover if cover > 0 else 0.0


def leaves(tree: Node, node: int = 0, above: list[tuple[int, bool]] | None = None
           ) -> list[Leaf]:
    """Every leaf under ``node`` (whose ancestors are ``above``), with its path."""
    out: list[Leaf] = []
    stack = [(node, above or [])]
    while stack:
        at, path = stack.pop()
        left = int(tree.left[at])
        if left < 0:
            out.append((float(tree.value[at]), path))
            continue
        stack.append((int(tree.right[at]), [*path, (at, False)]))
        stack.append((left, [*path, (at, True)]))
    return out


def conditions(tree: Node, path: list[tuple[int, bool]]) -> dict[int, list[float]]:
    """A path's per-feature [lo, hi, zero fraction, nan follows]: the row follows the
    path at a feature when ``lo < x <= hi`` (or x is missing and ``nan follows``)."""
    cond: dict[int, list[float]] = {}
    for node, is_left in path:
        f = int(tree.feature[node])
        t = float(tree.threshold[node])
        lo, hi, z, nan = cond.get(f, (-np.inf, np.inf, 1.0, 1.0))
        follows_nan = tree.goes_left_on_nan(node) == is_left
        cond[f] = [lo if is_left else max(lo, t), min(hi, t) if is_left else hi,
                   z * tree.fraction(node, is_left), float(bool(nan) and follows_nan)]
    return cond


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


def pattern_table(zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Every answer of paths with ``d`` distinct features: paths x 2**d x d, pattern
    ``p``'s bit ``j`` saying whether the row follows the path at feature ``j``."""
    p, d = zero.shape
    bits = (np.arange(2 ** d)[:, None] >> np.arange(d)[None, :]) & 1
    one = np.broadcast_to(bits[:, None, :].astype(np.float64), (2 ** d, p, d))
    return np.ascontiguousarray(path_shapley(one, zero, value).transpose(1, 0, 2))
