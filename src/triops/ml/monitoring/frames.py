"""Turning user frames into column samples the tests can use, without row loops.

A frame is a ``pandas.DataFrame`` or any mapping of column name to a sequence. Numeric
columns become float64 arrays with missing values dropped; categorical columns become
integer codes into one category list shared by both frames, built from pandas'
hash-based factorisation (or from the categories of a ``category`` column directly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ml.monitoring.drift import ColumnKind, ColumnSample

Frame = pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray]

#: A numeric column with this many distinct values or fewer is compared as categories.
CATEGORICAL_MAX_UNIQUE = 5


def as_dataframe(frame: Frame, what: str) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if not isinstance(frame, Mapping):
        raise InvalidInput(f"the {what} frame must be a table or a mapping of columns")
    try:
        return pd.DataFrame({str(k): list(v) if not isinstance(v, np.ndarray) else v
                             for k, v in frame.items()})
    except ValueError as exc:
        raise InvalidInput(f"the {what} frame's columns have different lengths: {exc}") from None


def column_kind(series: pd.Series) -> ColumnKind:
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        # Few distinct values (flags, ratings) behave like categories. A head sample
        # settles most columns; only a column that looks like a flag there is counted whole.
        if series.iloc[:10_000].nunique(dropna=True) > CATEGORICAL_MAX_UNIQUE:
            return "numeric"
        return "numeric" if series.nunique(dropna=True) > CATEGORICAL_MAX_UNIQUE else "categorical"
    return "categorical"


def numeric_pair(reference: pd.Series, current: pd.Series) -> tuple[ColumnSample, ColumnSample]:
    r = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    c = pd.to_numeric(current, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    return ColumnSample(r, "numeric"), ColumnSample(c, "numeric")


def categorical_pair(reference: pd.Series, current: pd.Series) -> tuple[ColumnSample, ColumnSample, list[Any]]:
    """Integer codes into the union of both sides' categories (missing values dropped)."""
    if isinstance(reference.dtype, pd.CategoricalDtype) and isinstance(
            current.dtype, pd.CategoricalDtype):
        categories = reference.cat.categories.union(current.cat.categories, sort=False)
        ref_map = categories.get_indexer(reference.cat.categories)
        cur_map = categories.get_indexer(current.cat.categories)
        r_codes = reference.cat.codes.to_numpy()
        c_codes = current.cat.codes.to_numpy()
        r = ref_map[r_codes[r_codes >= 0]]
        c = cur_map[c_codes[c_codes >= 0]]
        labels = list(categories)
    else:
        codes, uniques = pd.factorize(pd.concat([reference, current], ignore_index=True),
                                      use_na_sentinel=True)
        r, c = codes[: len(reference)], codes[len(reference):]
        r, c = r[r >= 0], c[c >= 0]
        labels = list(uniques)
    n = len(labels)
    return (ColumnSample(r.astype(np.int64), "categorical", n),
            ColumnSample(c.astype(np.int64), "categorical", n), labels)
