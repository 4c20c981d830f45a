"""The drift report: every shared column of two frames, each with the test its type calls for.

Test choice follows the rule most drift tools use, so verdicts compare across tools:
with more than 1,000 reference rows, numeric columns use the normalised Wasserstein
distance and categorical ones the Jensen–Shannon distance (both at 0.1); on smaller
samples, Kolmogorov–Smirnov and chi-square p-values (at 0.05). The dataset counts as
drifted when at least ``drift_share`` of its columns drift.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = {"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)}
>>> cur = {"x": rng.normal(1, 1, 5000), "c": rng.choice(["a", "b"], 5000)}
>>> report = drift_report(ref, cur)
>>> [(c.column, c.test, c.drifted) for c in report.columns]
[('c', 'jensenshannon', False), ('x', 'wasserstein', True)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from triops.core.errors import InvalidInput
from triops.ml.monitoring import drift
from triops.ml.monitoring.frames import (
    Frame,
    as_dataframe,
    categorical_pair,
    column_kind,
    numeric_pair,
)

#: Above this many reference rows the distance tests replace the hypothesis tests,
#: which flag negligible differences as significant on large samples.
LARGE_SAMPLE = 1000
#: Bars of a column's distribution: histogram bins of a numeric column, most frequent
#: categories of a categorical one (the rest summed as "other").
MAX_BARS = 20


@dataclass(frozen=True)
class Distribution:
    """Reference and current shares over the same bars, for drawing a column side by
    side: numeric columns over shared histogram bins (Sturges' rule on both samples, at
    most ``MAX_BARS``), categorical ones over their most frequent categories."""

    labels: list[str]
    reference: list[float]
    current: list[float]

    def as_dict(self) -> dict[str, list]:
        return {"labels": self.labels, "reference": self.reference, "current": self.current}


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    test: str
    score: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    distribution: Distribution | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DriftReport:
    columns: list[ColumnDrift]
    n_reference: int
    n_current: int
    drift_share: float
    share_drifted: float = field(init=False)
    dataset_drifted: bool = field(init=False)

    def __post_init__(self) -> None:
        share = sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0
        object.__setattr__(self, "share_drifted", share)
        object.__setattr__(self, "dataset_drifted", bool(self.columns) and share >= self.drift_share)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)


def default_test(kind: str, n_reference: int) -> str:
    if n_reference > LARGE_SAMPLE:
        return "wasserstein" if kind == "numeric" else "jensenshannon"
    return "ks" if kind == "numeric" else "chisquare"


def drift_report(
    reference: Frame,
    current: Frame,
    *,
    columns: Sequence[str] | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    method: str | None = None,
    threshold: float | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Compare every column both frames share (or ``columns``).

    ``tests``/``thresholds`` override the choice for named columns; ``method`` and
    ``threshold`` override it for all of them.
    """
    ref, cur = as_dataframe(reference, "reference"), as_dataframe(current, "current")
    if len(ref) == 0 or len(cur) == 0:
        raise InvalidInput("both the reference and the current frame need at least one row")
    if not 0 < drift_share <= 1:
        raise InvalidInput("drift_share must be in (0, 1]")
    if columns is None:
        names = sorted(set(ref.columns) & set(cur.columns))
    else:
        missing = [c for c in columns if c not in ref.columns or c not in cur.columns]
        if missing:
            raise InvalidInput(f"columns {missing} are not in both frames")
        names = list(columns)
    if not names:
        raise InvalidInput("the reference and current frames share no column")
    tests, thresholds = dict(tests or {}), dict(thresholds or {})
    results = []
    for name in names:
        kind = column_kind(ref[name])
        test = drift.REGISTRY.get(tests.get(name) or method or default_test(kind, len(ref)))
        if kind not in test.kinds:
            raise InvalidInput(f"drift test {test.name!r} does not apply to {kind} column {name!r}")
        if kind == "numeric":
            r, c = numeric_pair(ref[name], cur[name])
            shares = _histogram(r.values, c.values)
        else:
            r, c, labels = categorical_pair(ref[name], cur[name])
            shares = _categories(r.values, c.values, labels)
        limit = thresholds.get(name, threshold if threshold is not None else test.default_threshold)
        if r.values.size == 0 or c.values.size == 0:
            score = float("nan")  # a column with no usable value cannot be compared
        else:
            score = test.score(r, c)
        results.append(ColumnDrift(
            column=name, kind=kind, test=test.name, score=score, threshold=float(limit),
            drifted=drift.drifted(test, score, limit), n_reference=int(r.values.size),
            n_current=int(c.values.size), distribution=shares,
        ))
    return DriftReport(columns=results, n_reference=len(ref), n_current=len(cur),
                       drift_share=drift_share)


def _shares(counts: np.ndarray) -> list[float]:
    total = float(counts.sum())
    return [round(float(x) / total, 6) if total else 0.0 for x in counts]


def _histogram(reference: np.ndarray, current: np.ndarray) -> Distribution | None:
    """Shares of both samples over the same bins.

    >>> d = _histogram(np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    >>> d.labels, d.reference, d.current
    (['0–0.25', '0.25–0.5', '0.5–0.75', '0.75–1'], [0.5, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0])
    """
    if reference.size == 0 and current.size == 0:
        return None
    both = np.concatenate([reference, current])
    bins = min(int(np.ceil(np.log2(both.size))) + 1, MAX_BARS)
    edges = np.histogram_bin_edges(both, bins=max(bins, 1))
    return Distribution([f"{lo:.4g}–{hi:.4g}" for lo, hi in pairwise(edges)],
                        _shares(np.histogram(reference, edges)[0]),
                        _shares(np.histogram(current, edges)[0]))


def _categories(reference: np.ndarray, current: np.ndarray, labels: list) -> Distribution:
    """Shares of the most frequent categories of both samples; the rest as "other"."""
    n = len(labels)
    r, c = np.bincount(reference, minlength=n), np.bincount(current, minlength=n)
    order = np.argsort(-(r / max(r.sum(), 1) + c / max(c.sum(), 1)), kind="stable")
    cut = MAX_BARS - 1 if n > MAX_BARS else n
    top, rest = order[:cut], order[cut:]
    names = [str(labels[i]) for i in top]
    r_top, c_top = list(r[top]), list(c[top])
    if len(rest):
        names.append(f"other ({len(rest)})")
        r_top.append(r[rest].sum())
        c_top.append(c[rest].sum())
    return Distribution(names, _shares(np.array(r_top)), _shares(np.array(c_top)))
