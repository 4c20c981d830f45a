"""Whole subtrees tabulated per pattern of the row's split decisions.

Take a node ``n`` with ``k`` ancestors and ``m`` split nodes in its own subtree. Which
way the row goes at those ``b = k + m`` splits decides, for every leaf below ``n``,
at which of the leaf path's features the row follows the path: so it decides each
leaf's Shapley values (``_paths``). Their sum over the subtree's leaves, per feature,
is tabulated at build time for all ``2**b`` patterns. Explaining a row is then one
comparison per split node of the forest, and per subtree one ``b``-bit index and one
table row: fewer and denser lookups than one per leaf (a 100-tree forest of depth 6:
~760 subtrees against ~5,300 leaves, 42 MB of tables).

That per-row loop is compiled (numba): in numpy, the row's decisions, each subtree's
bits and its table row are temporaries that go through memory several times, which
made one row ~3x slower than the loop (measured in ``bench/explain.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triops.ml.explain._paths import Leaf, Node, leaves, pattern_table

#: The most split decisions one subtree's table is indexed by: 2**10 rows a subtree.
MAX_BITS = 10


def _add_rows(x: np.ndarray, split_feature: np.ndarray, split_threshold: np.ndarray,
              split_nan_left: np.ndarray, bits: np.ndarray, offset: np.ndarray,
              table: np.ndarray, features: np.ndarray, out: np.ndarray) -> None:
    """For each row: which way it goes at every split, then per subtree its index and
    its table row added to the row's features (compiled by ``_kernel``)."""
    went = np.zeros(split_feature.shape[0] + 1, dtype=np.int64)  # the last: never left
    for r in range(x.shape[0]):
        for i in range(split_feature.shape[0]):
            v = x[r, split_feature[i]]
            went[i] = split_nan_left[i] if np.isnan(v) else v <= split_threshold[i]
        for s in range(bits.shape[0]):
            index = offset[s]
            for k in range(bits.shape[1]):
                index += went[bits[s, k]] << k
            for w in range(features.shape[1]):
                out[r, features[s, w]] += table[index, w]


@functools.cache
def _kernel() -> Any:
    # Imported here: numba takes ~0.5 s to import, which only a tree explainer needs.
    import numba

    return numba.njit(nogil=True, cache=True)(_add_rows)


@dataclass
class _Plan:
    """Which subtrees are tabulated (tree, root, its ancestors) and which leaves not."""

    subtrees: list[tuple[int, int, list[tuple[int, bool]]]] = field(default_factory=list)
    rest: list[tuple[int, Leaf]] = field(default_factory=list)
    rows: int = 0  # table rows: sum of 2**bits
    width: int = 0  # the most distinct features one subtree splits on


def _preorder(tree: Node, root: int = 0) -> list[int]:
    order, stack = [], [root]
    while stack:
        n = stack.pop()
        order.append(n)
        if tree.left[n] >= 0:
            stack += [int(tree.right[n]), int(tree.left[n])]
    return order


def _plan(trees: list[Node], max_bits: int) -> _Plan:
    """Tabulate each node's subtree whose split decisions (its ancestors' and its own)
    fit ``max_bits``, highest such nodes first; leaves deeper than that are the rest."""
    plan = _Plan()
    for t, tree in enumerate(trees):
        splits = np.zeros(len(tree.left), dtype=np.int64)  # split nodes in each subtree
        for n in reversed(_preorder(tree)):
            if tree.left[n] >= 0:
                splits[n] = 1 + splits[tree.left[n]] + splits[tree.right[n]]
        stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
        while stack:
            n, above = stack.pop()
            if len(above) + splits[n] <= max_bits:
                plan.subtrees.append((t, n, above))
                plan.rows += 2 ** (len(above) + int(splits[n]))
                nodes = [a for a, _ in above] + [s for s in _preorder(tree, n)
                                                 if tree.left[s] >= 0]
                plan.width = max(plan.width, len({int(tree.feature[s]) for s in nodes}))
            elif tree.left[n] < 0:
                plan.rest.append((t, (float(tree.value[n]), above)))
            else:
                stack.append((int(tree.right[n]), [*above, (n, False)]))
                stack.append((int(tree.left[n]), [*above, (n, True)]))
    return plan


