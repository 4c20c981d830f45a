"""Data-quality checks of a current frame against a reference frame.

Per column: the share of missing values, of values of the wrong type (text where the
reference holds numbers), of numbers outside the reference range, and of categories the
reference never saw. A column breaches when any share is above its limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ml.monitoring.frames import Frame, as_dataframe, column_kind


@dataclass(frozen=True)
class QualityLimits:
    """The largest acceptable share of each problem, per column (0.0 .. 1.0)."""

    missing: float = 0.05
    type_errors: float = 0.0
    out_of_range: float = 0.05
    unseen: float = 0.05

    def __post_init__(self) -> None:
        for name in ("missing", "type_errors", "out_of_range", "unseen"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise InvalidInput(f"quality limit {name} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    kind: str
    missing: float
    type_errors: float
    out_of_range: float
    unseen: float
    breaches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QualityReport:
    columns: list[ColumnQuality]
    missing_columns: list[str]
    n_current: int

    @property
    def breached(self) -> bool:
        return bool(self.missing_columns) or any(c.breaches for c in self.columns)

    def worst(self) -> float:
        """The largest problem share over all columns (1.0 for a column gone missing)."""
        if self.missing_columns:
            return 1.0
        return max((max(c.missing, c.type_errors, c.out_of_range, c.unseen)
                    for c in self.columns), default=0.0)


def _is_missing(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy()


def quality_report(reference: Frame, current: Frame, limits: QualityLimits | None = None
                   ) -> QualityReport:
    limits = limits or QualityLimits()
    ref, cur = as_dataframe(reference, "reference"), as_dataframe(current, "current")
    if len(ref) == 0:
        raise InvalidInput("the reference frame needs at least one row")
    n = len(cur)
    gone = sorted(set(ref.columns) - set(cur.columns))
    out = []
    for name in sorted(set(ref.columns) & set(cur.columns)):
        kind = column_kind(ref[name])
        col = cur[name]
        missing_mask = _is_missing(col)
        missing = float(missing_mask.mean()) if n else 0.0
        type_errors = out_of_range = unseen = 0.0
        if n and kind == "numeric":
            as_number = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
            bad_type = np.isnan(as_number) & ~missing_mask
            type_errors = float(bad_type.mean())
            low, high = pd.to_numeric(ref[name], errors="coerce").agg(["min", "max"])
            ok = ~np.isnan(as_number)
            out_of_range = float(((as_number < low) | (as_number > high))[ok].sum() / n)
        elif n:
            # Categories compare as text so that 1 and "1" are the same category.
            seen = pd.Index(ref[name].dropna().astype(str).unique())
            present = col[~missing_mask].astype(str)
            unseen = float((~present.isin(seen)).sum() / n)
        breaches = [label for label, value, limit in (
            ("missing", missing, limits.missing), ("type_errors", type_errors, limits.type_errors),
            ("out_of_range", out_of_range, limits.out_of_range), ("unseen", unseen, limits.unseen),
        ) if value > limit]
        out.append(ColumnQuality(name, kind, missing, type_errors, out_of_range, unseen, breaches))
    return QualityReport(columns=out, missing_columns=gone, n_current=n)
