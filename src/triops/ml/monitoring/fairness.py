"""Fairness by group: selection rate, accuracy, TPR and FPR per group of a sensitive
feature, and the gaps between groups, from counts that add up window by window.

Each group keeps six counts (rows, selected, true/false positives/negatives); every
metric is a ratio of them, so windows merge by adding counts and a result over many
windows is exactly the result over all their rows. Definitions are Fairlearn's:
``demographic_parity_difference`` is the largest minus the smallest selection rate;
``equalized_odds_difference`` the larger of the TPR and FPR gaps. A rate whose
denominator is zero in a group (a group with no true positives has no TPR) is 0, as
Fairlearn (scikit-learn's normalised confusion matrix) has it; such a group can open a
gap of up to 1 in a small window, which is what a check's ``min_group`` is for.

>>> acc = FairnessCounts()
>>> acc.update(["a", "a", "b", "b"], y_true=[1, 0, 1, 0], y_pred=[1, 1, 1, 0])
>>> report = acc.report()
>>> report["groups"]["a"]["selection_rate"], report["groups"]["b"]["fpr"]
(1.0, 0.0)
>>> report["demographic_parity_difference"], report["equalized_odds_difference"]
(0.5, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The gaps a fairness check can hold against its threshold.
GAPS = ("demographic_parity_difference", "equalized_odds_difference")


@dataclass
class GroupCounts:
    n: int = 0
    selected: int = 0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add(self, other: GroupCounts) -> None:
        for name in ("n", "selected", "tp", "fp", "tn", "fn"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def metrics(self) -> dict[str, float | int]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else 0.0

        return {"count": self.n, "selection_rate": ratio(self.selected, self.n),
                "accuracy": ratio(self.tp + self.tn, self.n),
                "tpr": ratio(self.tp, self.tp + self.fn), "fpr": ratio(self.fp, self.fp + self.tn)}


def _spread(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if len(known) > 1 else None


@dataclass
class FairnessCounts:
    """Counts per group of one sensitive feature; ``update`` with a window's rows."""

    groups: dict[str, GroupCounts] = field(default_factory=dict)

    def update(self, groups: Sequence[Any], y_true: Sequence[bool] | np.ndarray,
               y_pred: Sequence[bool] | np.ndarray) -> None:
        """Add rows: their group, whether each is truly positive, and predicted so."""
        g = np.asarray([str(x) for x in groups], dtype=object)
        t = np.asarray(y_true, dtype=bool)
        p = np.asarray(y_pred, dtype=bool)
        for name in np.unique(g) if len(g) else []:
            m = g == name
            tm, pm = t[m], p[m]
            c = GroupCounts(n=int(m.sum()), selected=int(pm.sum()),
                            tp=int(np.sum(tm & pm)), fp=int(np.sum(~tm & pm)),
                            tn=int(np.sum(~tm & ~pm)), fn=int(np.sum(tm & ~pm)))
            self.groups.setdefault(str(name), GroupCounts()).add(c)

    def merge(self, other: FairnessCounts) -> None:
        for name, c in other.groups.items():
            self.groups.setdefault(name, GroupCounts()).add(c)

    def report(self) -> dict[str, Any]:
        per = {name: c.metrics() for name, c in sorted(self.groups.items())}
        tpr_gap = _spread(m["tpr"] for m in per.values())
        fpr_gap = _spread(m["fpr"] for m in per.values())
        odds = [v for v in (tpr_gap, fpr_gap) if v is not None]
        return {"groups": per,
                "demographic_parity_difference": _spread(
                    m["selection_rate"] for m in per.values()),
                "equalized_odds_difference": max(odds) if odds else None,
                "tpr_difference": tpr_gap, "fpr_difference": fpr_gap}


def is_positive(values: Sequence[Any], positive: Any) -> np.ndarray:
    """Whether each value is the positive class; 1, 1.0 and "1" are one class."""
    def norm(v: Any) -> str:
        if isinstance(v, bool):
            return str(int(v))
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    want = norm(positive)
    return np.array([norm(v) == want for v in values], dtype=bool)
