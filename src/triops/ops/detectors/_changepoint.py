"""Bayesian online change-point detection (Adams & MacKay, 2007), truncated."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from triops.ops.detectors._base import register
from triops.ops.detectors._pipeline import PipelineDetector


@cache
def _log_gamma_ratios(n: int) -> np.ndarray:
    """``log Γ((ν+1)/2) - log Γ(ν/2)`` of the Student-t predictive for the first ``n`` run
    lengths (ν = 2 + run length): a table read per point, where scipy's ``gammaln`` both
    recomputed it and made the detector registry (which ``triops ops detect --help``
    lists) load scipy.special."""
    return np.array([math.lgamma(1.5 + 0.5 * r) - math.lgamma(1.0 + 0.5 * r)
                     for r in range(n)])


@register
class BayesianChangePoint(PipelineDetector):
    """Surprise under a run-length mixture of Normal-Gamma models.

    Values are standardised with the mean and spread of the first ``scale_points``
    points (frozen after that, so earlier scores never change); the run length is
    truncated at ``max_run`` hypotheses so a point costs O(max_run).
    """

    name = "bayes_changepoint"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4821

    def __init__(
        self,
        *,
        hazard: float = 1 / 250,
        max_run: int = 120,
        scale_points: int = 50,
        cap: float = 30.0,
        **kw,
    ):
        super().__init__(**kw)
        self.hazard = hazard
        self.max_run = max_run
        self.scale_points = scale_points
        self.cap = cap
        self.first: list[float] = []
        self.center = 0.0
        self.spread = 1.0
        self.prob = np.ones(1)
        self.mu = np.zeros(1)
        self.kappa = np.ones(1)
        self.beta = np.ones(1)

    def _raw(self, t: float, x: float) -> float | None:
        if len(self.first) < self.scale_points:
            self.first.append(x)
            if len(self.first) == self.scale_points:
                arr = np.asarray(self.first)
                self.center = float(np.median(arr))
                mad = float(np.median(np.abs(arr - self.center)))
                self.spread = max(1.4826 * mad, float(arr.std()), self.range.floor(1e-2), 1e-9)
            return None
        z = (x - self.center) / self.spread
        k = len(self.prob)
        alpha = 1.0 + 0.5 * np.arange(k)
        nu = 2.0 * alpha
        var = self.beta * (self.kappa + 1.0) / (alpha * self.kappa)
        logpdf = (
            _log_gamma_ratios(self.max_run)[:k]
            - 0.5 * np.log(nu * math.pi * var)
            - (nu + 1) / 2 * np.log1p((z - self.mu) ** 2 / (nu * var))
        )
        pred = np.exp(logpdf)
        evidence = float(self.prob @ pred)
        growth = self.prob * pred * (1.0 - self.hazard)
        change = evidence * self.hazard
        prob = np.concatenate([[change], growth])[: self.max_run]
        self.prob = prob / max(prob.sum(), 1e-300)
        mu_new = (self.kappa * self.mu + z) / (self.kappa + 1.0)
        beta_new = self.beta + self.kappa * (z - self.mu) ** 2 / (2.0 * (self.kappa + 1.0))
        self.mu = np.concatenate([[0.0], mu_new])[: self.max_run]
        self.beta = np.concatenate([[1.0], beta_new])[: self.max_run]
        self.kappa = np.concatenate([[1.0], self.kappa + 1.0])[: self.max_run]
        surprise = -math.log(max(evidence, 1e-300))
        return min(max(surprise, 0.0), self.cap)
