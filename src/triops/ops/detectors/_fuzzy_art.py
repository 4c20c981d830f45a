"""Distributed dual-vigilance fuzzy ART, the clustering memory of ARTime.

After the compact DVFA in ARTime (Mark Hampton, ARTimeNAB.jl, AGPL-3.0), itself
derived from AdaptiveResonance.jl (Sasha Petrenko, MIT License). This module is a
derivative of ARTimeNAB.jl and is distributed under the GNU Affero General Public
License version 3 (https://www.gnu.org/licenses/agpl-3.0.html); the MIT notice of
AdaptiveResonance.jl: "Copyright (c) 2020 Sasha Petrenko. Permission is hereby
granted, free of charge, to any person obtaining a copy of this software ... The
above copyright notice and this permission notice shall be included in all copies
or substantial portions of the Software."

A sample is complement coded (``[x, 1 - x]``). Each category is a weight vector;
its match with a sample is ``fs^3 * es^2`` where ``fs = |min(x, w)|_1 / |w|_1`` is
the fuzzy feature similarity and ``es`` the same ratio on the "energy" pair (the
newest level and its complement). Categories matching at least ``rho_ub`` learn
(fast commit ``w <- min(x, w)``); otherwise the best one matching at least
``rho_lb`` spawns a new category in its cluster; otherwise a new cluster is made
and ``train`` returns ``-1``.
"""

from __future__ import annotations

import numpy as np

from triops.ops.detectors._base import part


@part
class DualVigilanceFuzzyArt:
    """Unsupervised DVFA over ``dim`` features in ``[0, 1]``."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rho_lb = 0.0
        self.rho_ub = 0.0
        self.weights = np.zeros((0, 2 * dim))
        self.labels: list[int] = []
        self.clusters = 0
        self.similarity = 0.0  # match of the best category for the last sample
        self.energy = 0.0  # its energy similarity

    def _activation(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Every entry is in [0, 1] (complement coding, weights are minima of samples),
        # so the L1 norms of the original are plain sums.
        w = self.weights
        em = np.minimum(x, w)
        d = self.dim
        with np.errstate(divide="ignore", invalid="ignore"):
            norm_w = w.sum(axis=1)
            norm_w[norm_w == 0] = 0.001
            features = em.sum(axis=1) / norm_w
            energy = (em[:, d - 1] + em[:, -1]) / (w[:, d - 1] + w[:, -1])
            match = features**3 * energy**2
        return match, energy, em

    def train(self, features: np.ndarray, learning: bool = True) -> int:
        """Present one sample; the label of its cluster, or -1 for a new cluster.

        The original visits categories from the best match down; only those matching
        at least ``rho_ub`` (all learn) and the best one matter, so only they are
        sorted. A NaN match sorts first there and ends the visit with a mismatch.
        """
        x = np.concatenate([features, 1.0 - features])
        if len(self.weights) == 0:
            # The first sample only initialises the memory with an all-ones category.
            self.weights = np.ones((1, 2 * self.dim))
            self.labels = [1]
            self.clusters = 1
            self.similarity = self.energy = 0.0
            return 1
        match, energy, em = self._activation(x)
        best = best_energy = 0.0
        mismatch = True
        label = -1
        nan = np.isnan(match)
        if not learning:
            if not nan.all():
                j = int(np.nanargmax(match))
                if match[j] > 0.0:
                    best, best_energy = float(match[j]), float(energy[j])
        elif not nan.any():
            high = np.flatnonzero(match >= self.rho_ub)
            if len(high):
                high = high[np.argsort(-match[high], kind="stable")]
                if match[high[0]] > 0.0:
                    best, best_energy = float(match[high[0]]), float(energy[high[0]])
                for j in high.tolist():
                    self.weights[j] = em[j]
                    if match[j] >= best:
                        label = self.labels[j]
                mismatch = False
            else:
                j = int(np.argmax(match))
                m = float(match[j])
                if m > 0.0:
                    best, best_energy = m, float(energy[j])
                if m >= self.rho_lb:
                    label = self.labels[j]
                    self.labels.append(label)
                    self.weights = np.vstack([self.weights, x])
                    mismatch = False
        self.similarity, self.energy = best, best_energy
        if mismatch and learning:
            label = -1
            self.labels.append(self.clusters + 1)
            self.weights = np.vstack([self.weights, x])
            self.clusters += 1
        return label

    def train_batch(self, samples: np.ndarray) -> list[float]:
        """Train on the rows of ``samples`` in order; the best match of each."""
        out = []
        for row in samples:
            self.train(row)
            out.append(self.similarity)
        return out
