"""Reading the RCA inputs: a call graph and metric tables, in the PetShop dataset's formats.

* Graph: an adjacency matrix CSV, first column and header row the node names, a non-zero
  cell at (row, column) meaning *row calls column*.
* Metrics: a CSV with three header rows (node, metric, statistic) and the timestamp as
  the first column; empty cells are missing values.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pandas as pd

from triops.core.errors import InvalidInput


def _read(path: Path, **kwargs: object) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file")
    try:
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload]
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"{path} is not a readable CSV file: {exc}") from None


def read_graph(path: Path) -> nx.DiGraph:
    """The call graph (edges caller → callee) from an adjacency-matrix CSV."""
    frame = _read(path, index_col=0)
    if frame.empty or list(frame.index.astype(str)) != list(frame.columns.astype(str)):
        raise InvalidInput(
            f"{path} is not a square adjacency matrix: its first column and its header row "
            "must list the same node names in the same order"
        )
    try:
        matrix = frame.astype(float)
    except ValueError:
        raise InvalidInput(f"{path} has a cell that is not a number") from None
    matrix.index = matrix.columns = [str(c) for c in frame.columns]
    return nx.from_pandas_adjacency(matrix, create_using=nx.DiGraph)


def read_metrics(path: Path) -> pd.DataFrame:
    """A metric table: rows are times, columns a (node, metric, statistic) MultiIndex."""
    frame = _read(path, header=[0, 1, 2], index_col=0)
    if not isinstance(frame.columns, pd.MultiIndex) or frame.columns.nlevels != 3 or frame.empty:
        raise InvalidInput(
            f"{path} needs three header rows (node, metric, statistic) and at least one row"
        )
    try:
        return frame.apply(pd.to_numeric, errors="raise").astype(float)
    except (ValueError, TypeError):
        raise InvalidInput(f"{path} has a metric value that is not a number") from None
