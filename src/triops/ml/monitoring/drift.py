"""Drift tests: one protocol, one registry, five tests.

Every test compares a reference sample with a current sample of one column and returns a
score; ``drifted`` turns the score into a verdict against a threshold. Distance tests
(PSI, Jensen–Shannon, Wasserstein) flag drift when the score reaches the threshold;
hypothesis tests (Kolmogorov–Smirnov, chi-square) return a p-value and flag drift when
it falls below it. Users add their own test by registering an object with the same
four attributes and one method (``register(MyTest())``), from their own package or
through the ``triops.drift_tests`` entry-point group.

The definitions follow the ones most drift tools share, so that verdicts compare:
Wasserstein is normalised by the reference standard deviation, Jensen–Shannon is the
distance (square root of the divergence, natural log) over the union of categories or
over shared Sturges-rule histogram bins, PSI uses reference-quantile bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from triops.core.registry import Registry

ColumnKind = Literal["numeric", "categorical"]

#: A bin that one side never fills gets this share instead of zero, so logarithms stay
#: finite (the same floor drift tools commonly use).
_FLOOR = 1e-4


@dataclass(frozen=True)
class ColumnSample:
    """One column of one frame, ready for the tests.

    Numeric columns are float64 without missing values; categorical columns are integer
    codes into a category list shared by reference and current (built by the report), so
    tests never touch Python objects row by row.
    """

    values: np.ndarray
    kind: ColumnKind
    n_categories: int = 0


@runtime_checkable
class DriftTest(Protocol):
    name: str
    kinds: tuple[ColumnKind, ...]
    default_threshold: float
    #: True when a high score means drift (distances); False for p-values.
    higher_is_drift: bool

    def score(self, reference: ColumnSample, current: ColumnSample) -> float: ...


def drifted(test: DriftTest, score: float, threshold: float) -> bool:
    if not np.isfinite(score):
        return False
    return score >= threshold if test.higher_is_drift else score < threshold


def _shares(codes: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n).astype(np.float64)
    return counts / max(codes.size, 1)


def _histograms(ref: np.ndarray, cur: np.ndarray, bins: int | str) -> tuple[np.ndarray, np.ndarray]:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=bins)
    r = np.histogram(ref, edges)[0] / max(ref.size, 1)
    c = np.histogram(cur, edges)[0] / max(cur.size, 1)
    return r, c


def _floored(p: np.ndarray) -> np.ndarray:
    return np.where(p == 0, _FLOOR, p)


class PSI:
    """Population stability index over ten reference-quantile bins (or categories)."""

    name = "psi"
    kinds: tuple[ColumnKind, ...] = ("numeric", "categorical")
    default_threshold = 0.1
    higher_is_drift = True
    bins = 10

    def score(self, reference: ColumnSample, current: ColumnSample) -> float:
        if reference.kind == "categorical":
            r = _shares(reference.values, reference.n_categories)
            c = _shares(current.values, reference.n_categories)
        else:
            edges = np.unique(np.quantile(reference.values, np.linspace(0, 1, self.bins + 1)))
            if edges.size < 2:
                edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
            inner = edges[1:-1]
            r = np.bincount(np.searchsorted(inner, reference.values, side="right"),
                            minlength=edges.size - 1) / reference.values.size
            c = np.bincount(np.searchsorted(inner, current.values, side="right"),
                            minlength=edges.size - 1) / current.values.size
        r, c = _floored(r), _floored(c)
        return float(np.sum((c - r) * np.log(c / r)))


class KolmogorovSmirnov:
    """Two-sample KS test; the score is the p-value."""

    name = "ks"
    kinds: tuple[ColumnKind, ...] = ("numeric",)
    default_threshold = 0.05
    higher_is_drift = False

    def score(self, reference: ColumnSample, current: ColumnSample) -> float:
        from scipy import stats  # imported on use: scipy.stats costs seconds to load

        return float(stats.ks_2samp(reference.values, current.values).pvalue)


class ChiSquare:
    """Chi-square goodness of fit of current category counts to reference shares."""

    name = "chisquare"
    kinds: tuple[ColumnKind, ...] = ("categorical",)
    default_threshold = 0.05
    higher_is_drift = False

    def score(self, reference: ColumnSample, current: ColumnSample) -> float:
        n = reference.n_categories
        observed = np.bincount(current.values, minlength=n).astype(np.float64)
        expected = _floored(_shares(reference.values, n)) * observed.sum()
        expected *= observed.sum() / expected.sum()
        from scipy import stats

        keep = (observed > 0) | (expected > _FLOOR * observed.sum())
        if keep.sum() < 2:
            return 1.0
        return float(stats.chisquare(observed[keep], expected[keep]).pvalue)


class JensenShannon:
    """Jensen–Shannon distance between category shares or Sturges-rule histograms.

    Empty bins stay empty (the divergence is finite without a floor); numeric columns
    with 20 distinct values or fewer are compared value by value.
    """

    name = "jensenshannon"
    kinds: tuple[ColumnKind, ...] = ("numeric", "categorical")
    default_threshold = 0.1
    higher_is_drift = True
    bins = "sturges"

    def score(self, reference: ColumnSample, current: ColumnSample) -> float:
        if reference.kind == "categorical":
            r = _shares(reference.values, reference.n_categories)
            c = _shares(current.values, reference.n_categories)
        elif np.unique(reference.values[:100_000]).size <= 20:
            values, codes = np.unique(np.concatenate([reference.values, current.values]),
                                      return_inverse=True)
            r = _shares(codes[: reference.values.size], values.size)
            c = _shares(codes[reference.values.size:], values.size)
        else:
            r, c = _histograms(reference.values, current.values, self.bins)
        r, c = r / r.sum(), c / c.sum()
        m = (r + c) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_r = np.where(r > 0, r * np.log(r / m), 0.0).sum()
            kl_c = np.where(c > 0, c * np.log(c / m), 0.0).sum()
        return float(np.sqrt(max(0.5 * (kl_r + kl_c), 0.0)))


class Wasserstein:
    """Earth mover's distance, in units of the reference standard deviation."""

    name = "wasserstein"
    kinds: tuple[ColumnKind, ...] = ("numeric",)
    default_threshold = 0.1
    higher_is_drift = True

    def score(self, reference: ColumnSample, current: ColumnSample) -> float:
        distance = wasserstein_1d(reference.values, current.values)
        return float(distance / max(float(np.std(reference.values)), 0.001))


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Exact first Wasserstein distance of two samples: the area between their CDFs.

    Same value as ``scipy.stats.wasserstein_distance``, computed with two plain sorts and
    one stable merge of the sorted runs (linear), where scipy sorts the concatenation and
    binary-searches every value in both samples.
    """
    n, m = u.size, v.size
    both = np.concatenate([np.sort(u), np.sort(v)])
    order = np.argsort(both, kind="stable")  # two sorted runs: a merge, not a sort
    values = both[order]
    from_u = order < n
    u_cdf = np.cumsum(from_u)[:-1] / n
    v_cdf = np.cumsum(~from_u)[:-1] / m
    return float(np.sum(np.abs(u_cdf - v_cdf) * np.diff(values)))


def _checked(test: DriftTest) -> str:
    if not isinstance(test, DriftTest):
        raise TypeError(f"{test!r} does not implement the DriftTest protocol")
    return test.name


#: Every drift test by name: the one place tests are declared.
REGISTRY: Registry[DriftTest] = Registry("drift test", group="triops.drift_tests",
                                         name_of=_checked)
register = REGISTRY.register

for _test in (PSI(), KolmogorovSmirnov(), ChiSquare(), JensenShannon(), Wasserstein()):
    register(_test)