class SubtreeTables:
    """The tabulated subtrees of a forest; ``rest`` lists the leaves left to other
    means (tree index, leaf), ``used`` the table entries taken from the budget."""

    def __init__(self, trees: list[Node], n_features: int, table_limit: int,
                 max_bits: int = MAX_BITS) -> None:
        self.n_features = n_features
        plan = _Plan(rest=[(t, leaf) for t, tree in enumerate(trees) for leaf in leaves(tree)])
        for bits in range(max_bits, 0, -1):  # fewer, larger subtrees while they fit
            tried = _plan(trees, bits)
            if tried.rows * tried.width <= table_limit:
                plan = tried
                break
        self.rest = plan.rest
        self.used = plan.rows * plan.width
        self.expected = 0.0
        node_index: dict[tuple[int, int], int] = {}
        split_feature: list[int] = []
        split_threshold: list[float] = []
        split_nan_left: list[bool] = []
        subtree_bits: list[list[int]] = []
        subtree_features: list[list[int]] = []
        # Each leaf's path game: (subtree, value, features, zero fractions, and per
        # feature the (bit, goes left) the row must match to follow the path there).
        games: list[tuple[int, float, list[int], list[float], list[list[tuple[int, bool]]]]] = []
        for s, (t, root, above) in enumerate(plan.subtrees):
            tree = trees[t]
            nodes = [a for a, _ in above] + [n for n in _preorder(tree, root)
                                             if tree.left[n] >= 0]
            for n in nodes:
                if (t, n) not in node_index:
                    node_index[(t, n)] = len(split_feature)
                    split_feature.append(int(tree.feature[n]))
                    split_threshold.append(float(tree.threshold[n]))
                    split_nan_left.append(tree.goes_left_on_nan(n))
            subtree_bits.append([node_index[(t, n)] for n in nodes])
            bit_of = {n: i for i, n in enumerate(nodes)}
            subtree_features.append(sorted({split_feature[b] for b in subtree_bits[-1]}))
            for value, path in leaves(tree, root, above):
                slots: dict[int, tuple[float, list[tuple[int, bool]]]] = {}
                for n, left in path:
                    z, need = slots.get(int(tree.feature[n]), (1.0, []))
                    slots[int(tree.feature[n])] = (z * tree.fraction(n, left),
                                                   [*need, (bit_of[n], left)])
                feats = sorted(slots)
                games.append((s, value, feats, [slots[f][0] for f in feats],
                              [slots[f][1] for f in feats]))
        self.table, self.offset = self._tabulate(games, subtree_bits, subtree_features,
                                                 plan.width)
        for _s, value, _f, zero, _n in games:
            self.expected += value * float(np.prod(zero))
        n_splits = len(split_feature)
        self.split_feature = np.array(split_feature, dtype=np.int64)
        self.split_threshold = np.array(split_threshold, dtype=np.float64)
        self.split_nan_left = np.array(split_nan_left, dtype=bool)
        most = max((len(b) for b in subtree_bits), default=0)
        # Unused bits read a split that never goes left (the last column): they add 0.
        self.bits = np.array([b + [n_splits] * (most - len(b)) for b in subtree_bits],
                             dtype=np.int64).reshape(len(subtree_bits), most)
        self.weight = (2.0 ** np.arange(most)).astype(np.float32)
        self.features = np.array([f + [n_features] * (plan.width - len(f))
                                  for f in subtree_features],
                                 dtype=np.int64).reshape(len(subtree_bits), plan.width)

    @staticmethod
    def _tabulate(games: list, subtree_bits: list[list[int]],
                  subtree_features: list[list[int]], width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Per subtree, the sum of its leaves' Shapley values for every bit pattern."""
        # Each leaf's answers per pattern of followed features, computed for all leaves
        # with the same number of features at once (in chunks that stay small).
        answers: list[np.ndarray | None] = [None] * len(games)
        by_d: dict[int, list[int]] = {}
        for i, game in enumerate(games):
            by_d.setdefault(len(game[2]), []).append(i)
        for d, members in by_d.items():
            if d == 0:
                continue
            step = max(1, (1 << 21) // ((2 ** d) * d))
            for start in range(0, len(members), step):
                chunk = members[start:start + step]
                got = pattern_table(np.array([games[i][3] for i in chunk]),
                                    np.array([games[i][1] for i in chunk]))
                for i, table in zip(chunk, got, strict=True):
                    answers[i] = table
        offset = np.zeros(len(subtree_bits), dtype=np.int64)
        rows = 0
        for s, bits in enumerate(subtree_bits):
            offset[s] = rows
            rows += 2 ** len(bits)
        table = np.zeros((rows, width))
        # Per subtree, for all its leaves at once: which way the row went at each
        # condition (patterns x conditions), whether it followed each leaf's path at
        # each of its features (AND over that feature's conditions), and from those
        # bits each leaf's pattern (a sum of powers of two over the leaf's features).
        by_subtree: dict[int, list[int]] = {}
        for i, game in enumerate(games):
            if answers[i] is not None:  # else a one-leaf tree: all base, no share
                by_subtree.setdefault(game[0], []).append(i)
        for s, members in by_subtree.items():
            b = len(subtree_bits[s])
            went = ((np.arange(2 ** b)[:, None] >> np.arange(b)[None, :]) & 1) > 0
            need = [games[i][4] for i in members]
            conds = [c for leaf in need for feature in leaf for c in feature]
            feature_start = np.cumsum([0] + [len(f) for leaf in need for f in leaf])[:-1]
            leaf_start = np.cumsum([0] + [len(leaf) for leaf in need])[:-1]
            power = np.concatenate([1 << np.arange(len(leaf)) for leaf in need])
            bit = np.array([c[0] for c in conds], dtype=np.int64)
            left = np.array([c[1] for c in conds], dtype=bool)
            follows = np.logical_and.reduceat(went[:, bit] == left, feature_start, axis=1)
            index = np.add.reduceat(follows * power, leaf_start, axis=1)  # 2**b x leaves
            rows = slice(offset[s], offset[s] + 2 ** b)
            for k, i in enumerate(members):
                columns = [subtree_features[s].index(f) for f in games[i][2]]
                table[rows, columns] += answers[i][index[:, k]]
        return table, offset

    def use_float32(self, down: Callable[[np.ndarray], np.ndarray]) -> None:
        self.split_threshold = down(self.split_threshold)

    def add_to(self, out: np.ndarray, x: np.ndarray) -> None:
        """Add the tabulated subtrees' Shapley values of rows ``x`` to ``out`` (whose
        last column, a padding slot's, is dropped by the caller)."""
        if self.features.shape[0] == 0:
            return
        _kernel()(x, self.split_feature, self.split_threshold, self.split_nan_left,
                  self.bits, self.offset, self.table, self.features, out)
